from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from gpu_jobs.errors import InvalidRequest
from gpu_jobs.image_edit import QwenImageEditor

pytestmark = pytest.mark.gpu_models

FAST = {"size": (32, 32), "steps": 2}


@pytest.fixture(scope="module")
def editor(qwen_edit_dir) -> QwenImageEditor:
    runner = QwenImageEditor(
        str(qwen_edit_dir), device="cpu", condition_image_size=32 * 32, vae_image_size=32 * 32
    )
    runner.load()
    return runner


def sizes(outputs: list[bytes]) -> list[tuple[int, int]]:
    return [Image.open(io.BytesIO(data)).size for data in outputs]


def test_load_is_idempotent_and_unload_frees(qwen_edit_dir) -> None:
    runner = QwenImageEditor(str(qwen_edit_dir), device="cpu", lightning_lora="")
    assert not runner.loaded
    runner.load()
    pipe = runner._pipe
    runner.load()
    assert runner._pipe is pipe and runner.loaded
    runner.unload()
    assert not runner.loaded


def test_edit_one_image_returns_png(editor, photos) -> None:
    out = editor.edit([photos[0]], "make it blue", seed=1, **FAST)
    assert len(out) == 1 and out[0].startswith(b"\x89PNG")
    assert sizes(out) == [(32, 32)]


def test_edit_three_images_condition_one_output_set(editor, photos) -> None:
    out = editor.edit(photos, "person of picture 1 in scene 2", n=2, seed=1, **FAST)
    assert len(out) == 2
    assert sizes(out) == [(32, 32), (32, 32)]


def test_true_cfg_with_negative_prompt_runs(editor, photos) -> None:
    out = editor.edit([photos[0]], "x", negative_prompt="blurry", true_cfg_scale=4.0, seed=3, **FAST)
    assert len(out) == 1


def test_same_seed_same_bytes_other_seed_other_bytes(editor, photos) -> None:
    first = editor.edit(photos[:2], "a hat", n=2, seed=7, **FAST)
    again = editor.edit(photos[:2], "a hat", n=2, seed=7, **FAST)
    other = editor.edit(photos[:2], "a hat", n=2, seed=8, **FAST)
    assert first == again
    assert first != other
    assert first[0] != first[1]  # the n variants differ


@pytest.mark.parametrize("strategy", ["per_input", "per_output"])
def test_edit_each_gives_n_variants_per_input(editor, photos, strategy) -> None:
    out = editor.edit_each(photos, "enhance colors", n=2, seed=0, strategy=strategy, **FAST)
    assert len(out) == 6
    assert editor.edit_each(photos, "enhance colors", n=2, seed=0, strategy=strategy, **FAST) == out


def test_edit_each_strategies_timing(editor, photos) -> None:
    """Measures both strategies (3 inputs × n=2); per_input must not be the slower one by
    much. Medians are printed for the report (`pytest -s`)."""
    timings: dict[str, list[float]] = {"per_input": [], "per_output": []}
    for _ in range(3):
        for strategy in timings:
            start = time.perf_counter()
            editor.edit_each(photos, "x", n=2, seed=0, strategy=strategy, **FAST)
            timings[strategy].append(time.perf_counter() - start)
    med = {k: sorted(v)[1] for k, v in timings.items()}
    print(f"\nedit_each 3 inputs × n=2, 2 steps, tiny CPU: {med}")
    assert med["per_input"] <= med["per_output"] * 1.5


@pytest.mark.parametrize(
    ("images", "kwargs", "message"),
    [
        ([], {}, "at least one image"),
        ([b"x"] * 4, {}, "at most 3"),
        ([b"not an image"], {}, "not a readable image"),
        ([b"x"], {"n": 0}, "n must be"),
    ],
)
def test_bad_requests_are_invalid_request(editor, images, kwargs, message) -> None:
    with pytest.raises(InvalidRequest, match=message):
        editor.edit(images, "x", **kwargs)


def test_lightning_defaults_force_steps_and_no_cfg(qwen_edit_dir) -> None:
    runner = QwenImageEditor(str(qwen_edit_dir), device="cpu", lightning_lora="some/repo::w.safetensors")
    assert runner._resolve_steps_cfg(None, None) == (8, 1.0)
    assert runner._resolve_steps_cfg(4, None) == (4, 1.0)
    plain = QwenImageEditor(str(qwen_edit_dir), device="cpu", lightning_lora="")
    assert plain._resolve_steps_cfg(None, None) == (50, 4.0)
