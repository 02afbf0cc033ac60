"""The QR stamp (shared/qr_stamp.py): the code must read where a guest scans it — on the
print, downscaled to the booth's paper and softened like a photographed print — and the
photo outside the stamp must stay the photo.

"Printed" here: the stamped picture resized (Lanczos) to the print's pixels at 300 dpi,
blurred (Gaussian, radius 1 px) and saved as a JPEG at quality 70, then read by ZXing
(`zxingcpp`), a standard QR reader. Measured with this degradation: modules of 0.18 mm
still read on every print size, 0.15 mm no longer do; the default is 0.5 mm.
Writes test-output/qr/stamped_original_4x6.jpg (the closing note's picture)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageFilter, ImageFont, JpegImagePlugin

from shared import qr_stamp
from shared.errors import PayloadTooLarge
from shared.images import sniff_mime
from shared.qr_stamp import ELLIPSIS, layout, one_line, stamp, unsupported_characters
from tests.helpers import photos

URL = "https://booth.example.com/s/Xy3_aB-9kLmN0pQrXy3_aB-9kLmN0pQr"  # a share link's shape
RUSSIAN = "Ваше AI-фото уже готовится — отсканируйте код"
ENGLISH = "Your AI photo is on its way — scan the code"
MAX_PIXELS = 40_000_000
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "qr"


# -- pictures ---------------------------------------------------------------------------------------


def scene(width: int, height: int) -> Image.Image:
    """A party photo's look: an evening-sky gradient, a warm light, a guest, camera grain.
    Built from Pillow's C primitives so 24 MP takes a moment, not seconds."""
    ramp = Image.linear_gradient("L").resize((width, height))
    warm, cool = Image.new("RGB", (width, height), (250, 170, 110)), Image.new(
        "RGB", (width, height), (60, 90, 170))
    img = Image.composite(warm, cool, ramp)
    draw = ImageDraw.Draw(img)
    short = min(width, height)
    draw.ellipse((width * 0.12, height * 0.1, width * 0.12 + short * 0.2, height * 0.1 + short * 0.2),
                 fill=(255, 230, 160))
    cx, half = width * 0.5, short * 0.12
    draw.ellipse((cx - half, height * 0.2, cx + half, height * 0.2 + 2.6 * half), fill=photos.SKIN)
    draw.rounded_rectangle((cx - 2.4 * half, height * 0.2 + 2.5 * half, cx + 2.4 * half, height),
                           radius=int(half), fill=(150, 40, 60))
    grain = Image.effect_noise((width, height), 10).convert("RGB")
    return ImageChops.add(img, grain, scale=1.0, offset=-128)


def jpeg(img: Image.Image, *, quality: int = 90, **options) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality, **options)
    return out.getvalue()


def png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def printed(data: bytes, size: tuple[int, int]) -> Image.Image:
    """The picture as the guest's phone sees it on the print (see the module's docstring)."""
    img = decode(data).convert("RGB").resize(size, Image.Resampling.LANCZOS)
    img = img.filter(ImageFilter.GaussianBlur(1))
    return decode(jpeg(img, quality=70))


def read_codes(img: Image.Image) -> list[zxingcpp.Result]:
    return [code for code in zxingcpp.read_barcodes(img) if code.format == zxingcpp.BarcodeFormat.QRCode]


def assert_reads_in_bottom_right(img: Image.Image) -> None:
    codes = read_codes(img)
    assert [code.text for code in codes] == [URL]
    pos = codes[0].position
    for point in (pos.top_left, pos.top_right, pos.bottom_left, pos.bottom_right):
        assert point.x > img.width * 0.5 and point.y > img.height * 0.5, (point.x, point.y, img.size)


def outside(boxes, size: tuple[int, int], grow: int = 0) -> np.ndarray:
    """A mask of the picture outside `boxes`, each grown by `grow` px (JPEG blocks that the
    plate's edge runs through are re-coded)."""
    keep = np.ones((size[1], size[0]), bool)
    for left, top, right, bottom in boxes:
        keep[max(0, top - grow):bottom + grow, max(0, left - grow):right + grow] = False
    return keep


@pytest.fixture(scope="module")
def stamped_24mp() -> tuple[bytes, bytes]:
    original = jpeg(scene(6000, 4000))
    return original, stamp(original, URL, RUSSIAN, max_pixels=MAX_PIXELS)[0]


# -- the code reads on every print ------------------------------------------------------------------


@pytest.mark.parametrize(("source", "print_size"), [
    ((1800, 1200), (1800, 1200)),  # 4x6 in at 300 dpi
    ((2400, 2400), (1200, 1200)),  # a square print, 4x4 in
    ((1200, 3600), (600, 1800)),  # a 2x6 in strip
    ((600, 1800), (600, 1800)),  # the strip at its print size already
], ids=["4x6", "square", "strip", "strip-as-printed"])
def test_code_reads_at_each_print_size(source, print_size) -> None:
    data, mime = stamp(jpeg(scene(*source)), URL, RUSSIAN, max_pixels=MAX_PIXELS)
    assert mime == "image/jpeg"
    assert_reads_in_bottom_right(printed(data, print_size))


def test_a_24mp_original_reads_at_4x6(stamped_24mp) -> None:
    original, data = stamped_24mp
    assert decode(data).size == (6000, 4000)
    assert_reads_in_bottom_right(printed(data, (1800, 1200)))


def test_turned_portrait_is_stamped_in_its_upright_corner() -> None:
    # The camera stored 1800x1200 pixels and tagged them "rotate 90° clockwise" (6): the
    # picture as printed is 1200x1800, and what was stored top-left is its top-right.
    stored = scene(1800, 1200)
    ImageDraw.Draw(stored).rectangle((0, 0, 99, 99), fill=(0, 200, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    data, _ = stamp(jpeg(stored, exif=exif.tobytes()), URL, ENGLISH, max_pixels=MAX_PIXELS)

    upright = decode(data)
    assert upright.size == (1200, 1800)
    assert upright.getexif().get(0x0112, 1) == 1  # turned, not tagged: no viewer turns it twice
    green = np.array([0, 200, 0])
    assert np.abs(np.array(upright.getpixel((1150, 50))) - green).max() < 30
    assert np.abs(np.array(upright.getpixel((50, 50))) - green).max() > 100
    assert_reads_in_bottom_right(printed(data, (1200, 1800)))


def test_half_the_module_size_still_reads_on_the_strip() -> None:
    # The margin the default leaves: a strip printed with 0.25 mm modules still reads.
    data, _ = stamp(jpeg(scene(1200, 3600)), URL, RUSSIAN, max_pixels=MAX_PIXELS,
                    size=qr_stamp.DEFAULT_MODULE_MM / 2)
    assert_reads_in_bottom_right(printed(data, (600, 1800)))


def test_a_code_too_small_to_print_does_not_read() -> None:
    # The check above can fail: 0.1 mm modules (1.2 printer dots) do not survive the print.
    data, _ = stamp(jpeg(scene(1800, 1200)), URL, RUSSIAN, max_pixels=MAX_PIXELS, size=0.1)
    assert read_codes(decode(data))  # on the file itself it is a code ...
    assert read_codes(printed(data, (1800, 1200))) == []  # ... on the print it is not


@pytest.mark.parametrize(("width", "height", "paper_width_mm"), [
    (1800, 1200, 152.4), (6000, 4000, 152.4),  # 4x6 in
    (1200, 1200, 101.6),  # 4x4 in
    (600, 1800, 50.8),  # a 2x6 in strip
])
def test_modules_on_paper_are_half_a_millimetre_and_the_code_a_corner(width, height,
                                                                      paper_width_mm) -> None:
    place = layout(width, height, URL, RUSSIAN)
    px_per_mm = width / paper_width_mm
    assert 0.5 <= place.module / px_per_mm < 0.6
    code_mm = (place.code_plate[2] - place.code_plate[0]) / px_per_mm
    assert 20 <= code_mm < 23  # 41 modules: the 33 of a version-4 symbol and the quiet zone
    margin_mm = (width - place.code_plate[2]) / px_per_mm
    assert margin_mm == pytest.approx(qr_stamp.EDGE_MARGIN_MM, abs=0.1)


# -- the photo stays the photo ----------------------------------------------------------------------


def test_photo_outside_the_stamp_is_unchanged_jpeg() -> None:
    original = jpeg(scene(1800, 1200))
    data, _ = stamp(original, URL, RUSSIAN, max_pixels=MAX_PIXELS)
    place = layout(1800, 1200, URL, RUSSIAN)
    keep = outside(place.boxes, (1800, 1200), grow=16)
    after = np.asarray(decode(data), np.int16)
    # JPEG codes each 16x16 block on its own: away from the plate the stamped picture is,
    # to the bit, the photo merely decoded and saved again at the same quality.
    resaved = np.asarray(decode(jpeg(decode(original), quality=qr_stamp.JPEG_QUALITY)), np.int16)
    assert np.array_equal(after[keep], resaved[keep])
    diff = np.abs(after - np.asarray(decode(original), np.int16))
    assert diff[keep].mean() < 2  # that re-save's noise on a grainy photo
    assert diff[~outside(place.boxes, (1800, 1200))].mean() > 40  # and the stamp is there


def test_png_in_png_out_untouched_outside_the_stamp() -> None:
    original = png(scene(1600, 1067))
    data, mime = stamp(original, URL, ENGLISH, max_pixels=MAX_PIXELS)
    assert mime == "image/png" and sniff_mime(data) == "image/png"
    place = layout(1600, 1067, URL, ENGLISH)
    keep = outside(place.boxes, (1600, 1067))
    before, after = np.asarray(decode(original)), np.asarray(decode(data))
    assert np.array_equal(before[keep], after[keep])  # lossless: exactly the photo
    assert not np.array_equal(before[~keep], after[~keep])
    assert [code.text for code in read_codes(decode(data))] == [URL]


def test_alpha_png_keeps_its_transparency() -> None:
    original = photos.png_with_alpha(800, 1000)
    data, mime = stamp(original, URL, None, max_pixels=MAX_PIXELS)
    img = decode(data)
    assert mime == "image/png" and img.mode == "RGBA"
    assert img.getpixel((5, 5))[3] == decode(original).convert("RGBA").getpixel((5, 5))[3] == 0
    place = layout(800, 1000, URL, None)
    quiet_zone = (place.code_plate[0] + 2 * place.module, place.code_plate[1] + 2 * place.module)
    assert img.getpixel(quiet_zone) == (255, 255, 255, 255)  # the plate is opaque white


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"),
                                           ("WEBP", "image/webp")])
def test_output_format_is_the_inputs_and_the_mime_matches_the_bytes(fmt, mime) -> None:
    out = io.BytesIO()
    scene(900, 600).save(out, format=fmt)
    data, answered = stamp(out.getvalue(), URL, ENGLISH, max_pixels=MAX_PIXELS)
    assert answered == mime == sniff_mime(data)
    assert decode(data).format == fmt


def test_jpeg_keeps_its_subsampling_colour_profile_and_dpi() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for subsampling in (0, 2):  # 4:4:4 and 4:2:0
        original = jpeg(scene(900, 600), subsampling=subsampling, icc_profile=icc, dpi=(300, 300))
        img = decode(stamp(original, URL, ENGLISH, max_pixels=MAX_PIXELS)[0])
        assert JpegImagePlugin.get_sampling(img) == subsampling
        assert img.info.get("icc_profile") == icc
        assert tuple(round(v) for v in img.info["dpi"]) == (300, 300)


def test_over_max_pixels_is_refused_before_decoding() -> None:
    with pytest.raises(PayloadTooLarge):
        stamp(photos.pixel_bomb(), URL, ENGLISH, max_pixels=MAX_PIXELS)
    with pytest.raises(PayloadTooLarge):
        stamp(jpeg(scene(900, 600)), URL, ENGLISH, max_pixels=900 * 600 - 1)


def test_picture_too_small_for_a_code_comes_back_as_it_was() -> None:
    tiny = photos.solid_png(40, 40)
    assert layout(40, 40, URL) is None
    assert stamp(tiny, URL, ENGLISH, max_pixels=MAX_PIXELS) == (tiny, "image/png")


# -- the text line ----------------------------------------------------------------------------------


def _notdef(face: ImageFont.FreeTypeFont) -> tuple:
    mask = face.getmask("\U0010fffd")  # a private-use character no font draws: the empty box
    return mask.size, bytes(mask)


def _drawn(face: ImageFont.FreeTypeFont, char: str) -> bool:
    mask = face.getmask(char)
    return (mask.size, bytes(mask)) != _notdef(face)


def test_russian_line_is_drawn_with_real_glyphs() -> None:
    face = qr_stamp.font(40)
    assert all(_drawn(face, char) for char in RUSSIAN)
    # The check tells a font without Cyrillic apart: Pillow's own draws boxes for these.
    fallback = ImageFont.load_default(40)
    assert not any(_drawn(fallback, char) for char in "Вашефотокд—")
    assert unsupported_characters(RUSSIAN) == ""


def test_font_draws_every_character_it_claims() -> None:
    face = qr_stamp.font(40)
    claimed = [chr(c) for low, high in qr_stamp.FONT_RANGES for c in range(low, high + 1)]
    assert len(claimed) > 400
    assert [char for char in claimed if not _drawn(face, char)] == []
    assert not _drawn(face, "中") and not qr_stamp.has_glyph("中")


def test_russian_line_is_on_the_print() -> None:
    data, _ = stamp(png(scene(1800, 1200)), URL, RUSSIAN, max_pixels=MAX_PIXELS)
    place = layout(1800, 1200, URL, RUSSIAN)
    assert place.text == RUSSIAN  # whole, at the full size on a 4x6
    assert place.font_px == round(qr_stamp.TEXT_MM * 1200 / qr_stamp.PRINT_SHORT_MM)
    left, top, right, bottom = place.text_band
    band = np.asarray(decode(data).convert("L").crop((left, top, right, bottom)))
    ink = band < 100
    assert 0.05 < ink.mean() < 0.5  # letters, not an empty plate, not a black bar
    columns = np.flatnonzero(ink.any(axis=0))
    assert columns[0] >= layout(1800, 1200, URL, RUSSIAN).module * 3  # starts after the pad
    assert columns[-1] > band.shape[1] * 0.9  # runs the width of the band


def test_english_line_fits_whole() -> None:
    place = layout(1800, 1200, URL, ENGLISH)
    assert place.text == ENGLISH and place.text_band[0] >= 0


def test_long_line_is_cut_with_an_ellipsis_inside_the_picture() -> None:
    long_line = (ENGLISH + " ") * 6
    place = layout(1800, 1200, URL, long_line)
    assert place.text.endswith(ELLIPSIS) and len(place.text) < len(long_line)
    assert place.font_px == round(qr_stamp.MIN_TEXT_MM * 1200 / qr_stamp.PRINT_SHORT_MM)  # shrunk first
    face = qr_stamp.font(place.font_px)
    left, _, right, _ = face.getbbox(place.text, anchor="lm")
    band = place.text_band
    assert 0 < band[0] <= place.text_at[0] + left and place.text_at[0] + right <= band[2]

    original = png(scene(1800, 1200))
    data, _ = stamp(original, URL, long_line, max_pixels=MAX_PIXELS)
    keep = outside(place.boxes, (1800, 1200))
    assert np.array_equal(np.asarray(decode(original))[keep], np.asarray(decode(data))[keep])


def test_strip_shrinks_then_cuts_the_line() -> None:
    place = layout(600, 1800, URL, RUSSIAN)
    assert place.text.endswith(ELLIPSIS) and place.text.startswith("Ваше AI-фото")
    assert place.font_px == round(qr_stamp.MIN_TEXT_MM * 1800 / qr_stamp.PRINT_LONG_MM)
    assert place.text_band[0] >= 0


def test_no_text_is_the_code_alone() -> None:
    for text in (None, "", "  \n "):
        place = layout(1800, 1200, URL, text)
        assert place.text is None and place.text_band is None
        assert place.boxes == (place.code_plate,)
    original = png(scene(1800, 1200))
    data, _ = stamp(original, URL, None, max_pixels=MAX_PIXELS)
    keep = outside(layout(1800, 1200, URL).boxes, (1800, 1200))
    assert np.array_equal(np.asarray(decode(original))[keep], np.asarray(decode(data))[keep])


def test_text_is_one_line_of_drawable_characters() -> None:
    assert one_line("Ваше фото\nготово\t 😀  скоро") == "Ваше фото готово скоро"
    assert one_line("😀") is None
    assert unsupported_characters("Привет 😀 中 😀") == "😀中"


# -- the closing note's picture ---------------------------------------------------------------------


def test_printed_size_picture() -> None:
    """test-output/qr/stamped_original_4x6.jpg: a 4x6 in print's pixels, the Russian line."""
    data, _ = stamp(jpeg(scene(1800, 1200)), URL, RUSSIAN, max_pixels=MAX_PIXELS)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "stamped_original_4x6.jpg").write_bytes(data)
    assert_reads_in_bottom_right(printed(data, (1800, 1200)))
