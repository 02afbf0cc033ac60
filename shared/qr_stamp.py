"""The QR stamp: a guest's photo with a small QR code (the job's share page) and one line of
the operator's text on a white plate in its bottom-right corner.

When a booth's window runs out, the booth is answered with the ORIGINAL photo stamped this
way and prints it at once; a slot may also stamp the code (no text, or a short one) on every
AI result. Pure functions, bytes in and bytes out; CPU-bound (a 24 MP JPEG is decoded and
encoded whole, a few hundred ms): call it on the CPU pool (`shared.concurrency.run_cpu`).

Geometry — sized for the print, not for the file. The booth prints on 4x6 in media (a 2x6 in
strip is that sheet cut in two; a square is 4x4 in), so a picture printed whole fits in
4 x 6 in and its paper scale is at least max(short side / 4 in, long side / 6 in) pixels per
inch: the short side decides for a 3:2 or square photo, the long side for a strip (600x1800
fills 6 in, not 4). Every length below is millimetres on that print, turned into pixels of
the picture at hand, so a 24 MP original and its 1800x1200 downscale print the same stamp:
- a QR module is `size` mm (0.5 by default: phone cameras read 0.4 mm modules at reading
  distance; 0.5 leaves room for a soft dye-sub print and a blurred snapshot of it, and
  rounding up to whole pixels only adds). At 300 dpi that is 6 printer dots per module.
  The usual share URL (~60 characters) is a version-4 symbol, 33 modules: 16.5 mm of code,
  20.5 mm with its 4-module quiet zone — a fifth of a 4x6's short side, a corner, not the
  picture. A longer base URL grows the symbol, not the modules (a Lambda function URL,
  ~106 characters, is version 6: 24.5 mm with its quiet zone);
- the plate is the QR's quiet zone (white, as the standard requires) plus, to its left, a
  band along its bottom edge as tall as the text line needs (twice the letters' size): a
  caption beside the code rather than a second white square over the photo; 3 mm from the
  picture's right and bottom edges, out of a borderless print's trimmed edge;
- the text is 2.8 mm (8 pt: a caption's size, read at arm's length), shrunk to 2.0 mm at
  the least when the line is longer than the picture is wide, then cut with "…". One line,
  never wrapped, never past the picture's left edge.
A layout that crops the photo to another aspect cuts this corner off: the stamp assumes the
picture is printed whole.

Error correction M (15 %), the level a phone reads a screen or print with. What spoils a
print is blur and scale, which error correction does not cure — larger modules do: at the
same footprint, M's version-4 symbol has 12 % larger modules than Q's version-5 one
(33 vs 37 modules). segno then raises the level for free when the data leaves room in the
chosen version (`boost_error`): never a bigger symbol, sometimes more correction.

The photo is turned upright by its EXIF orientation first (the stamp must land in the corner
of the picture as printed) and keeps its ICC profile and DPI; the EXIF block is dropped (its
orientation is applied, its embedded thumbnail would show the unstamped photo). The output
format is the input's (JPEG quality 92 with the input's chroma subsampling, PNG, WEBP).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont, ImageOps, JpegImagePlugin

from shared.images import load_rgb, read_header

DEFAULT_MODULE_MM = 0.5
QUIET_MODULES = 4  # the QR standard's quiet zone, part of the plate
ERROR_LEVEL = "m"

# The print the picture is assumed to fill (see the module's docstring).
PRINT_SHORT_MM = 101.6  # 4 in
PRINT_LONG_MM = 152.4  # 6 in
EDGE_MARGIN_MM = 3.0
TEXT_MM = 2.8
MIN_TEXT_MM = 2.0
# The code never takes more than this share of the picture's short side, whatever the URL
# (modules shrink first); a picture so small that a 1-pixel module will not fit is returned
# as it came: nothing prints, or reads, that small.
MAX_CODE_SHARE = 0.5

JPEG_QUALITY = 92
ELLIPSIS = "…"
PAPER = "white"
INK = "#1a1a1a"  # the text: near-black, softer on a photo print than pure black
MODULE_INK = "black"  # the code: full contrast

# DejaVu Sans Bold, subset to what boothai's operators write (English, Russian and their
# neighbours' Cyrillic, Latin-1, the punctuation a line like "Ваше AI-фото уже готовится —
# отсканируйте код" uses): 71 KB instead of 700. Pillow's own font has no Cyrillic. Bold:
# an 8 pt line on a photo print reads better with heavier strokes. Made with fontTools (not
# a dependency: run once where it is installed) from Debian's fonts-dejavu-core 2.37:
#   pyftsubset DejaVuSans-Bold.ttf --unicodes="U+0020-007E,U+00A0-00FF,U+0400-04FF,
#     U+2010-2027,U+2030,U+2039-203A,U+20AC,U+20BD,U+2116,U+2122"
#     --layout-features='kern,liga' --name-IDs='*' --name-languages='*'
#     --output-file=DejaVuSans-Bold-subset.ttf
# Its licence (redistribution allowed, the notice kept) is DejaVu-LICENSE.txt beside it.
FONT_PATH = Path(__file__).parent / "assets" / "DejaVuSans-Bold-subset.ttf"
FONT_RANGES = ((0x20, 0x7E), (0xA0, 0xFF), (0x400, 0x4FF), (0x2010, 0x2027), (0x2030, 0x2030),
               (0x2039, 0x203A), (0x20AC, 0x20AC), (0x20BD, 0x20BD), (0x2116, 0x2116),
               (0x2122, 0x2122))

Box = tuple[int, int, int, int]  # left, top, right, bottom (right and bottom exclusive)


@dataclass(frozen=True)
class StampLayout:
    """Where everything goes on one picture, in its pixels."""

    module: int  # pixels per QR module
    code_plate: Box  # the code with its quiet zone: white, square
    code: Box  # the QR symbol itself, inside its quiet zone
    text_band: Box | None  # the text's plate, left of the code, along its bottom
    text: str | None  # the line as drawn (shrunk, cut with "…"), or None
    text_at: tuple[int, int] | None  # the line's left end, at the band's vertical middle
    font_px: int

    @property
    def boxes(self) -> tuple[Box, ...]:
        """Every box the stamp paints: outside them the picture is the photo's."""
        return (self.code_plate,) if self.text_band is None else (self.code_plate, self.text_band)


def has_glyph(char: str) -> bool:
    """Whether the stamp's font draws `char` (the ranges it was subset to)."""
    code = ord(char)
    return any(low <= code <= high for low, high in FONT_RANGES)


def unsupported_characters(text: str) -> str:
    """The characters of `text` the stamp would leave out (each once, in order): for a
    console that wants to refuse them when the operator saves the line."""
    seen = dict.fromkeys(ch for ch in text if not ch.isspace() and not has_glyph(ch))
    return "".join(seen)


def one_line(text: str | None) -> str | None:
    """The operator's text as the stamp draws it: characters the font lacks left out (no
    empty boxes on a print), line breaks and runs of spaces as one space; None when nothing
    is left."""
    if not text:
        return None
    kept = "".join(ch if has_glyph(ch) else " " for ch in text.replace("\u00a0", " "))
    return " ".join(kept.split()) or None


@lru_cache(maxsize=32)
def font(px: int) -> ImageFont.FreeTypeFont:
    # Pillow's basic layout, never libraqm's: Latin and Cyrillic need no shaping, and Pillow's
    # wheels use libraqm only where the system has libfribidi, so the line would otherwise
    # measure (and be cut) differently from one machine to the next.
    return ImageFont.truetype(str(FONT_PATH), px, layout_engine=ImageFont.Layout.BASIC)


def _symbol(url: str) -> segno.QRCode:
    return segno.make(url, error=ERROR_LEVEL, micro=False, boost_error=True)


def layout(width: int, height: int, url: str, text: str | None = None, *,
           size: float = DEFAULT_MODULE_MM) -> StampLayout | None:
    """The stamp's geometry on a `width` x `height` (upright) picture; None when it is too
    small to carry a code."""
    return _layout(width, height, _symbol(url).symbol_size(border=0)[0], one_line(text), size)


def _layout(width: int, height: int, modules: int, text: str | None,
            size: float) -> StampLayout | None:
    if size <= 0:
        raise ValueError(f"a QR module of {size} mm")
    px_per_mm = max(min(width, height) / PRINT_SHORT_MM, max(width, height) / PRINT_LONG_MM)
    side_modules = modules + 2 * QUIET_MODULES
    module = math.ceil(size * px_per_mm - 1e-9)
    module = min(module, int(MAX_CODE_SHARE * min(width, height)) // side_modules)
    if module < 1:
        return None
    margin = round(EDGE_MARGIN_MM * px_per_mm)
    quiet = QUIET_MODULES * module
    right, bottom = width - margin, height - margin
    left, top = right - side_modules * module, bottom - side_modules * module
    code_plate = (left, top, right, bottom)
    code = (left + quiet, top + quiet, right - quiet, bottom - quiet)
    if not text:
        return StampLayout(module, code_plate, code, None, None, None, 0)

    # The text on a band only as tall as the line needs, along the code's bottom: a caption
    # beside the code, not a second square of white over the photo. A quiet zone's width of
    # band before the line, the code's own quiet zone after it.
    fitted = _fit_line(text, left - quiet - margin, target_px=round(TEXT_MM * px_per_mm),
                       min_px=max(1, round(MIN_TEXT_MM * px_per_mm)))
    if fitted is None:
        return StampLayout(module, code_plate, code, None, None, None, 0)
    line, font_px, length = fitted
    band_top = bottom - 2 * font_px
    band = (left - quiet - length, band_top, left, bottom)
    return StampLayout(module, code_plate, code, band, line,
                       (band[0] + quiet, (band_top + bottom) // 2), font_px)


def _fit_line(text: str, room: int, *, target_px: int, min_px: int) -> tuple[str, int, int] | None:
    """(the line, its font size, its width in pixels) fitting in `room` pixels: the whole
    line at the target size, else at a smaller one (not under `min_px`), else cut with "…".
    None when not even one letter and the ellipsis fit."""
    if room <= 0:
        return None
    length = font(target_px).getlength(text)
    px = target_px
    if length > room:
        px = max(min_px, math.floor(target_px * room / length))
        # Hinting makes widths a little off proportional: step down until it fits.
        while px > min_px and font(px).getlength(text) > room:
            px -= 1
    face = font(px)
    if face.getlength(text) <= room:
        return text, px, math.ceil(face.getlength(text))
    # The longest start of the line that fits with "…" after it (widths grow with length).
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if face.getlength(text[:mid].rstrip() + ELLIPSIS) <= room:
            low = mid
        else:
            high = mid - 1
    if low == 0:
        return None
    cut = text[:low].rstrip() + ELLIPSIS
    return cut, px, math.ceil(face.getlength(cut))


def _module_mask(qr: segno.QRCode, module: int) -> Image.Image:
    """The symbol (no quiet zone) as a mask, dark modules 255, `module` pixels each."""
    matrix = qr.matrix
    n = len(matrix)
    cells = Image.frombytes("L", (n, n), bytes(255 if v else 0 for row in matrix for v in row))
    return cells.resize((n * module, n * module), Image.Resampling.NEAREST)


# What each input format is written back as, and the pixel modes it is drawn in.
_OUTPUT = {"JPEG": ("JPEG", "image/jpeg"), "MPO": ("JPEG", "image/jpeg"),
           "PNG": ("PNG", "image/png"), "WEBP": ("WEBP", "image/webp")}
_ICC_SPACE = {"L": b"GRAY", "RGB": b"RGB ", "RGBA": b"RGB "}


def stamp(image: bytes, url: str, text: str | None, *, max_pixels: int,
          size: float = DEFAULT_MODULE_MM) -> tuple[bytes, str]:
    """`image` with the QR code of `url` and the line `text` (None: the code alone) in its
    bottom-right corner; (the stamped image, its mime). `size`: a QR module's width in mm on
    the print. A picture over `max_pixels` is refused before it is decoded (PayloadTooLarge,
    as the pipeline's own check), one too small to carry a code comes back as it was."""
    header = read_header(image, max_pixels=max_pixels)
    qr = _symbol(url)
    img = load_rgb(image)
    sampling = JpegImagePlugin.get_sampling(img) if header.format in ("JPEG", "MPO") else -1
    ImageOps.exif_transpose(img, in_place=True)
    icc = img.info.get("icc_profile")
    dpi = img.info.get("dpi")

    place = _layout(img.width, img.height, qr.symbol_size(border=0)[0], one_line(text), size)
    if place is None:
        return image, header.mime

    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    mode = "RGBA" if has_alpha else ("L" if img.mode == "L" else "RGB")
    if img.mode != mode:  # in place otherwise: a copy of 24 MP costs ~5 ms for nothing
        img = img.convert(mode)
    if icc and icc[16:20] != _ICC_SPACE[mode]:
        icc = None  # a CMYK profile on the RGB pixels it was converted to would be wrong

    draw = ImageDraw.Draw(img)
    for box in place.boxes:
        # One rounded plate over both boxes: the band reaches under the code plate's corner.
        reach = place.module if box is place.text_band else 0
        draw.rounded_rectangle([box[0], box[1], box[2] - 1 + reach, box[3] - 1],
                               radius=place.module, fill=PAPER)
    img.paste(MODULE_INK, place.code, mask=_module_mask(qr, place.module))
    if place.text and place.text_at:
        draw.text(place.text_at, place.text, font=font(place.font_px), fill=INK, anchor="lm")

    fmt, mime = _OUTPUT[header.format]
    options: dict[str, object] = {}
    if icc:
        options["icc_profile"] = icc
    if dpi:
        options["dpi"] = dpi
    if fmt == "JPEG":
        options["quality"] = JPEG_QUALITY
        if mode != "L":  # 4:4:4, 4:2:2 or 4:2:0 as the camera wrote it; Pillow's 4:2:0 else
            options["subsampling"] = sampling if sampling in (0, 1, 2) else 2
    elif fmt == "PNG":
        options["compress_level"] = 3  # as shared.images.encode: a 4K PNG in ~1/3 the time of 6
    else:
        options["quality"] = JPEG_QUALITY
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue(), mime
