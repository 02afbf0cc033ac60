"""The CPU chroma key: screen colour detection, soft edges, spill suppression."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from PIL import Image

from shared.domain import ProcessingType
from shared.errors import ProviderFailed
from shared.providers.base import ProviderJob
from shared.providers.local import LocalProvider, chroma_key, detect_screen
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
