from __future__ import annotations

import pytest

from gpu_jobs.errors import InvalidRequest, ModelUnavailable, UnsupportedTask
from gpu_jobs.vision_models import VISION_MODELS, build_runner, get_spec, resolve_source

pytestmark = pytest.mark.gpu_models

SEED_IDS = {"got_ocr", "qwen_vl_2b", "qwen_vl_7b", "qwen3_vl_2b", "qwen3_vl_4b", "qwen3_vl_8b", "dots_ocr"}


def test_registry_has_the_seed_ids() -> None:
    assert set(VISION_MODELS) == SEED_IDS
    assert VISION_MODELS["qwen3_vl_8b"].checkpoint == "Qwen/Qwen3-VL-8B-Instruct"
    assert VISION_MODELS["qwen_vl_7b"].checkpoint == "Qwen/Qwen2-VL-7B-Instruct"
    assert VISION_MODELS["got_ocr"].checkpoint == "stepfun-ai/GOT-OCR-2.0-hf"


def test_dots_ocr_is_unavailable_with_reason() -> None:
    assert "trust_remote_code" in VISION_MODELS["dots_ocr"].unavailable
    with pytest.raises(ModelUnavailable, match="not supported natively by transformers"):
        get_spec("dots_ocr")
    with pytest.raises(InvalidRequest, match="unknown"):
        get_spec("gpt-9")


def test_sources_dir_then_hub(vision_dir, tmp_path) -> None:
    assert resolve_source("qwen3_vl_2b", model_dir=vision_dir) == str(vision_dir / "qwen3_vl_2b")
    assert resolve_source("qwen3_vl_4b", model_dir=vision_dir) == "Qwen/Qwen3-VL-4B-Instruct"
    assert resolve_source("qwen3_vl_4b", sources={"qwen3_vl_4b": "/x"}) == "/x"


@pytest.fixture(scope="module")
def runners(vision_dir):
    built = {
        mid: build_runner(mid, model_dir=vision_dir, device="cpu")
        for mid in ("qwen3_vl_2b", "qwen_vl_2b", "got_ocr")
    }
    yield built
    for runner in built.values():
        runner.unload()


@pytest.mark.parametrize("model_id", ["qwen3_vl_2b", "qwen_vl_2b"])
def test_qwen_vl_chats_about_two_images(runners, photos, model_id) -> None:
    runner = runners[model_id]
    text = runner.chat(photos[:2], "What differs between these?", max_tokens=4, seed=1)
    assert isinstance(text, str)
    assert runner.loaded
    # seeded sampling is reproducible
    assert runner.chat(photos[:2], "What differs?", max_tokens=4, seed=3) == runner.chat(
        photos[:2], "What differs?", max_tokens=4, seed=3
    )


@pytest.mark.parametrize("model_id", ["qwen3_vl_2b", "qwen_vl_2b"])
def test_qwen_vl_pixel_budget_changes_the_vision_tokens(runners, photos, model_id) -> None:
    runner = runners[model_id]
    text = runner.chat([photos[0]], "x", max_tokens=2, temperature=0, min_pixels=28 * 28, max_pixels=64 * 64)
    assert isinstance(text, str)
    with pytest.raises(InvalidRequest):
        runner.chat([photos[0]], "x", max_tokens=2, min_pixels=10_000, max_pixels=100)


@pytest.mark.parametrize("model_id", ["qwen3_vl_2b", "qwen_vl_2b"])
def test_max_pixels_bounds_what_the_model_sees(runners, model_id) -> None:
    """A 2400×1800 photo (4.3 MP) reaches the model as at most `max_pixels` pixels of
    patches: seed 000's default cap keeps it near 4 MP, a small cap far below."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (2400, 1800), (120, 60, 30)).save(buf, format="JPEG")
    runner = runners[model_id]

    def pixels(**bounds) -> int:
        grid = runner.encode([buf.getvalue()], "Read the text.", **bounds)["image_grid_thw"][0]
        patch = runner._processor.image_processor.patch_size
        return int(grid[1] * grid[2]) * patch * patch

    assert pixels(max_pixels=65536) <= 65536
    assert 4 * 65536 < pixels(max_pixels=4194304) <= 4194304
    assert isinstance(runner.ocr(buf.getvalue(), max_tokens=2, max_pixels=65536), str)


@pytest.mark.parametrize("model_id", ["qwen3_vl_2b", "qwen_vl_2b", "got_ocr"])
def test_ocr(runners, photos, model_id) -> None:
    text = runners[model_id].ocr(photos[0], "Russian", max_tokens=4)
    assert isinstance(text, str)


def test_got_ocr_refuses_chat(runners, photos) -> None:
    with pytest.raises(UnsupportedTask, match="only does OCR"):
        runners["got_ocr"].chat(photos[:2], "hi")


@pytest.mark.parametrize("model_id", ["qwen3_vl_2b", "qwen_vl_2b"])
def test_without_a_bound_an_image_is_capped_at_4_mp(runners, model_id, monkeypatch) -> None:
    """The checkpoints' processors allow 16.7 MP an image; a request with no max_pixels (a
    direct Modal call, an old client) still reaches the model as at most 4 MP."""
    import io

    from PIL import Image

    from gpu_jobs._qwen_vl_chat import DEFAULT_MAX_PIXELS

    runner = runners[model_id]
    runner.load()
    processor = runner._processor.image_processor
    from transformers.image_utils import SizeDict

    unbounded = SizeDict(**{**dict(processor.size), "longest_edge": 16_777_216})
    monkeypatch.setattr(processor, "size", unbounded)  # what the real checkpoints ship
    buf = io.BytesIO()
    Image.new("RGB", (2400, 1800), (120, 60, 30)).save(buf, format="JPEG")
    grid = runner.encode([buf.getvalue()], "Read the text.")["image_grid_thw"][0]
    pixels = int(grid[1] * grid[2]) * processor.patch_size ** 2
    assert 2_000_000 < pixels <= DEFAULT_MAX_PIXELS


def test_vision_runners_warm_up(runners) -> None:
    for runner in runners.values():
        runner.warm_up()
        assert runner.loaded
