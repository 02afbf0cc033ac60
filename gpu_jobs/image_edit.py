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
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import torch

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

MODEL_ID = "Qwen/Qwen-Image-Edit-2509"
MODEL_REVISION: str | None = None  # pin a commit here once the deployed weights are fixed
MODEL_ENV = "BOOTHAI_QWEN_EDIT_MODEL"
LIGHTNING_ENV = "BOOTHAI_QWEN_LIGHTNING_LORA"
# "<hub repo or folder>::<weight file>" or a local .safetensors file, e.g.
#   lightx2v/Qwen-Image-Lightning::Qwen-Image-Edit-2509/
#       Qwen-Image-Edit-2509-Lightning-8steps-V1.0-bf16.safetensors   (one string, no spaces)

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
    ) -> None:
        """`model`: hub id or local folder (default: $BOOTHAI_QWEN_EDIT_MODEL or MODEL_ID).
        `lightning_lora`: see LIGHTNING_ENV; when set, steps default to `lightning_steps` and
        true CFG is off. `condition_image_size` / `vae_image_size`: pixel areas the pipeline
        resizes inputs to (defaults 384² and 1024²; smaller is faster and coarser)."""
        self.model = model or env_or(MODEL_ENV, MODEL_ID)
        self.revision = revision
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device)
        lora = lightning_lora if lightning_lora is not None else env_or(LIGHTNING_ENV, "")
        self.lightning_lora = lora or None
        self.lightning_steps = lightning_steps
        self.condition_image_size = condition_image_size
        self.vae_image_size = vae_image_size
        self._pipe: Any = None
        self._lock = threading.RLock()

    @classmethod
    def from_pipeline(cls, pipe: Any, **kwargs: Any) -> QwenImageEditor:
        """A runner around an already built pipeline (benchmarks, custom loading)."""
        kwargs.setdefault("lightning_lora", "")
        runner = cls(model="<in-memory>", device=str(pipe.device), **kwargs)
        pipe.set_progress_bar_config(disable=True)
        runner._pipe = pipe
        return runner

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    def load(self) -> None:
        with self._lock:
            if self._pipe is not None:
                return
            from diffusers import FlowMatchEulerDiscreteScheduler, QwenImageEditPlusPipeline
            from transformers import Qwen2VLProcessor

            kwargs: dict[str, Any] = {"dtype": self.dtype}
            if self.revision:
                kwargs["revision"] = self.revision
            # The processor is loaded here so machines without torchvision can still build it.
            kwargs["processor"] = load_vl_processor(
                self.model, Qwen2VLProcessor, subfolder="processor", revision=self.revision
            )
            if self.lightning_lora:
                kwargs["scheduler"] = FlowMatchEulerDiscreteScheduler.from_config(LIGHTNING_SCHEDULER_CONFIG)
            pipe = QwenImageEditPlusPipeline.from_pretrained(self.model, **kwargs)
            if self.lightning_lora:
                source, weight_name = _parse_lora(self.lightning_lora)
                lora_kwargs = {"weight_name": weight_name} if weight_name else {}
                pipe.load_lora_weights(source, **lora_kwargs)
                pipe.fuse_lora()
            pipe.to(self.device)
            pipe.set_progress_bar_config(disable=True)
            self._pipe = pipe

    def unload(self) -> None:
        with self._lock:
            self._pipe = None
            free_memory(self.device)

    # -- tasks ----------------------------------------------------------------------------
    def edit(
        self,
        images: list[bytes],
        prompt: str,
        negative_prompt: str | None = None,
        n: int = 1,
        size: tuple[int, int] | None = None,
        steps: int | None = 50,
        true_cfg_scale: float | None = 4.0,
        seed: int | None = None,
        max_sequence_length: int = 512,
    ) -> list[bytes]:
        """All `images` (1-3) condition one edit; returns `n` PNGs.

        `size` is (width, height) of the output, rounded down to a multiple of 16; default:
        the last image's aspect ratio at about 1024². True CFG (two transformer passes per
        step) runs when `true_cfg_scale > 1`; a missing negative prompt then counts as " ".
        With a Lightning LoRA, `steps=None` / `true_cfg_scale=None` mean 8 steps / no CFG.
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
        steps: int | None = 50,
        true_cfg_scale: float | None = 4.0,
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
        if self.lightning_lora:
            return (steps or self.lightning_steps), (true_cfg_scale or 1.0)
        return (steps or 50), (true_cfg_scale if true_cfg_scale is not None else 4.0)

    @contextlib.contextmanager
    def _pipeline_sizes(self) -> Iterator[None]:
        if self.condition_image_size is None and self.vae_image_size is None:
            yield
            return
        from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus as plus

        with _PIPELINE_CONSTANTS_LOCK:
            saved = plus.CONDITION_IMAGE_SIZE, plus.VAE_IMAGE_SIZE
            if self.condition_image_size is not None:
                plus.CONDITION_IMAGE_SIZE = self.condition_image_size
            if self.vae_image_size is not None:
                plus.VAE_IMAGE_SIZE = self.vae_image_size
            try:
                yield
            finally:
                plus.CONDITION_IMAGE_SIZE, plus.VAE_IMAGE_SIZE = saved

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
        with self._lock, self._pipeline_sizes(), torch.inference_mode():
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
