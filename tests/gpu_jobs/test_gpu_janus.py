from __future__ import annotations

import io

import pytest
from PIL import Image

from gpu_jobs.janus import JanusGenerator
from tests.helpers.tiny_models import JANUS_IMAGE_SIZE, JANUS_PATCH

pytestmark = pytest.mark.gpu_models


@pytest.fixture(scope="module")
def janus(janus_dir) -> JanusGenerator:
    runner = JanusGenerator(str(janus_dir), device="cpu")
    runner.load()
    return runner


def test_describe_returns_text(janus, photos) -> None:
    text = janus.describe(photos[0], max_tokens=4)
    assert isinstance(text, str)


def test_generate_images_seeded(janus) -> None:
    out = janus.generate("a red fox in snow", n=2, seed=5)
    assert len(out) == 2
    # the tiny VQ decoder upsamples the 4×4 token grid ×2
    side = (JANUS_IMAGE_SIZE // JANUS_PATCH) * 2
    assert [Image.open(io.BytesIO(b)).size for b in out] == [(side, side)] * 2
    assert janus.generate("a red fox in snow", n=2, seed=5) == out
    assert janus.generate("a red fox in snow", n=2, seed=6) != out


def test_generate_from_photo_returns_requested_size(janus, photos) -> None:
    out = janus.generate_from_photo(photos[1], "an astronaut portrait", (120, 90), seed=1)
    with Image.open(io.BytesIO(out)) as img:
        assert img.format == "PNG" and img.size == (120, 90)


def test_unload(janus_dir) -> None:
    runner = JanusGenerator(str(janus_dir), device="cpu")
    runner.load()
    assert runner.loaded
    runner.unload()
    assert not runner.loaded
