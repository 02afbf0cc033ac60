"""Local: a photo without a green or blue screen is a named failure, decided by how much of
the photo's edges the key takes (MIN_SCREEN_EDGE_SHARE), and a slot's key tolerance moves
how much is keyed. Measured on the photos of tests/helpers/photos.py."""

from __future__ import annotations

import asyncio
import io
import time

import numpy as np
import pytest
from PIL import Image

from shared.domain import DEFAULT_KEY_TOLERANCE, ProcessingType
from shared.errors import ProviderFailed
from shared.images import load_rgb
from shared.providers.base import ProviderJob
from shared.providers.local import (
    KEY_HIGH,
    KEY_LOW,
    MIN_SCREEN_EDGE_SHARE,
    NO_SCREEN,
    LocalProvider,
    _Matte,
    key_thresholds,
)
from tests.helpers import photos

RED = (230, 20, 20)


def _red_background() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), RED).save(out, format="JPEG", quality=95)
    return out.getvalue()


def _job(photo: bytes, tolerance: int = DEFAULT_KEY_TOLERANCE) -> ProviderJob:
    size = Image.open(io.BytesIO(photo)).size
    return ProviderJob(job_id="j", tenant="acme", slot_index=1, type=ProcessingType.BACKGROUND,
                       prompt="", photo=photo, photo_mime="image/jpeg", photo_size=size,
                       deadline=time.monotonic() + 30, reference=_red_background(),
                       reference_mime="image/jpeg", key_tolerance=tolerance)


SCREENS = {  # a guest before a screen: the booth gets a composite
    "green screen": photos.green_screen(),
    "blue screen": photos.green_screen(screen=photos.BLUE),
    "close-up": photos.close_up(),
    "blue close-up": photos.close_up(screen=photos.BLUE),
    "one-side lit screen": photos.unevenly_lit_screen(),
}
NO_SCREENS = {  # nobody set up a screen: a local_no_screen failure
    "plain photo": photos.plain_photo(),
    "green balloon": photos.plain_photo(balloon=True),
    "green sweater": photos.plain_photo(clothes=photos.GREEN),
}


def test_the_threshold_separates_screens_from_green_things(capsys) -> None:
    shares = {}
    for name, data in {**SCREENS, **NO_SCREENS}.items():
        matte = _Matte.of(load_rgb(data), None, DEFAULT_KEY_TOLERANCE)
        shares[name] = (matte.edge_share, matte.keyed_share)
    with capsys.disabled():  # the measurements MIN_SCREEN_EDGE_SHARE's comment cites
        print("\nkeyed share at the default tolerance: edges / whole frame")
        for name, (edge, frame) in shares.items():
            print(f"  {name:22} {edge:6.1%} {frame:6.1%}")
    for name in SCREENS:
        assert shares[name][0] >= MIN_SCREEN_EDGE_SHARE + 0.1, name  # with room to spare
    for name in NO_SCREENS:
        assert shares[name][0] <= MIN_SCREEN_EDGE_SHARE - 0.15, name
    # Why the edges and not the whole frame: the sweater fills more of it than a close-up's
    # screen does.
    assert shares["green sweater"][1] > 0.2 and shares["close-up"][1] < 0.4
    assert shares["green balloon"][1] > 0.01  # the balloon is keyed, it is just no screen


@pytest.mark.parametrize("name", list(SCREENS))
def test_a_photo_with_a_screen_is_composited(name) -> None:
    out = asyncio.run(LocalProvider().run(_job(SCREENS[name])))
    arr = np.asarray(photos.decode(out.data).convert("RGB"), np.int16)
    corner = arr[:40, :40].reshape(-1, 3).mean(axis=0)
    assert corner[0] > 180 and corner[1] < 60, f"{name}: the screen was not replaced: {corner}"


@pytest.mark.parametrize("name", list(NO_SCREENS))
def test_a_photo_without_a_screen_is_a_named_failure(name) -> None:
    with pytest.raises(ProviderFailed) as caught:
        asyncio.run(LocalProvider().run(_job(NO_SCREENS[name])))
    assert caught.value.reason == NO_SCREEN == "local_no_screen"
    assert str(caught.value).startswith("no green or blue screen found in the photo (")
    assert "key tolerance" in str(caught.value)


def test_a_cut_out_png_needs_no_screen() -> None:
    job = _job(photos.png_with_alpha(400, 500))
    out = asyncio.run(LocalProvider().run(job))
    assert out.mime == "image/jpeg"


def test_the_default_tolerance_keys_as_before() -> None:
    assert key_thresholds(DEFAULT_KEY_TOLERANCE) == (KEY_LOW, KEY_HIGH) == (18.0, 70.0)
    assert key_thresholds(100) == (9.0, 35.0) and key_thresholds(0) == (36.0, 140.0)


def _background_pixels(data: bytes) -> int:
    """Output pixels that show the red background (the key took them)."""
    arr = np.asarray(photos.decode(data).convert("RGB"), np.int16)
    return int(np.count_nonzero((np.abs(arr - RED) < 40).all(axis=-1)))


def test_a_higher_tolerance_keys_more_of_an_unevenly_lit_screen() -> None:
    photo = photos.unevenly_lit_screen(800, 533)
    provider = LocalProvider()
    keyed = []
    for tolerance in (0, 25, 50, 75, 100):
        preview = asyncio.run(provider.preview(photo, _red_background(), tolerance))
        keyed.append((_background_pixels(preview.data), preview.keyed_share))
    counts = [count for count, _ in keyed]
    assert counts == sorted(counts) and len(set(counts)) == len(counts), keyed
    # The screen's pale right side: kept at 0, keyed at 100 (a quarter of the frame or more).
    assert (counts[-1] - counts[0]) / (800 * 533) > 0.25, keyed
    # The guest stays: a higher tolerance takes screen, not the skin-coloured face.
    face = np.asarray(photos.decode(asyncio.run(provider.preview(
        photo, _red_background(), 100)).data).convert("RGB"), np.int16)[170, 400]
    assert abs(int(face[0]) - photos.SKIN[0]) < 30 and face[1] > 120, face


def test_tolerance_moves_the_no_screen_decision() -> None:
    # A blue sky is a blue screen to a chroma key: at the default tolerance this pale sky is
    # not keyed enough to count, at the top of the range it is.
    sky = photos.beach_snapshot()
    low = asyncio.run(LocalProvider().preview(sky, _red_background(), DEFAULT_KEY_TOLERANCE))
    high = asyncio.run(LocalProvider().preview(sky, _red_background(), 100))
    assert not low.screen_found and high.screen_found
    assert low.data[:3] == b"\xff\xd8\xff"  # the preview shows the composite either way
    with pytest.raises(ProviderFailed):
        asyncio.run(LocalProvider().run(_job(sky)))
    assert asyncio.run(LocalProvider().run(_job(sky, tolerance=100))).data[:3] == b"\xff\xd8\xff"
