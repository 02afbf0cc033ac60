from __future__ import annotations

import io
import time

import pytest
import torch
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


def transformer_passes(runner: QwenImageEditor) -> list[int]:
    """A list that grows by one for every forward pass of the runner's denoiser."""
    passes: list[int] = []
    runner._pipe.transformer.register_forward_pre_hook(lambda module, args: passes.append(1))
    return passes


@pytest.fixture(scope="module")
def lightning(qwen_edit_dir, lightning_lora) -> QwenImageEditor:
    runner = QwenImageEditor(str(qwen_edit_dir), device="cpu", lightning_lora=lightning_lora,
                             condition_image_size=32 * 32, vae_image_size=32 * 32)
    runner.load()
    return runner


def test_lightning_lora_is_fused_then_unloaded_with_its_scheduler(lightning, editor) -> None:
    from peft.tuners.tuners_utils import BaseTunerLayer

    from gpu_jobs.image_edit import LIGHTNING_SCHEDULER_CONFIG

    assert lightning.fast_path and not editor.fast_path
    transformer = lightning._pipe.transformer
    assert not any(isinstance(m, BaseTunerLayer) for m in transformer.modules())  # unloaded
    assert not getattr(transformer, "peft_config", None)
    fused = transformer.transformer_blocks[0].attn.to_q.weight
    plain = editor._pipe.transformer.transformer_blocks[0].attn.to_q.weight
    assert not torch.equal(fused, plain)  # ...and its delta stays in the weights
    config = lightning._pipe.scheduler.config
    assert {k: config[k] for k in LIGHTNING_SCHEDULER_CONFIG} == LIGHTNING_SCHEDULER_CONFIG


def test_calls_without_steps_follow_the_loaded_fast_path(lightning, editor, photos) -> None:
    """A booth call sends no steps / CFG: 8 steps without true CFG (8 denoiser passes) when
    the LoRA is fused; the base model's 50 steps with CFG 4 otherwise."""
    passes = transformer_passes(lightning)
    lightning.edit(photos[:2], "person of picture 1 in scene 2", negative_prompt="blurry", size=(32, 32))
    assert len(passes) == 8
    passes.clear()
    lightning.edit_each(photos[:2], "x", size=(32, 32))
    assert len(passes) == 16  # 2 inputs × 8
    assert editor._resolve_steps_cfg(None, None) == (50, 4.0)


def test_a_clients_steps_and_cfg_are_kept_on_the_fast_path(lightning, photos) -> None:
    passes = transformer_passes(lightning)
    lightning.edit([photos[0]], "x", negative_prompt="blurry", size=(32, 32), steps=3, true_cfg_scale=4.0)
    assert len(passes) == 6  # 3 steps × 2 (true CFG)
    assert lightning._resolve_steps_cfg(20, 2.5) == (20, 2.5)


def test_a_lora_whose_weights_are_absent_leaves_the_base_defaults(qwen_edit_dir, tmp_path) -> None:
    from gpu_jobs.image_edit import LIGHTNING_SCHEDULER_CONFIG

    missing = f"{tmp_path}::missing.safetensors"
    runner = QwenImageEditor(str(qwen_edit_dir), device="cpu", lightning_lora=missing)
    runner.load()
    assert not runner.fast_path
    assert runner._resolve_steps_cfg(None, None) == (50, 4.0)
    assert runner._pipe.scheduler.config["base_shift"] != LIGHTNING_SCHEDULER_CONFIG["base_shift"]


def test_weights_are_loaded_straight_to_the_device(qwen_edit_dir, lightning_lora, monkeypatch) -> None:
    """diffusers' device_map allocates every weight on the runner's device (accelerate places
    each tensor as it is read); the pipeline is never built elsewhere and moved with `.to()`,
    and the LoRA is fused there."""
    from diffusers import DiffusionPipeline

    moved: list[tuple] = []
    original = DiffusionPipeline.to

    def spy(self, *args, **kwargs):
        moved.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DiffusionPipeline, "to", spy)
    runner = QwenImageEditor(str(qwen_edit_dir), device="cpu", lightning_lora=lightning_lora)
    runner.load()
    assert runner.fast_path and moved == []
    assert runner._pipe.hf_device_map == "cpu"
    assert {p.device.type for p in runner._pipe.transformer.parameters()} == {"cpu"}


def decoder_batches(runner: QwenImageEditor) -> list[int]:
    batches: list[int] = []
    runner._pipe.vae.decoder.register_forward_pre_hook(lambda m, args: batches.append(args[0].shape[0]))
    return batches


def test_the_vae_decodes_n_outputs_one_at_a_time(editor, photos) -> None:
    batches = decoder_batches(editor)
    assert len(editor.edit([photos[0]], "x", n=3, seed=1, **FAST)) == 3
    assert batches == [1, 1, 1]


def test_large_outputs_decode_in_tiles(qwen_edit_dir, photos) -> None:
    runner = QwenImageEditor(str(qwen_edit_dir), device="cpu", lightning_lora="off",
                             condition_image_size=32 * 32, vae_image_size=32 * 32, vae_tile_area=48 * 48)
    runner.load()
    vae = runner._pipe.vae
    vae.enable_tiling(tile_sample_min_height=32, tile_sample_min_width=32,
                      tile_sample_stride_height=16, tile_sample_stride_width=16)
    tiled: list[tuple[int, ...]] = []
    original = vae.tiled_decode
    vae.tiled_decode = lambda z, *a, **k: (tiled.append(tuple(z.shape)), original(z, *a, **k))[1]
    runner.edit([photos[0]], "x", size=(32, 32), steps=1, seed=0)
    assert tiled == []  # at or under the tile area: one pass
    out = runner.edit([photos[0]], "x", size=(64, 64), steps=1, seed=0)
    assert len(tiled) == 1 and sizes(out) == [(64, 64)]


def test_the_reference_can_condition_on_a_smaller_vae_area(qwen_edit_dir, photos) -> None:
    runner = QwenImageEditor(str(qwen_edit_dir), device="cpu", lightning_lora="off",
                             condition_image_size=32 * 32, vae_image_size=64 * 64,
                             reference_vae_image_size=32 * 32)
    runner.load()
    encoded: list[int] = []
    runner._pipe.vae.encoder.register_forward_pre_hook(
        lambda m, args: encoded.append(args[0].shape[-1] * args[0].shape[-2]))
    out = runner.edit(photos[:2], "x", size=(48, 32), steps=1, seed=0)
    assert sizes(out) == [(48, 32)]  # the output keeps its own size
    assert encoded == [64 * 64, 32 * 32]  # guest at the VAE area, the reference smaller
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus as plus

    assert plus.VAE_IMAGE_SIZE == 1024 * 1024 and plus.calculate_dimensions.__module__ == plus.__name__


def test_warm_up_runs_one_edit(qwen_edit_dir) -> None:
    runner = QwenImageEditor(str(qwen_edit_dir), device="cpu", lightning_lora="off",
                             condition_image_size=32 * 32, vae_image_size=32 * 32)
    runner.load()
    passes = transformer_passes(runner)
    runner.warm_up()
    assert len(passes) == 4  # 2 steps × true CFG: the kernels of both branches ran


def test_memory_bytes_counts_the_loaded_weights(editor) -> None:
    expected = sum(p.numel() * p.element_size() for p in editor._pipe.transformer.parameters())
    assert editor.memory_bytes() > expected > 0


def test_speed_options_are_off_by_default_and_applied_when_set(qwen_edit_dir, editor) -> None:
    """The attention backend and regional compile are settings (off until measured on a GPU):
    unset, the denoiser keeps diffusers' defaults; set, `load()` applies them."""
    def backends(runner):
        return {getattr(m.processor, "_attention_backend", None)
                for m in runner._pipe.transformer.modules() if hasattr(m, "processor")}

    def compiled(runner):
        return [b._compiled_call_impl is not None for b in runner._pipe.transformer.transformer_blocks]

    assert editor.attention_backend == "" and not editor.compile_blocks
    assert backends(editor) == {None} and not any(compiled(editor))
    fast = QwenImageEditor(str(qwen_edit_dir), device="cpu", lightning_lora="off",
                           attention_backend="native", compile_blocks=True)
    fast.load()  # compiled blocks compile on their first call: not run here (CPU, no compiler)
    from diffusers.models.attention_dispatch import AttentionBackendName

    assert backends(fast) == {AttentionBackendName.NATIVE} and all(compiled(fast))
    fast.unload()
