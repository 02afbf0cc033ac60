"""Qwen-Image-Edit-2509 latency on one GPU, with full-size random bf16 weights (no download).

Random weights cost the same FLOPs as the real ones, so seconds per image and peak memory
are the real numbers (image quality is noise, of course). Components are built from the
real configs hard-coded below; the tokenizer is a byte-level stand-in (prompts become a
few hundred tokens, as real ones do after the pipeline's long system template).

    python benchmarks/gpu_image_edit.py            # CUDA, 1024², takes a few minutes
    python benchmarks/gpu_image_edit.py --quick    # skip the 40-step n=4 case
    python benchmarks/gpu_image_edit.py --tiny     # same code path, tiny configs, CPU,
                                                   # steps ÷ 8 (smoke test, ~10 s)

Every case runs through gpu_jobs.image_edit.QwenImageEditor (PNG bytes out), after one
warm-up call. Ratios are against the 8-step, cfg 1, n=1 baseline of the same run.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from dataclasses import dataclass
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


CASES = [
    Case("8 steps, cfg 1, n=1, 1 input (baseline)", 8, 1.0, 1, 1),
    Case("8 steps, cfg 1, n=4, 1 input", 8, 1.0, 4, 1),
    Case("40 steps, cfg 4, n=1, 1 input", 40, 4.0, 1, 1),
    Case("40 steps, cfg 4, n=4, 1 input", 40, 4.0, 4, 1),
    Case("8 steps, cfg 1, n=1, 3 inputs (joint)", 8, 1.0, 1, 3),
    Case("8 steps, cfg 1, 3 inputs × n=2, per_input", 8, 1.0, 2, 3, each="per_input"),
    Case("8 steps, cfg 1, 3 inputs × n=2, per_output", 8, 1.0, 2, 3, each="per_output"),
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


def photo(size: int, seed: int) -> bytes:
    gen = torch.Generator().manual_seed(seed)
    pixels = (torch.rand(size, size, 3, generator=gen) * 255).to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def run(tiny: bool, quick: bool, repeats: int) -> list[tuple[Case, float, float, float]]:
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
    editor = QwenImageEditor.from_pipeline(pipe, **area)
    print(f"built {'tiny' if tiny else 'full-size'} pipeline on {device} in {time.perf_counter() - t0:.1f} s")
    if device.type == "cuda":
        gib = torch.cuda.memory_allocated() / 2**30
        print(f"weights on GPU: {gib:.1f} GiB ({torch.cuda.get_device_name()})")
    images = [photo(side, seed) for seed in range(3)]

    def call(case: Case) -> int:
        steps = max(1, case.steps // 8) if tiny else case.steps  # tiny: 1 and 5 steps
        kwargs = {
            "prompt": PROMPT,
            "n": case.n,
            "size": (side, side),
            "steps": steps,
            "true_cfg_scale": case.cfg,
            "seed": 0,
            "negative_prompt": " " if case.cfg > 1 else None,
        }
        if case.each:
            return len(editor.edit_each(images[: case.inputs], strategy=case.each, **kwargs))
        return len(editor.edit(images[: case.inputs], **kwargs))

    call(Case("warm-up", 2, 1.0, 1, 1))
    results = []
    for case in CASES:
        if quick and case.steps == 40 and case.n > 1:
            continue
        timings = []
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        for _ in range(repeats):
            start = time.perf_counter()
            outputs = call(case)
            if device.type == "cuda":
                torch.cuda.synchronize()
            timings.append(time.perf_counter() - start)
        seconds = statistics.median(timings)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
        results.append((case, seconds, seconds / outputs, peak))
        print(f"  {case.label}: {seconds:.2f} s for {outputs} image(s)", flush=True)
    return results


def table(results: list[tuple[Case, float, float, float]]) -> str:
    base = results[0][2]
    lines = [
        f"{'case':<46} {'s/call':>8} {'s/image':>8} {'× base':>7} {'peak GiB':>9}",
        "-" * 82,
    ]
    for case, seconds, per_image, peak in results:
        lines.append(
            f"{case.label:<46} {seconds:>8.2f} {per_image:>8.2f} {per_image / base:>7.2f} {peak:>9.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs on CPU (smoke test)")
    parser.add_argument("--quick", action="store_true", help="skip the 40-step n=4 case")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per case (median)")
    args = parser.parse_args(argv)
    results = run(args.tiny, args.quick, max(1, args.repeats))
    print()
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
