"""Qwen-Image-Edit (2509 / 2511, the "Plus" pipeline): prompt-driven edits conditioned on 1-3
images, on diffusers `QwenImageEditPlusPipeline`.

Two ways to use several images:
- `edit(images=[guest, reference], …)` — all images condition ONE output set (booth slots:
  "put the person of picture 1 into the scene of picture 2"); returns `n` images.
- `edit_each(images, …, n)` — the seeds' `/v1/images/edits` semantics: every input is edited
  on its own and yields `n` variants (3 inputs × n=2 → 6 outputs).

The Plus pipeline (diffusers 0.42.1) refuses a batch of prompts (`batch_size` must be 1), and
a list of images means joint conditioning, so different inputs cannot share one call. What it
does batch is `num_images_per_prompt`: the n variants of one input. `edit_each` therefore
defaults to one call per input (`strategy="per_input"`); `"per_output"` (one call per output
image) is kept for comparison — see tests/gpu_jobs/test_image_edit.py and the report numbers.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import torch
from PIL import Image

from gpu_jobs._common import (
    decode_image,
    encode_png,
    env_or,
    free_memory,
    load_vl_processor,
    pick_device,
    pick_dtype,
    resolve_seed,
)
from gpu_jobs.errors import InvalidRequest

log = logging.getLogger("boothai.gpu.image_edit")

MODEL_ID = "Qwen/Qwen-Image-Edit-2509"
MODEL_REVISION: str | None = None  # pin a commit here once the deployed weights are fixed
MODEL_ENV = "BOOTHAI_QWEN_EDIT_MODEL"
LIGHTNING_ENV = "BOOTHAI_QWEN_LIGHTNING_LORA"
# "<hub repo or folder>::<weight file>" or a local .safetensors file; "off" (or "") disables it.
# The default is the 8-step Lightning LoRA distilled for Qwen-Image-Edit-2509: the booth's
# fast path (8 steps, no true CFG: 8 transformer passes instead of 100). It is used when its
# weights are present locally (a folder, or the hub cache that `download_weights` fills); the
# runner never downloads at load time, and without them it runs the base model's 50 steps.
DEFAULT_LIGHTNING_LORA = (
    "lightx2v/Qwen-Image-Lightning::Qwen-Image-Edit-2509/"
    "Qwen-Image-Edit-2509-Lightning-8steps-V1.0-bf16.safetensors"
)
LIGHTNING_OFF = ("", "off", "none", "0", "false")
# Speed options, off by default until measured on a GPU (docs/PERFORMANCE.md).
ATTENTION_ENV = "BOOTHAI_QWEN_ATTENTION_BACKEND"  # diffusers AttentionBackendName, e.g. "_flash_3_hub"
COMPILE_ENV = "BOOTHAI_QWEN_COMPILE"  # "1": torch.compile each repeated transformer block
REFERENCE_VAE_AREA_ENV = "BOOTHAI_QWEN_REFERENCE_VAE_AREA"  # pixels for images after the first

BASE_STEPS, BASE_CFG = 50, 4.0  # the base model's defaults (diffusers' __call__)
LIGHTNING_CFG = 1.0  # the LoRA was distilled without true CFG
# The VAE decodes in tiles above this output area (pixels): a 4 MP decode of n images at once
# is the largest activation of the pipeline; ~1 MP booth outputs stay untiled (tiling costs time).
VAE_TILE_AREA = 1536 * 1536

MAX_INPUT_IMAGES = 3
MAX_VARIANTS = 10

# The FlowMatch scheduler the Lightning LoRAs were distilled with (diffusers QwenImage docs).
LIGHTNING_SCHEDULER_CONFIG: dict[str, Any] = {
    "base_image_seq_len": 256,
    "base_shift": math.log(3),
    "invert_sigmas": False,
    "max_image_seq_len": 8192,
    "max_shift": math.log(3),
    "num_train_timesteps": 1000,
    "shift": 1.0,
    "shift_terminal": None,
    "stochastic_sampling": False,
    "time_shift_type": "exponential",
    "use_beta_sigmas": False,
    "use_dynamic_shifting": True,
    "use_exponential_sigmas": False,
    "use_karras_sigmas": False,
}

# The Plus pipeline sizes its conditioning images by two module constants (384² for the text
# encoder's view, 1024² for the VAE latents). They are module globals, so overriding them is
# serialised process-wide by this lock.
_PIPELINE_CONSTANTS_LOCK = threading.Lock()

EachStrategy = Literal["per_input", "per_output"]


def lightning_spec(value: str | None) -> str | None:
    """The LoRA spec a setting means: None → $BOOTHAI_QWEN_LIGHTNING_LORA, else the default;
    "off" / "" → none."""
    if value is None:
        value = os.environ.get(LIGHTNING_ENV)
        if value is None:
            value = DEFAULT_LIGHTNING_LORA
    value = value.strip()
    return None if value.lower() in LIGHTNING_OFF else value


def hub_file(spec: str) -> tuple[str, str] | None:
    """(repo id, file name) when `spec` names a file in a hub repository (what
    `download_weights` fetches), None for local folders and files."""
    source, weight = _parse_lora(spec)
    if weight is None or Path(source).expanduser().exists() or source.startswith(("/", ".", "~")):
        return None
    return source, weight


def lightning_weights(spec: str) -> tuple[str, str] | None:
    """(folder, weight file) of the LoRA when its weights are present on this machine: a
    local file, a folder holding the file, or the hub cache. Never downloads."""
    source, weight = _parse_lora(spec)
    if weight is None:
        return None
    folder = Path(source).expanduser()
    if (folder / weight).is_file():
        return str(folder), weight
    hub = hub_file(spec)
    if hub is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(hub[0], hub[1])
    if isinstance(cached, str) and Path(cached).is_file():
        path = Path(cached)
        return str(path.parent), path.name
    return None


def _parse_lora(spec: str) -> tuple[str, str | None]:
    """ "repo_or_dir::weight_name" or a path to a .safetensors file → (source, weight_name)."""
    if "::" in spec:
        source, weight = spec.split("::", 1)
        return source, weight or None
    path = Path(spec).expanduser()
    if path.is_file():
        return str(path.parent), path.name
    return spec, None


class QwenImageEditor:
    """Qwen-Image-Edit-Plus runner. Thread-safe; one pipeline call at a time."""

    def __init__(
        self,
        model: str | None = None,
        device: str | None = None,
        lightning_lora: str | None = None,
        lightning_steps: int = 8,
        *,
        revision: str | None = MODEL_REVISION,
        condition_image_size: int | None = None,
        vae_image_size: int | None = None,
        reference_vae_image_size: int | None = None,
        attention_backend: str | None = None,
        compile_blocks: bool | None = None,
        vae_tile_area: int = VAE_TILE_AREA,
    ) -> None:
        """`model`: hub id or local folder (default: $BOOTHAI_QWEN_EDIT_MODEL or MODEL_ID).
        `lightning_lora`: see LIGHTNING_ENV (None: the env, else DEFAULT_LIGHTNING_LORA; "off"
        disables it). When its weights are present, `load()` fuses it and calls without
        steps / CFG use `lightning_steps` and no true CFG (`fast_path`); else 50 steps, CFG 4.
        `condition_image_size` / `vae_image_size`: pixel areas the pipeline resizes inputs to
        (defaults 384² and 1024²; smaller is faster and coarser); `reference_vae_image_size`:
        the VAE area of the images after the first (the reference), default the same.
        `attention_backend` / `compile_blocks`: speed options (None: their env settings)."""
        self.model = model or env_or(MODEL_ENV, MODEL_ID)
        self.revision = revision
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device)
        self.lightning_lora = lightning_spec(lightning_lora)
        self.lightning_steps = lightning_steps
        self.condition_image_size = condition_image_size
        self.vae_image_size = vae_image_size
        self.reference_vae_image_size = reference_vae_image_size or _env_int(REFERENCE_VAE_AREA_ENV)
        self.attention_backend = (attention_backend if attention_backend is not None
                                  else env_or(ATTENTION_ENV, ""))
        self.compile_blocks = (compile_blocks if compile_blocks is not None
                               else env_or(COMPILE_ENV, "") == "1")
        self.vae_tile_area = vae_tile_area
        self.fast_path = False  # the Lightning LoRA is fused into the loaded transformer
        self._pipe: Any = None
        self._lock = threading.RLock()

    @classmethod
    def from_pipeline(cls, pipe: Any, **kwargs: Any) -> QwenImageEditor:
        """A runner around an already built pipeline (benchmarks, custom loading).
        `fast_path=True` says the pipeline already carries the Lightning LoRA and scheduler."""
        fast_path = bool(kwargs.pop("fast_path", False))
        kwargs.setdefault("lightning_lora", "off")
        runner = cls(model="<in-memory>", device=str(pipe.device), **kwargs)
        runner._prepare(pipe)
        runner.fast_path = fast_path
        runner._pipe = pipe
        return runner

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    def load(self) -> None:
        """Build the pipeline with every weight allocated on `self.device` (diffusers'
        `device_map`: no host copy of the 54 GiB), then fuse the Lightning LoRA there and drop
        its PEFT wrappers, so the denoiser runs plain Linear layers."""
        with self._lock:
            if self._pipe is not None:
                return
            from diffusers import FlowMatchEulerDiscreteScheduler, QwenImageEditPlusPipeline
            from transformers import Qwen2VLProcessor

            lora = lightning_weights(self.lightning_lora) if self.lightning_lora else None
            if self.lightning_lora and lora is None:
                log.warning("Lightning LoRA %s is not present here (run download_weights): "
                            "Qwen-Image-Edit runs %d steps with true CFG", self.lightning_lora, BASE_STEPS)
            kwargs: dict[str, Any] = {"dtype": self.dtype}
            if self.revision:
                kwargs["revision"] = self.revision
            # diffusers accepts "cpu" and the accelerator's type ("cuda") as a device map.
            if self.device.type in ("cpu", "cuda") and self.device.index in (None, 0):
                kwargs["device_map"] = self.device.type
            # The processor is loaded here so machines without torchvision can still build it.
            kwargs["processor"] = load_vl_processor(
                self.model, Qwen2VLProcessor, subfolder="processor", revision=self.revision
            )
            if lora:
                kwargs["scheduler"] = FlowMatchEulerDiscreteScheduler.from_config(LIGHTNING_SCHEDULER_CONFIG)
            pipe = QwenImageEditPlusPipeline.from_pretrained(self.model, **kwargs)
            if "device_map" not in kwargs:
                pipe.to(self.device)
            if lora:
                folder, weight_name = lora
                pipe.load_lora_weights(folder, weight_name=weight_name)
                pipe.fuse_lora()
                pipe.unload_lora_weights()  # fused weights stay; the PEFT layers go
            self._prepare(pipe)
            self.fast_path = lora is not None
            self._pipe = pipe

    def _prepare(self, pipe: Any) -> None:
        """What every loaded pipeline gets: no progress bar, the VAE decoding one image at a
        time (n > 1 outputs), and the speed options that are switched on."""
        pipe.set_progress_bar_config(disable=True)
        pipe.vae.enable_slicing()
        if self.attention_backend:
            pipe.transformer.set_attention_backend(self.attention_backend)
        if self.compile_blocks:
            pipe.transformer.compile_repeated_blocks(fullgraph=True)

    def unload(self) -> None:
        with self._lock:
            self._pipe = None
            self.fast_path = False
            free_memory(self.device)

    def memory_bytes(self) -> int:
        """Bytes of the loaded weights (0 when not loaded)."""
        pipe = self._pipe
        if pipe is None:
            return 0
        modules = [c for c in pipe.components.values() if isinstance(c, torch.nn.Module)]
        return sum(module_bytes(m) for m in modules)

    def warm_up(self, steps: int = 2) -> None:
        """One small edit at the VAE conditioning area, so kernels (and compiled blocks) are
        ready before a memory snapshot or the first guest."""
        side = max(32, int(math.sqrt(self.vae_image_size or 1024 * 1024)) // 32 * 32)
        buf = io.BytesIO()
        Image.new("RGB", (side, side), (128, 128, 128)).save(buf, format="PNG")
        self.edit([buf.getvalue()], "warm-up", size=(side, side), steps=steps, seed=0)

    # -- tasks ----------------------------------------------------------------------------
    def edit(
        self,
        images: list[bytes],
        prompt: str,
        negative_prompt: str | None = None,
        n: int = 1,
        size: tuple[int, int] | None = None,
        steps: int | None = None,
        true_cfg_scale: float | None = None,
        seed: int | None = None,
        max_sequence_length: int = 512,
    ) -> list[bytes]:
        """All `images` (1-3) condition one edit; returns `n` PNGs.

        `size` is (width, height) of the output, rounded down to a multiple of 16; default:
        the last image's aspect ratio at about 1024². True CFG (two transformer passes per
        step) runs when `true_cfg_scale > 1`; a missing negative prompt then counts as " ".
        `steps=None` / `true_cfg_scale=None` follow the loaded model: 8 steps and no CFG with
        the Lightning LoRA fused (`fast_path`), else 50 steps and CFG 4. Values sent are kept.
        """
        self._check(images, prompt, n, max_sequence_length)
        pil_images = [decode_image(data, index=i) for i, data in enumerate(images)]
        seed = resolve_seed(seed)
        return self._run(
            pil_images,
            prompt=prompt,
            negative_prompt=negative_prompt,
            n=n,
            size=size,
            steps=steps,
            true_cfg_scale=true_cfg_scale,
            seed=seed,
            max_sequence_length=max_sequence_length,
        )

    def edit_each(
        self,
        images: list[bytes],
        prompt: str,
        negative_prompt: str | None = None,
        n: int = 1,
        size: tuple[int, int] | None = None,
        steps: int | None = None,
        true_cfg_scale: float | None = None,
        seed: int | None = None,
        max_sequence_length: int = 512,
        strategy: EachStrategy = "per_input",
    ) -> list[bytes]:
        """Edit every input on its own; `n` variants each, grouped by input (len = inputs × n).

        Input i uses seed `seed + i`; with `per_output`, variant k of input i uses
        `seed + i * n + k`. The two strategies give different (equally valid) samples.
        """
        self._check(images, prompt, n, max_sequence_length, max_images=MAX_VARIANTS)
        pil_images = [decode_image(data, index=i) for i, data in enumerate(images)]
        seed = resolve_seed(seed)
        common = {
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "size": size,
            "steps": steps,
            "true_cfg_scale": true_cfg_scale,
            "max_sequence_length": max_sequence_length,
        }
        out: list[bytes] = []
        for i, img in enumerate(pil_images):
            if strategy == "per_input":
                out += self._run([img], n=n, seed=seed + i, **common)
            elif strategy == "per_output":
                for k in range(n):
                    out += self._run([img], n=1, seed=seed + i * n + k, **common)
            else:
                raise InvalidRequest(f"unknown strategy {strategy!r}")
        return out

    # -- internals ------------------------------------------------------------------------
    @staticmethod
    def _check(
        images: list[bytes],
        prompt: str,
        n: int,
        max_sequence_length: int,
        max_images: int = MAX_INPUT_IMAGES,
    ) -> None:
        if not images:
            raise InvalidRequest("at least one image is required")
        if len(images) > max_images:
            raise InvalidRequest(f"at most {max_images} images per request")
        if not prompt or not prompt.strip():
            raise InvalidRequest("prompt must not be empty")
        if not 1 <= n <= MAX_VARIANTS:
            raise InvalidRequest(f"n must be between 1 and {MAX_VARIANTS}")
        if not 1 <= max_sequence_length <= 1024:
            raise InvalidRequest("max_sequence_length must be between 1 and 1024")

    def _resolve_steps_cfg(self, steps: int | None, true_cfg_scale: float | None) -> tuple[int, float]:
        """A caller's steps / CFG when given; else the loaded model's (call after `load()`)."""
        default_steps, default_cfg = (
            (self.lightning_steps, LIGHTNING_CFG) if self.fast_path else (BASE_STEPS, BASE_CFG)
        )
        return (
            steps if steps is not None else default_steps,
            true_cfg_scale if true_cfg_scale is not None else default_cfg,
        )

    @contextlib.contextmanager
    def _pipeline_sizes(self) -> Iterator[None]:
        if (self.condition_image_size is None and self.vae_image_size is None
                and self.reference_vae_image_size is None):
            yield
            return
        from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus as plus

        with _PIPELINE_CONSTANTS_LOCK:
            saved = plus.CONDITION_IMAGE_SIZE, plus.VAE_IMAGE_SIZE, plus.calculate_dimensions
            if self.condition_image_size is not None:
                plus.CONDITION_IMAGE_SIZE = self.condition_image_size
            if self.vae_image_size is not None:
                plus.VAE_IMAGE_SIZE = self.vae_image_size
            if self.reference_vae_image_size is not None:
                plus.calculate_dimensions = _reference_area(
                    saved[2], reference_area=self.reference_vae_image_size)
            try:
                yield
            finally:
                plus.CONDITION_IMAGE_SIZE, plus.VAE_IMAGE_SIZE, plus.calculate_dimensions = saved

    def _run(
        self,
        pil_images: list,
        *,
        prompt: str,
        negative_prompt: str | None,
        n: int,
        size: tuple[int, int] | None,
        steps: int | None,
        true_cfg_scale: float | None,
        seed: int,
        max_sequence_length: int,
    ) -> list[bytes]:
        self.load()
        steps, cfg = self._resolve_steps_cfg(steps, true_cfg_scale)
        if steps < 1:
            raise InvalidRequest("steps must be at least 1")
        width, height = size if size else (None, None)
        if size and (width < 16 or height < 16):
            raise InvalidRequest("size must be at least 16x16")
        # True CFG needs a negative prompt; " " is the documented neutral one.
        negative = (negative_prompt or " ") if cfg > 1 else None
        area = (width * height) if size else 1024 * 1024
        with self._lock, self._pipeline_sizes(), torch.inference_mode():
            # Large outputs decode in tiles; ~1 MP ones in one pass (tiling costs time).
            self._pipe.vae.use_tiling = area > self.vae_tile_area
            generator = torch.Generator(device=self.device).manual_seed(seed)
            result = self._pipe(
                image=pil_images,
                prompt=prompt,
                negative_prompt=negative,
                true_cfg_scale=cfg,
                height=height,
                width=width,
                num_inference_steps=steps,
                num_images_per_prompt=n,
                generator=generator,
                max_sequence_length=max_sequence_length,
                output_type="pil",
            )
        return [encode_png(img) for img in result.images]


def module_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


def _reference_area(calculate: Any, *, reference_area: int) -> Any:
    """The Plus pipeline (diffusers 0.42.1, pinned) sizes every image's VAE latents by one
    area: its `__call__` calls `calculate_dimensions` once for the output size, then twice per
    input image in order (text-encoder area, VAE area). This wrapper gives the VAE call of
    every image after the first (the reference) `reference_area`: fewer latent tokens for the
    transformer to attend over. tests/gpu_jobs/test_gpu_image_edit.py checks the sizes."""
    calls = {"n": 0}

    def calculate_dimensions(target_area: int, ratio: float) -> Any:
        index = calls["n"]
        calls["n"] += 1
        image, kind = divmod(index - 1, 2)
        if index >= 1 and kind == 1 and image >= 1:
            return calculate(reference_area, ratio)
        return calculate(target_area, ratio)

    return calculate_dimensions
