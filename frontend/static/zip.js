// A ZIP archive built in the page, for an event gallery's "download all" (gallery.js): on
// AWS Lambda an answer is at most 6 MB, so the server cannot send a whole event as one
// file; the page fetches the photos one at a time and writes the archive itself.
//
// Stored entries, no compression: JPEG and PNG do not shrink, and stored needs no library.
// Layout (PKWARE APPNOTE 6.3, 4.3.6): for each file a local header, its name and its bytes;
// then a central-directory header per file; then the end record. Classic ZIP, no ZIP64: at
// most 65,535 entries and 4 GiB, so gallery.js cuts a download into parts far below both
// (MAX_ENTRIES, and its own byte limit). Names are UTF-8 (general-purpose flag bit 11).

export const MAX_ENTRIES = 65535;
export const MAX_BYTES = 0xffffffff;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

// CRC-32 (IEEE 802.3, the one ZIP uses) of `bytes`.
export function crc32(bytes) {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// MS-DOS time and date, as ZIP keeps them: local time, two-second steps, from 1980.
function dosTime(date) {
  const year = Math.min(Math.max(date.getFullYear(), 1980), 2107);
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
    day: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

const UTF8 = 0x0800; // general-purpose bit 11: the names are UTF-8
const VERSION = 20; // 2.0: what a reader needs for these entries

export class ZipWriter {
  constructor() {
    this.chunks = []; // what goes into the file, in order
    this.entries = []; // for the central directory
    this.offset = 0; // bytes written so far
    this.centralSize = 0; // the central directory's, once written
  }

  get count() { return this.entries.length; }

  // The archive's size if it were finished after one more file of `bytes` named `name`.
  sizeWith(name, bytes) {
    const nameLength = new TextEncoder().encode(name).length;
    return this.offset + 30 + nameLength + bytes + this.centralSize + 46 + nameLength + 22;
  }

  add(name, bytes, date = new Date()) {
    const encoded = new TextEncoder().encode(name);
    if (this.count >= MAX_ENTRIES || this.sizeWith(name, bytes.length) > MAX_BYTES) {
      throw new RangeError("a ZIP without ZIP64 holds at most 65,535 files and 4 GiB");
    }
    const crc = crc32(bytes);
    const { time, day } = dosTime(date);
    const head = new DataView(new ArrayBuffer(30));
    head.setUint32(0, 0x04034b50, true); // local file header signature
    head.setUint16(4, VERSION, true);
    head.setUint16(6, UTF8, true);
    head.setUint16(8, 0, true); // method: stored
    head.setUint16(10, time, true);
    head.setUint16(12, day, true);
    head.setUint32(14, crc, true);
    head.setUint32(18, bytes.length, true); // compressed size
    head.setUint32(22, bytes.length, true); // uncompressed size
    head.setUint16(26, encoded.length, true);
    head.setUint16(28, 0, true); // no extra field
    this.chunks.push(new Uint8Array(head.buffer), encoded, bytes);
    this.entries.push({ name: encoded, crc, size: bytes.length, time, day, offset: this.offset });
    this.offset += 30 + encoded.length + bytes.length;
    this.centralSize += 46 + encoded.length;
  }

  // The finished archive.
  blob() {
    const central = [];
    let size = 0;
    for (const e of this.entries) {
      const head = new DataView(new ArrayBuffer(46));
      head.setUint32(0, 0x02014b50, true); // central directory header signature
      head.setUint16(4, VERSION, true); // made by (2.0, MS-DOS attributes)
      head.setUint16(6, VERSION, true); // needed to extract
      head.setUint16(8, UTF8, true);
      head.setUint16(10, 0, true); // stored
      head.setUint16(12, e.time, true);
      head.setUint16(14, e.day, true);
      head.setUint32(16, e.crc, true);
      head.setUint32(20, e.size, true);
      head.setUint32(24, e.size, true);
      head.setUint16(28, e.name.length, true);
      // extra, comment, disk number, internal and external attributes: all 0
      head.setUint32(42, e.offset, true);
      central.push(new Uint8Array(head.buffer), e.name);
      size += 46 + e.name.length;
    }
    const end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true); // end of central directory signature
    end.setUint16(8, this.count, true); // entries on this disk
    end.setUint16(10, this.count, true); // entries in all
    end.setUint32(12, size, true);
    end.setUint32(16, this.offset, true); // where the central directory starts
    return new Blob([...this.chunks, ...central, new Uint8Array(end.buffer)], { type: "application/zip" });
  }
}
