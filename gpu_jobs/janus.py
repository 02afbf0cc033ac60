"""DeepSeek Janus-Pro on transformers `JanusForConditionalGeneration`: image understanding
(`describe`) and text-to-image (`generate`, 384×384 on the real checkpoints).

Janus cannot edit a photo: `generate_from_photo` describes the guest photo, writes a prompt
from the slot prompt plus that description, generates a new picture and upscales it.

Checkpoint note: transformers reads the converted checkpoints under `deepseek-community/`
(`model_type: janus`). The original `deepseek-ai/Janus-Pro-7B` repository is in DeepSeek's own
format (`model_type: multi_modality`, needs their `janus` package) and does not load here.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch
from PIL import Image

from gpu_jobs._common import (
    TransformersRunner,
    decode_image,
    encode_png,
    env_or,
    resolve_seed,
)
from gpu_jobs.errors import InvalidRequest

MODEL_ID = "deepseek-community/Janus-Pro-7B"
MODEL_REVISION: str | None = None
MODEL_ENV = "BOOTHAI_JANUS_MODEL"

DESCRIBE_PROMPT = (
    "Describe the people in this photo for a portrait painter: apparent age, gender, hair, "
    "facial hair, glasses, clothing, expression and pose. One short paragraph, no preamble."
)
MAX_VARIANTS = 4


class JanusGenerator(TransformersRunner):
    """Janus-Pro runner. Thread-safe; one generate call at a time."""

    def __init__(
        self,
        model: str | None = None,
        device: str | None = None,
        *,
        revision: str | None = MODEL_REVISION,
        guidance_scale: float = 5.0,
    ) -> None:
        super().__init__(model or env_or(MODEL_ENV, MODEL_ID), device, revision)
        self.model = self.source  # the checkpoint id or folder, as callers know it
        self.guidance_scale = guidance_scale

    def _load_parts(self) -> tuple[Any, Any]:
        from transformers import JanusForConditionalGeneration, JanusProcessor

        kwargs = self._pretrained_kwargs()
        processor = JanusProcessor.from_pretrained(self.source, **kwargs)
        model = JanusForConditionalGeneration.from_pretrained(self.source, dtype=self.dtype, **kwargs)
        return model, processor

    # -- tasks ----------------------------------------------------------------------------
    def describe(self, image: bytes, max_tokens: int = 256, prompt: str = DESCRIBE_PROMPT) -> str:
        """What the model sees in `image` (greedy decoding)."""
        pil = decode_image(image)
        self.load()
        messages = [
            {"role": "user", "content": [{"type": "image", "image": pil}, {"type": "text", "text": prompt}]}
        ]
        with self._lock, torch.inference_mode():
            inputs = self._processor.apply_chat_template(
                messages,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
            ).to(self.device, dtype=self.dtype)
            output = self._model.generate(**inputs, max_new_tokens=max(1, int(max_tokens)), do_sample=False)
            new_tokens = output[0, inputs["input_ids"].shape[1] :]
            return self._processor.decode(new_tokens, skip_special_tokens=True).strip()

    def generate(self, prompt: str, n: int = 1, seed: int | None = None) -> list[bytes]:
        """Text → `n` PNG images at the model's native size (384² for Janus-Pro)."""
        if not prompt or not prompt.strip():
            raise InvalidRequest("prompt must not be empty")
        if not 1 <= n <= MAX_VARIANTS:
            raise InvalidRequest(f"n must be between 1 and {MAX_VARIANTS}")
        self.load()
        messages = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
        with self._lock, torch.inference_mode():
            text = self._processor.apply_chat_template(messages, add_generation_prompt=True)
            inputs = self._processor(text=text, generation_mode="image", return_tensors="pt").to(
                self.device, dtype=self.dtype
            )
            # Janus samples with torch.multinomial on the global RNG: seed it under the lock.
            torch.manual_seed(resolve_seed(seed))
            tokens = self._model.generate(
                **inputs,
                generation_mode="image",
                do_sample=True,
                use_cache=True,
                num_return_sequences=n,
                guidance_scale=self.guidance_scale,
            )
            pixels = self._model.decode_image_tokens(tokens)  # (n, H, W, C), normalised
            return [encode_png(img) for img in self._to_pil(pixels)]

    def generate_from_photo(
        self,
        photo: bytes,
        slot_prompt: str,
        size: tuple[int, int],
        seed: int | None = None,
    ) -> bytes:
        """Describe the guest, generate `slot_prompt` featuring them, upscale to `size` (w, h)."""
        width, height = size
        if width < 1 or height < 1:
            raise InvalidRequest("size must be positive")
        description = self.describe(photo)
        prompt = slot_prompt.strip()
        if description:
            prompt = f"{prompt}\nThe person in the picture: {description}"
        image = self.generate(prompt, n=1, seed=seed)[0]
        with Image.open(io.BytesIO(image)) as img:
            return encode_png(img.convert("RGB").resize((width, height), Image.Resampling.LANCZOS))

    # -- internals ------------------------------------------------------------------------
    def _warm_up_call(self, image: bytes) -> None:
        self.describe(image, max_tokens=1)

    def _to_pil(self, pixels: torch.Tensor) -> list[Image.Image]:
        """Undo the image processor's normalisation. Done here because transformers 5.23's
        PIL-backend `postprocess` normalises channels-last arrays as if channels-first."""
        ip = self._processor.image_processor
        mean = np.asarray(ip.image_mean, dtype=np.float32)
        std = np.asarray(ip.image_std, dtype=np.float32)
        arrays = pixels.float().cpu().numpy()
        out = []
        for arr in arrays:
            rgb = np.clip((arr * std + mean) * 255.0, 0, 255).round().astype(np.uint8)
            out.append(Image.fromarray(rgb).convert("RGB"))
        return out
