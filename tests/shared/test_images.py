"""Image intake: decoding decides, limits hold, orientation is honoured, the fast path
passes small upright JPEGs through untouched."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from shared.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia
from shared.images import check_image, decode_base64_image, prepare_photo, sniff_mime, thumbnail
from tests.helpers import photos

LIMIT = 60_000_000


def test_small_upright_jpeg_passes_through_byte_for_byte() -> None:
    data = photos.green_screen(1600, 1067)
    prepared = prepare_photo(data, max_side=2400, max_pixels=LIMIT)
    assert prepared.data is data and (prepared.width, prepared.height) == (1600, 1067)


def test_large_jpeg_is_downscaled_once_to_max_side() -> None:
    prepared = prepare_photo(photos.green_screen(6000, 4000), max_side=2400, max_pixels=LIMIT)
    img = photos.decode(prepared.data)
    assert img.size == (2400, 1600) and prepared.mime == "image/jpeg"


@pytest.mark.parametrize("orientation,expected", [(6, (800, 1200)), (8, (800, 1200)),
                                                  (3, (1200, 800)), (1, (1200, 800))])
def test_exif_orientation_applied(orientation: int, expected) -> None:
    data = photos.green_screen(1200, 800, exif_orientation=orientation)
    prepared = prepare_photo(data, max_side=2400, max_pixels=LIMIT)
    assert photos.decode(prepared.data).size == expected


def test_png_alpha_is_kept() -> None:
    prepared = prepare_photo(photos.png_with_alpha(), max_side=2400, max_pixels=LIMIT)
    assert prepared.mime == "image/png" and photos.decode(prepared.data).mode == "RGBA"
    big = prepare_photo(photos.png_with_alpha(3000, 4000), max_side=1000, max_pixels=LIMIT)
    assert big.mime == "image/png" and photos.decode(big.data).size == (750, 1000)


@pytest.mark.parametrize("data", [b"", b"hello", b"%PDF-1.7\n...", b"GIF89a" + b"\x00" * 50,
                                  b"\xff\xd8\xff\xe0" + b"\x00" * 100])
def test_not_images_are_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedMedia):
        prepare_photo(data, max_side=2400, max_pixels=LIMIT)


def test_truncated_jpeg_is_refused_on_both_paths() -> None:
    data = photos.green_screen(1600, 1067, noise=True)
    for max_side in (2400, 800):  # pass-through validation and the resize path
        with pytest.raises(UnsupportedMedia):
            prepare_photo(data[: len(data) // 2], max_side=max_side, max_pixels=LIMIT)


def test_gif_is_refused_even_though_pillow_reads_it() -> None:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, format="GIF")
    with pytest.raises(UnsupportedMedia, match="GIF"):
        prepare_photo(out.getvalue(), max_side=2400, max_pixels=LIMIT)


def test_pixel_bomb_refused_from_header() -> None:
    with pytest.raises(PayloadTooLarge):
        prepare_photo(photos.pixel_bomb(), max_side=2400, max_pixels=LIMIT)


def test_sniff_and_thumbnail() -> None:
    assert sniff_mime(photos.green_screen(10, 10)) == "image/jpeg"
    assert sniff_mime(photos.png_with_alpha(10, 10)) == "image/png"
    assert sniff_mime(b"nope") is None
    thumb = photos.decode(thumbnail(photos.green_screen(2000, 1000), max_pixels=LIMIT))
    assert thumb.size == (256, 128)


# --- the vision API's checks: decided by decoding ------------------------------------------------
def _image(fmt: str, size: tuple[int, int] = (24, 16)) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", size, (10, 120, 200))
    (img.convert("P") if fmt == "GIF" else img).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "TIFF", "WEBP"])
def test_accepted_formats_are_decoded(fmt: str) -> None:
    info = check_image(_image(fmt))
    assert (info.format, info.width, info.height) == (fmt, 24, 16)


def test_refused_images() -> None:
    with pytest.raises(UnsupportedMedia, match="GIF"):
        check_image(_image("GIF"))
    with pytest.raises(UnsupportedMedia, match="not an image"):
        check_image(b"%PDF-1.7 not an image")
    with pytest.raises(UnsupportedMedia, match="empty"):
        check_image(b"")
    png = _image("PNG", (64, 64))
    with pytest.raises(UnsupportedMedia, match="damaged or truncated"):
        check_image(png[: len(png) // 2])
    with pytest.raises(PayloadTooLarge, match="larger than"):
        check_image(png, max_bytes=100)
    with pytest.raises(PayloadTooLarge, match="megapixels"):
        check_image(png, max_pixels=100)
    # a PNG named .gif is still a PNG: names do not matter, bytes do
    assert check_image(png, label="photo.gif").format == "PNG"


def test_base64_decoding() -> None:
    png = _image("PNG")
    plain = base64.b64encode(png).decode()
    assert decode_base64_image(plain, label="image 1") == png
    assert decode_base64_image("data:image/png;base64," + plain, label="image 1") == png
    wrapped = "\n".join(plain[i:i + 60] for i in range(0, len(plain), 60))
    assert decode_base64_image(wrapped, label="image 1") == png
    assert decode_base64_image(plain.rstrip("="), label="image 1") == png
    with pytest.raises(InvalidInput, match="image 2 is not valid base64"):
        decode_base64_image("not base64!!", label="image 2")
    with pytest.raises(PayloadTooLarge, match="image 1 is larger than"):
        decode_base64_image("A" * 2000, label="image 1", max_bytes=1000)


def test_vision_check_refuses_a_pixel_bomb_from_the_header() -> None:
    with pytest.raises(PayloadTooLarge, match="the image is 30000x30000; the limit is 40 megapixels"):
        check_image(photos.pixel_bomb())
