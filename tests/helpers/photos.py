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


def _jpeg(img: Image.Image, *, noise: bool, quality: int = 90) -> bytes:
    if noise:  # camera-like grain, so keying and JPEG sizes are realistic
        import numpy as np

        rng = np.random.default_rng(0)
        arr = np.asarray(img, dtype=np.int16) + rng.integers(-12, 12, (img.height, img.width, 3))
        img = Image.fromarray(arr.clip(0, 255).astype("uint8"))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _guest(draw: ImageDraw.ImageDraw, w: int, h: int, *, scale: float = 1.0,
           clothes=(60, 60, 140)) -> None:
    """Head and shoulders, centred, `scale` times the size green_screen's guest has."""
    cx, half = w / 2, w * 0.09 * scale
    draw.ellipse((cx - half, h * (0.42 - 0.27 * scale), cx + half, h * 0.42), fill=SKIN)
    draw.rounded_rectangle((cx - 2.2 * half, h * 0.42, cx + 2.2 * half, h), radius=int(half / 2),
                           fill=clothes)


WALL = (205, 190, 165)  # a beige venue wall: no screen at all


def plain_photo(width: int = 1600, height: int = 1067, *, clothes=(60, 60, 140),
                balloon: bool = False) -> bytes:
    """A guest before a plain wall (what a booth sends when nobody set the screen up). With
    `balloon`, a green balloon floats beside them; `clothes=GREEN` dresses them in a green
    sweater: green things in a photo that is still not a screen."""
    img = Image.new("RGB", (width, height), WALL)
    draw = ImageDraw.Draw(img)
    _guest(draw, width, height, clothes=clothes)
    if balloon:
        r = min(width, height) * 0.09
        cx, cy = width * 0.78, height * 0.3
        draw.ellipse((cx - r, cy - r * 1.2, cx + r, cy + r * 1.2), fill=GREEN)
        draw.line((cx, cy + r * 1.2, cx - r * 0.3, height), fill=(90, 90, 90), width=3)
    return _jpeg(img, noise=True)


def beach_snapshot(width: int = 800, height: int = 600) -> bytes:
    """A holiday snapshot: pale sky, sea, sand, no guest and no screen. Its sky and sea are
    blue enough for a chroma key at a high tolerance."""
    img = Image.new("RGB", (width, height), (135, 196, 235))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, int(height * 0.45), width, int(height * 0.62)), fill=(30, 110, 170))
    draw.rectangle((0, int(height * 0.62), width, height), fill=(232, 205, 150))
    return _jpeg(img, noise=False, quality=92)


def close_up(width: int = 1600, height: int = 1067, *, screen=GREEN) -> bytes:
    """A tight head-and-shoulders shot before a screen: the least screen a booth frame shows."""
    img = Image.new("RGB", (width, height), screen)
    _guest(ImageDraw.Draw(img), width, height, scale=2.2, clothes=(70, 55, 45))
    return _jpeg(img, noise=True)


def unevenly_lit_screen(width: int = 1600, height: int = 1067) -> bytes:
    """A guest before a green screen lit from the left only: saturated at the left edge, paling
    to a grey-green at the right (green's lead over red and blue falls from 150 to 12). How
    much of it is keyed depends on the key's tolerance."""
    import numpy as np

    lead = np.linspace(150, 12, width)
    row = np.stack([100 - lead / 3, 100 + lead * 2 / 3, 100 - lead / 3], axis=-1)
    arr = np.broadcast_to(row, (height, width, 3)).clip(0, 255).astype("uint8")
    img = Image.fromarray(np.ascontiguousarray(arr))
    _guest(ImageDraw.Draw(img), width, height)
    return _jpeg(img, noise=True)


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
