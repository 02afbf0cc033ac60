"""Factories for test photos: green-screen guests, backgrounds, odd and hostile files."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw

SKIN = (222, 170, 140)
GREEN = (40, 200, 60)
BLUE = (30, 70, 220)


def green_screen(
    width: int = 1600,
    height: int = 1067,
    *,
    screen=GREEN,
    quality: int = 90,
    exif_orientation: int | None = None,
    noise: bool = False,
) -> bytes:
    """A guest (skin-coloured ellipse) in front of a chroma screen, as a JPEG."""
    img = Image.new("RGB", (width, height), screen)
    draw = ImageDraw.Draw(img)
    draw.ellipse((width * 0.35, height * 0.2, width * 0.65, height), fill=SKIN)
    if noise:  # camera-like detail so JPEG sizes are realistic
        import numpy as np

        rng = np.random.default_rng(0)
        arr = np.asarray(img, dtype=np.int16) + rng.integers(-12, 12, (height, width, 3))
        img = Image.fromarray(arr.clip(0, 255).astype("uint8"))
    out = io.BytesIO()
    kwargs = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    img.save(out, format="JPEG", quality=quality, **kwargs)
    return out.getvalue()


def background(width: int = 1200, height: int = 800, color=(30, 60, 160)) -> bytes:
    """A 'beach': blue sky over sand. Saturated blue-free of green so keying is unambiguous."""
    img = Image.new("RGB", (width, height), color)
    ImageDraw.Draw(img).rectangle((0, height * 0.6, width, height), fill=(200, 180, 80))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90)
    return out.getvalue()


def solid_png(width: int = 16, height: int = 16, color=(120, 60, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def png_with_alpha(width: int = 800, height: int = 1000) -> bytes:
    """What the booth sends after its own AI background removal: transparent surroundings."""
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((width * 0.3, height * 0.2, width * 0.7, height), fill=SKIN + (255,))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def pixel_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG that declares an enormous canvas (decompression bomb)."""
    raw = zlib.compress(b"\x00" * (width // 8 + 1) * 16, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def dslr_fields(password: str) -> dict[str, str]:
    """Every text field a real DSLR Remote Pro 3.30.2 request carried."""
    return {
        "time": "1758217512",
        "user_id": "Acer",
        "id": "CY04N068111304S2L_00000001.",
        "profile": "C:\\Users\\Acer\\Documents\\PhotoboothImages\\setup_Serg.xml",
        "status": "C:\\Users\\Acer\\Documents\\PhotoboothImages\\screenSerg\\preview.jpg",
        "hash": "7b6c683e1d3fd29c8701791c54e3c12a236f5a5b",
        "name": "DESKTOP-K968T3F",
        "model": "Windows",
        "version": "3.30.2",
        "password": password,
    }


def noise_png(width: int, height: int, seed: int = 1) -> bytes:
    """Random RGB noise as PNG: incompressible, about 3 bytes a pixel (a worst-case upload)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()
