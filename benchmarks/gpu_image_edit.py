"""Qwen-Image-Edit-2509 latency on one GPU, with full-size random bf16 weights (no download).

Random weights cost the same FLOPs as the real ones, so seconds per image and peak memory
are the real numbers (image quality is noise, of course). Components are built from the
real configs hard-coded below; the tokenizer is a byte-level stand-in (prompts become a
few hundred tokens, as real ones do after the pipeline's long system template).

    python benchmarks/gpu_image_edit.py            # CUDA, 1024², takes a few minutes
    python benchmarks/gpu_image_edit.py --quick    # skip the 40-step n=4 case
    python benchmarks/gpu_image_edit.py --tiny     # same code path, tiny configs, CPU,
                                                   # steps ÷ 8 (smoke test, ~10 s)
    ... --json figures.json                        # the figures, for gpu_smoke.sh
    ... --attention-backend NAME / --compile / --reference-vae-area PIXELS   # speed options

Every case runs through gpu_jobs.image_edit.QwenImageEditor (PNG bytes out), after one
warm-up call. Ratios are against the 8-step, cfg 1, n=1 baseline of the same run.

The booth cases are what a Qwen booth slot sends: a 3:2 guest photo plus a reference, one
output at the guest's aspect ratio (~1 MP, `shared.providers.qwen.output_size`), no steps
or CFG given, so the runner's defaults apply: the Lightning fast path (8 steps, no true CFG;
random weights stand in for the fused LoRA, same FLOPs) beside the base model's 50 steps with
true CFG 4. Three booth requests sent at once show what a queue costs each guest (one GPU,
one call at a time). Peak GPU memory per case and the model build time are reported too.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/gpu_image_edit.py` from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from PIL import Image

# --- real configs (Qwen/Qwen-Image-Edit-2509) --------------------------------------------
TRANSFORMER_CONFIG = {
    "patch_size": 2,
    "in_channels": 64,
    "out_channels": 16,
    "num_layers": 60,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 3584,
    "guidance_embeds": False,
    "axes_dims_rope": (16, 56, 56),
}
VAE_CONFIG = {  # AutoencoderKLQwenImage defaults are the released VAE (Wan 2.1 latents stats)
    "base_dim": 96,
    "z_dim": 16,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "dropout": 0.0,
}
TEXT_CONFIG = {  # Qwen2.5-VL-7B-Instruct language model
    "vocab_size": 152064,
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "max_position_embeddings": 128000,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
}
VISION_CONFIG = {  # Qwen2.5-VL-7B-Instruct vision tower
    "depth": 32,
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "out_hidden_size": 3584,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
    "tokens_per_second": 2,
}

# --- tiny configs (same structure, CPU-sized) --------------------------------------------
TINY_TRANSFORMER = {
    "patch_size": 2,
    "in_channels": 16,
    "out_channels": 4,
    "num_layers": 2,
    "attention_head_dim": 16,
    "num_attention_heads": 3,
    "joint_attention_dim": 16,
    "axes_dims_rope": (8, 4, 4),
}
TINY_VAE = {
    "base_dim": 24,
    "z_dim": 4,
    "dim_mult": [1, 2, 4],
    "num_res_blocks": 1,
    "temperal_downsample": [False, True],
    "latents_mean": [0.0] * 4,
    "latents_std": [1.0] * 4,
}
TINY_TEXT = {
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": 1024,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [1, 1, 2]},
}
TINY_VISION = {
    "depth": 2,
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_heads": 2,
    "out_hidden_size": 16,
    "fullatt_block_indexes": [1],
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
}

QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
PROMPT = (
    "Place the person from picture 1 into the scene of picture 2, keep their face, hair and "
    "clothes, match the lighting, photorealistic, high detail"
)


@dataclass(frozen=True)
class Case:
    label: str
    steps: int
    cfg: float
    n: int
    inputs: int
    each: str | None = None  # None: multi-image conditioned edit; else edit_each strategy
    booth: bool = False  # a 3:2 guest + a reference, output at the guest's aspect ratio


BOOTH_FAST = Case("booth: guest 3:2 + reference, 8 steps, cfg 1 (Lightning)", 8, 1.0, 1, 2, booth=True)
BOOTH_BASE = Case("booth: guest 3:2 + reference, 50 steps, cfg 4 (base)", 50, 4.0, 1, 2, booth=True)
CONCURRENT = 3  # booth requests sent at once

CASES = [  # the first is the baseline: a single 1024² edit on the Lightning fast path
    Case("8 steps, cfg 1, n=1, 1 input (baseline)", 8, 1.0, 1, 1),
    Case("8 steps, cfg 1, n=4, 1 input", 8, 1.0, 4, 1),
    Case("40 steps, cfg 4, n=1, 1 input", 40, 4.0, 1, 1),
    Case("40 steps, cfg 4, n=4, 1 input", 40, 4.0, 4, 1),
    Case("8 steps, cfg 1, n=1, 3 inputs (joint)", 8, 1.0, 1, 3),
    Case("8 steps, cfg 1, 3 inputs × n=2, per_input", 8, 1.0, 2, 3, each="per_input"),
    Case("8 steps, cfg 1, 3 inputs × n=2, per_output", 8, 1.0, 2, 3, each="per_output"),
    BOOTH_FAST,
    BOOTH_BASE,
]


def byte_tokenizer():
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import Qwen2Tokenizer

    vocab = {c: i for i, c in enumerate(sorted(ByteLevel.alphabet()))}
    tok = Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tok.add_tokens(QWEN_SPECIAL_TOKENS, special_tokens=True)
    return tok


def build_pipeline(*, tiny: bool, device: torch.device, dtype: torch.dtype):
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImageEditPlusPipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLProcessor

    from gpu_jobs._common import _without_video_check

    tok = byte_tokenizer()
    ids = {
        name: tok.convert_tokens_to_ids(tokn)
        for name, tokn in [
            ("image_token_id", "<|image_pad|>"),
            ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>"),
        ]
    }
    text = dict(TINY_TEXT if tiny else TEXT_CONFIG)
    text.setdefault("vocab_size", len(tok))
    text.update(
        bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
    )
    te_config = Qwen2_5_VLConfig(
        text_config=text, vision_config=TINY_VISION if tiny else VISION_CONFIG, **ids
    )
    previous = torch.get_default_dtype()
    torch.manual_seed(0)
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):  # allocate straight on the GPU: no 54 GiB host copy
            text_encoder = Qwen2_5_VLForConditionalGeneration(te_config).eval()
            transformer = QwenImageTransformer2DModel(**(TINY_TRANSFORMER if tiny else TRANSFORMER_CONFIG))
            vae = AutoencoderKLQwenImage(**(TINY_VAE if tiny else VAE_CONFIG))
    finally:
        torch.set_default_dtype(previous)
    from transformers import Qwen2VLImageProcessor

    processor = _without_video_check(Qwen2VLProcessor)(
        image_processor=Qwen2VLImageProcessor(), tokenizer=tok, video_processor=None
    )
    pipe = QwenImageEditPlusPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tok,
        processor=processor,
        transformer=transformer,
    )
    return pipe.to(device)


def photo(size: int | tuple[int, int], seed: int) -> bytes:
    width, height = (size, size) if isinstance(size, int) else size
    gen = torch.Generator().manual_seed(seed)
    pixels = (torch.rand(height, width, 3, generator=gen) * 255).to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def output_size(photo_size: tuple[int, int], area: int = 1024 * 1024, multiple: int = 32) -> tuple[int, int]:
    """The booth's output size for a guest photo: its aspect ratio at ~1 MP, multiples of 32.
    The rule of shared.providers.qwen.output_size, repeated so the GPU machine needs only the
    GPU stack (tests/gpu_jobs/test_gpu_benchmark.py checks they agree)."""
    width, height = photo_size
    ratio = width / max(1, height)
    target_w = math.sqrt(area * ratio)
    return (max(multiple, round(target_w / multiple) * multiple),
            max(multiple, round(target_w / ratio / multiple) * multiple))


@dataclass
class Result:
    label: str
    seconds: float
    per_image: float
    peak_gib: float | None  # None off CUDA
    outputs: int


def run(tiny: bool, quick: bool, repeats: int, *, attention_backend: str | None = None,
        compile_blocks: bool = False, reference_vae_area: int | None = None) -> dict:
    from gpu_jobs.image_edit import QwenImageEditor

    device = torch.device("cpu" if tiny else "cuda")
    if tiny:
        torch.set_num_threads(1)  # tiny ops: threads only add contention
    if not tiny and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --tiny for the CPU smoke test")
    dtype = torch.float32 if tiny else torch.bfloat16
    side = 32 if tiny else 1024
    t0 = time.perf_counter()
    pipe = build_pipeline(tiny=tiny, device=device, dtype=dtype)
    area = {"condition_image_size": 32 * 32, "vae_image_size": 32 * 32} if tiny else {}
    # fast_path: the runner's defaults are Lightning's (8 steps, no CFG), as with the LoRA fused
    editor = QwenImageEditor.from_pipeline(
        pipe, fast_path=True, attention_backend=attention_backend or "", compile_blocks=compile_blocks,
        reference_vae_image_size=reference_vae_area, **area)
    build_seconds = time.perf_counter() - t0
    print(f"built {'tiny' if tiny else 'full-size'} pipeline on {device} in {build_seconds:.1f} s")
    weights_gib = editor.memory_bytes() / 2**30
    device_name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"weights: {weights_gib:.2f} GiB ({device_name})")
    images = [photo(side, seed) for seed in range(3)]
    guest_size = (48, 32) if tiny else (1536, 1024)  # a 3:2 DSLR photo (resized by the booth)
    booth_images = [photo(guest_size, 10), photo(side, 11)]
    booth_size = (48, 32) if tiny else output_size(guest_size)

    def steps_of(case: Case) -> int:
        return max(1, case.steps // 8) if tiny else case.steps  # tiny: 1 and 5-6 steps

    def call(case: Case) -> int:
        if case.booth:
            # what QwenProvider sends: no steps / CFG when they are the defaults
            defaults = case.steps == 8 and not tiny
            kwargs = {"steps": None if defaults else steps_of(case),
                      "true_cfg_scale": None if defaults else case.cfg}
            return len(editor.edit(booth_images, PROMPT, negative_prompt="blurry, low quality",
                                   n=1, size=booth_size, seed=0, **kwargs))
        kwargs = {
            "prompt": PROMPT,
            "n": case.n,
            "size": (side, side),
            "steps": steps_of(case),
            "true_cfg_scale": case.cfg,
            "seed": 0,
            "negative_prompt": " " if case.cfg > 1 else None,
        }
        if case.each:
            return len(editor.edit_each(images[: case.inputs], strategy=case.each, **kwargs))
        return len(editor.edit(images[: case.inputs], **kwargs))

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    call(Case("warm-up", 2, 1.0, 1, 1))
    call(Case("warm-up booth", 2, 1.0, 1, 2, booth=True))
    results: list[Result] = []
    for case in CASES:
        if quick and case.steps == 40 and case.n > 1:
            continue
        timings = []
        sync()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        for _ in range(repeats):
            start = time.perf_counter()
            outputs = call(case)
            sync()
            timings.append(time.perf_counter() - start)
        seconds = statistics.median(timings)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
        results.append(Result(case.label, seconds, seconds / outputs, peak, outputs))
        print(f"  {case.label}: {seconds:.2f} s for {outputs} image(s)", flush=True)

    # three booth requests at once: each guest's latency behind the others
    latencies: list[float] = [0.0] * CONCURRENT
    start = time.perf_counter()

    def guest(index: int) -> None:
        call(BOOTH_FAST)
        latencies[index] = time.perf_counter() - start

    threads = [threading.Thread(target=guest, args=(i,)) for i in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    print(f"  {CONCURRENT} booth requests at once: " + ", ".join(f"{s:.2f} s" for s in latencies))
    by_label = {r.label: r for r in results}
    return {
        "device": device_name,
        "tiny": tiny,
        "torch": torch.__version__,
        "diffusers": _version("diffusers"),
        "transformers": _version("transformers"),
        "options": {"attention_backend": attention_backend, "compile": compile_blocks,
                    "reference_vae_area": reference_vae_area},
        "build_seconds": round(build_seconds, 3),
        "weights_gib": round(weights_gib, 3),
        "booth_output_size": list(booth_size),
        "cases": [asdict(r) for r in results],
        "concurrent_booth_seconds": [round(s, 3) for s in latencies],
        "booth_fast_vs_base": by_label[BOOTH_BASE.label].seconds / by_label[BOOTH_FAST.label].seconds,
    }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def table(results: list[dict]) -> str:
    base = results[0]["per_image"]
    lines = [
        f"{'case':<58} {'s/call':>8} {'s/image':>8} {'× base':>7} {'peak GiB':>9}",
        "-" * 94,
    ]
    for r in results:
        lines.append(
            f"{r['label']:<58} {r['seconds']:>8.2f} {r['per_image']:>8.2f} "
            f"{r['per_image'] / base:>7.2f} {_gib(r['peak_gib']):>9}"
        )
    return "\n".join(lines)


def _gib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs on CPU (smoke test)")
    parser.add_argument("--quick", action="store_true", help="skip the 40-step n=4 case")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per case (median)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--attention-backend", help="diffusers attention backend for the denoiser")
    parser.add_argument("--compile", action="store_true", help="torch.compile the repeated blocks")
    parser.add_argument("--reference-vae-area", type=int, help="VAE pixels for the reference image")
    args = parser.parse_args(argv)
    figures = run(args.tiny, args.quick, max(1, args.repeats), attention_backend=args.attention_backend,
                  compile_blocks=args.compile, reference_vae_area=args.reference_vae_area)
    print()
    print(table(figures["cases"]))
    print(f"\nbooth edit, Lightning vs base (50 steps, CFG 4): {figures['booth_fast_vs_base']:.1f}× faster")
    print(f"model build: {figures['build_seconds']:.1f} s; {CONCURRENT} concurrent booth requests: "
          + ", ".join(f"{s:.2f} s" for s in figures["concurrent_booth_seconds"]))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
