"""The CPU chroma key: screen colour detection, soft edges, spill suppression."""

from __future__ import annotations

import asyncio
import io
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from shared.domain import ProcessingType
from shared.errors import ProviderFailed
from shared.providers.base import ProviderJob
from shared.providers.local import (
    KEY_HIGH,
    KEY_LOW,
    LocalProvider,
    alpha_composite,
    chroma_key,
    detect_screen,
)
from tests.helpers import photos


def _job(photo: bytes, reference: bytes | None) -> ProviderJob:
    return ProviderJob(job_id="j", tenant="t", slot_index=1, type=ProcessingType.BACKGROUND,
                       prompt="", photo=photo, photo_mime="image/jpeg", photo_size=(0, 0),
                       deadline=time.monotonic() + 30, reference=reference)


@pytest.mark.parametrize("screen", [photos.GREEN, photos.BLUE])
def test_keys_green_and_blue_screens(screen) -> None:
    guest = photos.decode(photos.green_screen(600, 400, screen=screen)).convert("RGB")
    bg = Image.new("RGB", (300, 200), (250, 20, 20))  # red: unmistakable
    out = np.asarray(chroma_key(guest, bg), dtype=np.int16)
    corner = out[:40, :40].reshape(-1, 3).mean(axis=0)
    assert corner[0] > 200 and corner[1] < 60 and corner[2] < 60
    centre = out[350, 300]
    assert abs(centre[0] - photos.SKIN[0]) < 20 and abs(centre[1] - photos.SKIN[1]) < 20


def test_detects_screen_colour() -> None:
    arr = np.zeros((50, 50, 3), np.float32)
    arr[...] = photos.BLUE
    assert detect_screen(arr) == "blue"
    arr[...] = photos.GREEN
    assert detect_screen(arr) == "green"


def test_edges_are_soft_and_spill_suppressed() -> None:
    guest = Image.new("RGB", (200, 100), photos.GREEN)
    arr = np.asarray(guest).copy()
    arr[:, 100:] = (200, 200, 190)  # a pale subject on the right half
    arr[:, 100:104] = (150, 215, 140)  # a green-tinted fringe (spill) at its edge
    out = np.asarray(chroma_key(Image.fromarray(arr), Image.new("RGB", (200, 100), (0, 0, 0))),
                     dtype=np.int16)
    row = out[50]
    # Soft: some pixels around the edge are neither fully background nor fully subject.
    assert any(10 < int(v) < 190 for v in row[95:106, 0])
    # Spill: nowhere in the subject does green exceed both other channels.
    subject = out[:, 100:]
    assert not np.any((subject[..., 1] > subject[..., 0] + 3) & (subject[..., 1] > subject[..., 2] + 3))


def test_provider_runs_and_needs_a_background() -> None:
    provider = LocalProvider()
    result = asyncio.run(provider.run(_job(photos.green_screen(400, 300), photos.background())))
    assert result.mime == "image/jpeg" and photos.decode(result.data).size == (400, 300)
    with pytest.raises(ProviderFailed) as err:
        asyncio.run(provider.run(_job(photos.green_screen(400, 300), None)))
    assert err.value.reason == "missing_reference"


# -- issue 17: the integer/tiled rewrite against the float algorithm it replaced ---------------


def float_reference(photo: Image.Image, background: Image.Image) -> np.ndarray:
    """The algorithm as the float version computed it (before issue 17), in float64: ramp on
    key-channel dominance, GaussianBlur(1.2) matte, spill clamp, cover-fit LANCZOS, +0.5."""
    bg = np.asarray(ImageOps.fit(background.convert("RGB"), photo.size, Image.Resampling.LANCZOS),
                    np.float64)
    if photo.mode in ("RGBA", "LA") or "transparency" in photo.info:
        rgba = np.asarray(photo.convert("RGBA"), np.float64)
        fg, alpha = rgba[..., :3], rgba[..., 3:] / 255
    else:
        fg = np.asarray(photo.convert("RGB"), np.float64).copy()
        border = np.concatenate([fg[:8].reshape(-1, 3), fg[-8:].reshape(-1, 3),
                                 fg[:, :8].reshape(-1, 3), fg[:, -8:].reshape(-1, 3)])
        r, g, b = border.T
        blue = np.mean(b - np.maximum(r, g)) > np.mean(g - np.maximum(r, b))
        key, (one, two) = (2, (0, 1)) if blue else (1, (0, 2))
        brighter = np.maximum(fg[..., one], fg[..., two])
        alpha = 1 - np.clip((fg[..., key] - brighter - KEY_LOW) / (KEY_HIGH - KEY_LOW), 0, 1)
        matte = Image.fromarray((alpha * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
        alpha = np.asarray(matte, np.float64)[..., None] / 255
        fg[..., key] = np.minimum(fg[..., key], brighter)
    return np.clip(fg * alpha + bg * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)


def _max_diff(image: Image.Image, expected: np.ndarray) -> int:
    assert image.mode == "RGB" and image.size == expected.shape[1::-1]
    return int(np.abs(np.asarray(image, np.int16) - expected.astype(np.int16)).max())


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _as_jpeg(pixels: np.ndarray) -> np.ndarray:
    """What the provider's answer of these pixels decodes to (JPEG q92, as it encodes)."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=92)
    return np.asarray(photos.decode(out.getvalue()), np.int16)


def _ramp_screen(width: int, height: int, seed: int = 3) -> Image.Image:
    """A worst case for the tiles: random pixels whose green dominance spans the whole soft
    ramp, so nearly every tile is an edge tile, on a clean screen border."""
    rng = np.random.default_rng(seed)
    arr = np.empty((height, width, 3), np.uint8)
    arr[..., 0] = rng.integers(20, 120, (height, width))
    arr[..., 2] = rng.integers(20, 120, (height, width))
    arr[..., 1] = np.clip(np.maximum(arr[..., 0], arr[..., 2]) + rng.integers(-20, 90, (height, width)),
                          0, 255)
    arr[:10], arr[-10:], arr[:, :10], arr[:, -10:] = photos.GREEN, photos.GREEN, photos.GREEN, photos.GREEN
    return Image.fromarray(arr)


KEYED = {
    "green": lambda w, h: photos.decode(photos.green_screen(w, h)),
    "blue": lambda w, h: photos.decode(photos.green_screen(w, h, screen=photos.BLUE)),
    "noisy green": lambda w, h: photos.decode(photos.green_screen(w, h, noise=True)),
    "ramp": _ramp_screen,
}


@pytest.mark.parametrize("size", [(1600, 1067), (161, 107)], ids=["1600x1067", "161x107"])
@pytest.mark.parametrize("name", list(KEYED))
def test_chroma_key_matches_the_float_algorithm_within_2_levels(name, size) -> None:
    photo, background = KEYED[name](*size), photos.decode(photos.background())
    assert _max_diff(chroma_key(photo, background), float_reference(photo, background)) <= 2


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (7, 5), (63, 65), (65, 129), (1601, 1067), (130, 1)])
def test_odd_sizes_match_the_float_algorithm(size) -> None:
    # Sizes that are not multiples of the tile, narrower than the 8-px border, one pixel.
    background = photos.decode(photos.background(97, 61))
    for name in ("noisy green", "blue", "ramp"):
        photo = KEYED[name](*size)
        assert _max_diff(chroma_key(photo, background), float_reference(photo, background)) <= 2
    photo = photos.decode(photos.png_with_alpha(*size))
    assert _max_diff(alpha_composite(photo, background), float_reference(photo, background)) <= 2


def _alpha_photos(width: int, height: int) -> dict[str, Image.Image]:
    rgba = photos.decode(photos.png_with_alpha(width, height))
    soft = rgba.copy()
    soft.putalpha(rgba.getchannel("A").filter(ImageFilter.GaussianBlur(4)))  # partial alpha too
    palette = rgba.convert("RGB").quantize(16)
    palette.info["transparency"] = palette.getpixel((0, 0))
    return {"RGBA": rgba, "RGBA soft edges": soft, "LA": soft.convert("LA"),
            "palette": photos.decode(_png(palette))}


@pytest.mark.parametrize("mode", ["RGBA", "RGBA soft edges", "LA", "palette"])
def test_alpha_pngs_match_the_float_algorithm(mode) -> None:
    background = photos.decode(photos.background())
    for size in ((1600, 1067), (161, 107)):
        photo = _alpha_photos(*size)[mode]
        assert _max_diff(alpha_composite(photo, background), float_reference(photo, background)) <= 2


@pytest.mark.parametrize("mode", ["RGBA", "LA", "palette"])
def test_provider_composites_alpha_pngs_by_their_alpha(mode) -> None:
    photo = _alpha_photos(400, 300)[mode]
    data = _png(photo)
    assert photos.decode(data).mode == {"RGBA": "RGBA", "LA": "LA", "palette": "P"}[mode]
    reference = photos.background()
    out = np.asarray(photos.decode(LocalProvider._composite(data, reference)), np.int16)
    expected = _as_jpeg(float_reference(photos.decode(data), photos.decode(reference)))
    # The same JPEG q92 encoder: pixels within ±2 before it stay within a few levels after.
    assert np.abs(out - expected).max() <= 8 and np.abs(out - expected).mean() < 0.5


def test_blue_screen_keys_blue_and_keeps_green_clothes() -> None:
    photo = Image.open(io.BytesIO(photos.green_screen(320, 200, screen=photos.BLUE))).convert("RGB")
    arr = np.asarray(photo).copy()
    arr[150:190, 150:170] = (40, 200, 60)  # a green scarf on the guest: not the screen here
    photo = Image.fromarray(arr)
    background = Image.new("RGB", (320, 200), (250, 20, 20))
    out = np.asarray(chroma_key(photo, background), np.int16)
    assert _max_diff(chroma_key(photo, background), float_reference(photo, background)) <= 2
    assert out[:20, :20, 0].min() > 200  # screen → background
    scarf = out[160:180, 155:165].reshape(-1, 3).mean(axis=0)
    assert scarf[1] > 150 and scarf[0] < 90  # kept green: spill only clamps the key channel


def test_detect_screen_accepts_uint8_arrays() -> None:
    # The rewrite hands detect_screen uint8 pixels. A uint8 subtraction would wrap around: on
    # this darker blue screen green's "dominance" 30 - 140 becomes 146, beating blue's 110.
    blue = np.zeros((50, 50, 3), np.uint8)
    blue[...] = (20, 30, 140)
    assert detect_screen(blue) == "blue"
    assert detect_screen(blue.astype(np.float32)) == "blue"
    assert detect_screen(np.asarray(Image.new("RGB", (30, 20), photos.GREEN))) == "green"


def test_one_composite_allocates_little_python_memory() -> None:
    """Peak memory tracemalloc sees (numpy arrays, bytes) during one 1600×1067 chroma key and
    one alpha composite. Measured: the float version 104 MiB (chroma key) and 98 MiB (alpha):
    several float32 copies of the whole photo; the rewrite 1.8 MiB (the uint8 matte, 1.6 MiB,
    and one band). Pillow's own image memory is not traced: the rewrite adds only the output
    image (the cover-fitted background) to the decoded photo there."""
    background = photos.decode(photos.background())
    for photo, compose in ((photos.decode(photos.green_screen(noise=True)), chroma_key),
                           (photos.decode(photos.png_with_alpha(1600, 1067)), alpha_composite)):
        compose(photo, background)  # warm: imports, lookup tables
        tracemalloc.start()
        try:
            compose(photo, background)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 4 * 2**20, f"{compose.__name__}: {peak / 2**20:.1f} MiB"


def _rotated_reference(orientation: int) -> tuple[bytes, Image.Image]:
    """A reference shown upright as red (left) | blue (right), 600×400, stored sideways with
    an EXIF orientation; returns the file and the upright picture."""
    upright = Image.new("RGB", (600, 400), (220, 30, 30))
    upright.paste((30, 30, 220), (300, 0, 600, 400))
    stored = upright.transpose({6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270,
                                3: Image.Transpose.ROTATE_180}[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    stored.save(out, format="JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue(), upright


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_reference_is_used_upright(orientation) -> None:
    reference, upright = _rotated_reference(orientation)
    assert photos.decode(reference).size != upright.size or orientation == 3
    screen_only = Image.new("RGB", (300, 200), photos.GREEN)  # all screen: the output is the bg
    out = np.asarray(photos.decode(LocalProvider._composite(_png(screen_only), reference)), np.int16)
    assert out.shape == (200, 300, 3)
    left, right = out[:, 20:130].reshape(-1, 3).mean(axis=0), out[:, 170:280].reshape(-1, 3).mean(axis=0)
    assert left[0] > 180 and left[2] < 70 and right[2] > 180 and right[0] < 70


def test_fitted_background_cache_follows_the_reference_and_is_not_written_to() -> None:
    photo = photos.green_screen(400, 300, noise=True)
    beach, red = photos.background(), photos.background(color=(200, 30, 30))
    first = LocalProvider._composite(photo, beach)
    assert LocalProvider._composite(photo, beach) == first  # from the cache, same bytes
    other = LocalProvider._composite(photo, red)
    assert other != first
    assert LocalProvider._composite(photo, beach) == first  # the cached canvas stayed clean
    expected = _as_jpeg(float_reference(photos.decode(photo), photos.decode(red)))
    assert np.abs(np.asarray(photos.decode(other), np.int16) - expected).max() <= 8
