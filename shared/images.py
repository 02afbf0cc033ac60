"""Image intake: decide what an upload is by decoding it, bound its size, honour EXIF
orientation, and downscale once to what the provider needs.

Two sets of checks live here, sharing the opening and decoding:
- the booth's (`read_header`, `prepare_photo`, `check_complete`, ...): JPEG/PNG/WEBP photos,
  with the pixel limit from the settings and the booth's messages;
- the vision API's (`check_image`, `decode_base64_image`, the `VISION_*` limits): more formats
  (BMP, TIFF), fixed limits, and messages that name the image (`label`).

The fast path matters (a booth may post 24 MP JPEGs): a JPEG that is already small enough
and upright is validated by a draft-mode decode (libjpeg scales DCT blocks, so it reads the
whole stream but builds a 1/8-size image) and passed on byte-for-byte. Everything else is
decoded once at the smallest draft scale that still covers the target, rotated, resized
and encoded once.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from shared.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia

# Our own pixel limit is checked before any decode; Pillow's bomb guard would only warn.
Image.MAX_IMAGE_PIXELS = None

# The booth's photos (decoded by Pillow, never judged by name).
BOOTH_FORMATS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png",
                 "WEBP": "image/webp"}
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    mime: str
    width: int
    height: int


@dataclass(frozen=True)
class ImageHeader:
    format: str
    mime: str
    width: int
    height: int
    orientation: int


def extension_for(mime: str) -> str:
    return {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}.get(mime, "bin")


def sniff_mime(data: bytes) -> str | None:
    """Format from magic numbers; providers sometimes mislabel what they send back."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _open(data: bytes, *, not_an_image: str = "the upload is not a JPEG or PNG image") -> Image.Image:
    """Open lazily (the header only); UnsupportedMedia(`not_an_image`) if Pillow cannot."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EXIF quirks of camera files are not our concern
            return Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnsupportedMedia(not_an_image) from exc


def _load(img: Image.Image, *, damaged: str = "the image is damaged or truncated") -> None:
    """Decode the pixels; UnsupportedMedia(`damaged`) for a broken or cut-off file."""
    try:
        img.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise UnsupportedMedia(damaged) from exc


def _open_within(data: bytes, *, formats: dict[str, str], max_pixels: int, not_an_image: str,
                 wrong_format: Callable[[str], str],
                 too_large: Callable[[int, int], str]) -> Image.Image:
    """Open `data` and check its header only: a format in `formats`, at most `max_pixels`.
    Nothing is decoded yet, so a pixel bomb is refused before it costs memory. The messages
    are the caller's (the booth's and the vision API's differ)."""
    img = _open(data, not_an_image=not_an_image)
    fmt = img.format or ""
    if fmt not in formats:
        raise UnsupportedMedia(wrong_format(fmt))
    width, height = img.size
    if width * height > max_pixels:
        raise PayloadTooLarge(too_large(width, height))
    return img


def read_header(data: bytes, *, max_pixels: int) -> ImageHeader:
    """The booth's check. Parse only the header: format, size, orientation. Refuses bombs
    before decoding."""
    if not data:
        raise UnsupportedMedia("the upload is empty")
    img = _open_within(
        data, formats=BOOTH_FORMATS, max_pixels=max_pixels,
        not_an_image="the upload is not a JPEG or PNG image",
        wrong_format=lambda fmt: f"unsupported image format {fmt or 'unknown'}; send JPEG or PNG",
        too_large=lambda w, h: (f"image is {w}x{h} ({w * h / 1e6:.0f} MP); "
                                f"the limit is {max_pixels / 1e6:.0f} MP"),
    )
    try:
        orientation = int(img.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # a broken EXIF block must not sink an otherwise good photo
        orientation = 1
    fmt = img.format or ""
    return ImageHeader(fmt, BOOTH_FORMATS[fmt], img.width, img.height, orientation)


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _decode(data: bytes, header: ImageHeader, target: tuple[int, int] | None) -> Image.Image:
    img = _open(data)
    if header.mime == "image/jpeg" and target:
        # Rotation by 90° swaps the axes, so ask the draft for the larger of both sides.
        side = max(target)
        img.draft("RGB", (side, side) if header.orientation in (5, 6, 7, 8) else target)
    _load(img)
    return img


def encode(img: Image.Image, *, keep_alpha: bool, quality: int = 90) -> tuple[bytes, str]:
    out = io.BytesIO()
    if keep_alpha and img.mode in ("RGBA", "LA", "P"):
        img.save(out, format="PNG", compress_level=3)
        return out.getvalue(), "image/png"
    if img.mode != "RGB":
        img = img.convert("RGB")
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue(), "image/jpeg"


def fit_bytes(data: bytes, *, max_bytes: int) -> tuple[bytes, str]:
    """A JPEG of the (already validated) image in at most `max_bytes`: quality 90 first,
    then smaller sizes, each step sized from how far the last one missed. For answers that
    must fit a platform's payload limit (a 4K PNG is ~20 MB; as a JPEG ~3 MB)."""
    img = load_rgb(data)
    if img.mode != "RGB":
        img = img.convert("RGB")
    size = img.size
    for _ in range(8):
        candidate = img if size == img.size else img.resize(size, Image.Resampling.LANCZOS)
        encoded, mime = encode(candidate, keep_alpha=False, quality=90)
        if len(encoded) <= max_bytes:
            return encoded, mime
        shrink = max(0.5, min(0.9, (max_bytes / len(encoded)) ** 0.5))
        size = (max(1, int(size[0] * shrink)), max(1, int(size[1] * shrink)))
    raise PayloadTooLarge(f"the image does not fit in {max_bytes / 1024 / 1024:g} MB")


def _untouched(data: bytes, header: ImageHeader, max_side: int) -> PreparedImage | None:
    """The photo as it came, when it is upright and small enough: validate the whole file
    (a truncated one fails here), then pass the bytes on: no re-encode, no quality loss,
    alpha kept. None when it must be decoded."""
    upright = header.orientation in (0, 1)
    small_enough = max(header.width, header.height) <= max_side
    if upright and small_enough and header.mime in ("image/jpeg", "image/png"):
        _check_whole(data, header)
        return PreparedImage(data, header.mime, header.width, header.height)
    return None


def prepare_photo_cheaply(data: bytes, *, max_side: int, max_pixels: int) -> PreparedImage | None:
    """prepare_photo's answer when it costs less than handing the work to a thread (a JPEG
    that passes untouched: a header read and a walk over its markers, ~0.1 ms at 1600 px),
    so the event loop can do it itself. None: call prepare_photo on the CPU pool (a PNG's
    check reads every chunk's CRC, a large or turned photo is decoded)."""
    if sniff_mime(data) != "image/jpeg":
        return None
    return _untouched(data, read_header(data, max_pixels=max_pixels), max_side)


def is_cheap_to_check(data: bytes) -> bool:
    """check_complete on a JPEG is a marker walk and one search for its end: no decode."""
    return sniff_mime(data) == "image/jpeg"


def prepare_photo(data: bytes, *, max_side: int, max_pixels: int) -> PreparedImage:
    """Validate the guest photo and return it upright, no larger than `max_side`."""
    header = read_header(data, max_pixels=max_pixels)
    untouched = _untouched(data, header, max_side)
    if untouched is not None:
        return untouched

    target = _fit(header.width, header.height, max_side)
    img = _decode(data, header, target)
    # In place, and convert only when the mode differs: both would otherwise copy the
    # whole decoded photo (~5 ms each at 24 MP) to change nothing.
    ImageOps.exif_transpose(img, in_place=True)
    has_alpha = img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info)
    mode = "RGBA" if has_alpha else "RGB"
    if img.mode != mode:
        img = img.convert(mode)
    size = _fit(img.width, img.height, max_side)
    if size != img.size:
        # Bilinear: a JPEG's draft decode has already done the big step, the factor left
        # is under 2 (3000 → 2400 for a 24 MP shot), where Pillow's area-aware bilinear
        # takes two thirds of bicubic's time (63 vs 97 ms here) and differs from it by at
        # most 2 levels on 99 % of a noisy shot's pixels (bicubic sharpens edges a little).
        img = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    encoded, mime = encode(img, keep_alpha=has_alpha)
    return PreparedImage(encoded, mime, img.width, img.height)


def prepare_reference(data: bytes, *, max_pixels: int, max_side: int = 4096) -> PreparedImage:
    """A slot's reference image: validated, upright, at most `max_side`."""
    return prepare_photo(data, max_side=max_side, max_pixels=max_pixels)


def thumbnail(data: bytes, *, side: int = 256, max_pixels: int) -> bytes:
    header = read_header(data, max_pixels=max_pixels)
    img = _decode(data, header, (side, side))
    img = ImageOps.exif_transpose(img).convert("RGB")
    img.thumbnail((side, side), Image.Resampling.LANCZOS)
    return encode(img, keep_alpha=False, quality=80)[0]


def check_complete(data: bytes, *, max_pixels: int) -> None:
    """A provider's answer must be a whole JPEG or PNG before it reaches a booth: a truncated
    or garbage body that merely starts with the right magic bytes is refused. PNG: every
    chunk's CRC up to IEND (no pixel decode); JPEG: a 1/8-scale draft decode of the stream."""
    _check_whole(data, read_header(data, max_pixels=max_pixels))


def _check_whole(data: bytes, header: ImageHeader) -> None:
    """Is the file complete? Structure checks that cost a fraction of a decode:
    PNG: every chunk's CRC up to IEND; JPEG: an end-of-image marker after the main scan."""
    if header.mime == "image/png":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                Image.open(io.BytesIO(data)).verify()
        except Exception as exc:  # Pillow raises many types for broken chunks
            raise UnsupportedMedia("the image is damaged or truncated") from exc
    elif header.mime == "image/jpeg":
        scan = _jpeg_scan_start(data)
        if scan is None or data.rfind(b"\xff\xd9") < scan:
            raise UnsupportedMedia("the image is damaged or truncated")
    else:
        _decode(data, header, (max(1, header.width // 8), max(1, header.height // 8)))


def _jpeg_scan_start(data: bytes) -> int | None:
    """Offset of the first start-of-scan (SOS) marker of the main image. Walks the marker
    segments by their lengths, so the EXIF thumbnail inside APP1 (with its own SOS and EOI)
    is skipped. An end-of-image marker after this offset means the stream is complete:
    0xFFD9 cannot occur inside entropy-coded data (0xFF bytes there are stuffed as FF00)."""
    pos = 2  # after SOI
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:
            return pos
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2:
            return None
        pos += 2 + length
    return None


def load_rgb(data: bytes) -> Image.Image:
    """Decode bytes the pipeline already validated (for providers that work on pixels)."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


# --- the vision API's checks (functions/vision, shared/usecases/vision) ----------------------------
# Not the booth's: more formats, fixed limits, and every message names the image (`label`).
VISION_MAX_FILE_BYTES = 10 * 1024 * 1024
# The runners refuse more than this (gpu_jobs._common.MAX_INPUT_PIXELS); refuse it here first.
VISION_MAX_IMAGE_PIXELS = 40_000_000
# Decoded by Pillow, never judged by name. The booth's formats plus BMP and TIFF (seed 001).
VISION_FORMATS = {**BOOTH_FORMATS, "BMP": "image/bmp", "TIFF": "image/tiff"}
VISION_FORMATS_TEXT = "JPEG, PNG, WEBP, BMP or TIFF"
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[\w=.+-]+)*;base64,", re.I)


@dataclass(frozen=True)
class VisionImage:
    format: str
    mime: str
    width: int
    height: int


def check_image(data: bytes, *, label: str = "the image", max_bytes: int = VISION_MAX_FILE_BYTES,
                max_pixels: int = VISION_MAX_IMAGE_PIXELS) -> VisionImage:
    """The vision API's check: decide what `data` is by decoding it (blocking: call on a
    worker thread).

    PayloadTooLarge over `max_bytes` or `max_pixels`; UnsupportedMedia when Pillow cannot
    read it, it is not an accepted format, or it is damaged or truncated."""
    if not data:
        raise UnsupportedMedia(f"{label} is empty")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{label} is larger than {max_bytes / 1024 / 1024:g} MB")
    img = _open_within(
        data, formats=VISION_FORMATS, max_pixels=max_pixels,
        not_an_image=f"{label} is not an image; send {VISION_FORMATS_TEXT}",
        wrong_format=lambda fmt: f"{label} is {fmt or 'an unknown format'}; send {VISION_FORMATS_TEXT}",
        too_large=lambda w, h: f"{label} is {w}x{h}; the limit is {max_pixels / 1e6:g} megapixels",
    )
    with img:
        _load(img, damaged=f"{label} is damaged or truncated")
        fmt = img.format or ""
        return VisionImage(fmt, VISION_FORMATS[fmt], img.width, img.height)


def decode_base64_image(text: str, *, label: str, max_bytes: int = VISION_MAX_FILE_BYTES) -> bytes:
    """The vision API's base64 (plain or a `data:image/...;base64,` URL) → bytes; 4xx on bad
    input. What the bytes are is `check_image`'s business."""
    text = _DATA_URL.sub("", text.strip(), count=1)
    text = "".join(text.split())  # line-wrapped base64 is common
    if len(text) * 3 // 4 > max_bytes + 3:
        raise PayloadTooLarge(f"{label} is larger than {max_bytes / 1024 / 1024:g} MB")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        try:
            data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise InvalidInput(f"{label} is not valid base64", field="image_base64_list") from exc
    if not data:
        raise InvalidInput(f"{label} is empty", field="image_base64_list")
    return data


def encode_as(data: bytes, pil_format: str, quality: int) -> bytes:
    """An image re-encoded as `pil_format` (PNG, JPEG, WEBP); `quality` is JPEG/WebP's."""
    img = Image.open(io.BytesIO(data))
    img.load()
    out = io.BytesIO()
    if pil_format == "JPEG":
        img.convert("RGB").save(out, format="JPEG", quality=max(1, quality))
    else:
        img.save(out, format=pil_format, quality=quality)
    return out.getvalue()
