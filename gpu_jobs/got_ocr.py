"""GOT-OCR 2.0 on transformers `GotOcr2ForConditionalGeneration`: plain or formatted OCR of one
image. It is an OCR model, not a chat model: `chat` raises UnsupportedTask.
The checkpoint comes in as `source` from the registry (gpu_jobs.vision_models)."""

from __future__ import annotations

from typing import Any

import torch

from gpu_jobs._common import TransformersRunner, decode_image
from gpu_jobs.errors import UnsupportedTask

MAX_NEW_TOKENS = 4096


class GotOcrRunner(TransformersRunner):
    def __init__(
        self,
        model_id: str,
        source: str,
        device: str | None = None,
        revision: str | None = None,
    ) -> None:
        super().__init__(source, device, revision)
        self.model_id = model_id

    def _load_parts(self) -> tuple[Any, Any]:
        from transformers import AutoProcessor, GotOcr2ForConditionalGeneration

        kwargs = self._pretrained_kwargs()
        processor = AutoProcessor.from_pretrained(self.source, **kwargs)
        model = GotOcr2ForConditionalGeneration.from_pretrained(self.source, dtype=self.dtype, **kwargs)
        return model, processor

    def chat(self, images: list[bytes], prompt: str, **_: Any) -> str:
        raise UnsupportedTask(f"{self.model_id} only does OCR; use a Qwen-VL model for chat")

    def ocr(
        self,
        image: bytes,
        language: str | None = None,
        max_tokens: int = MAX_NEW_TOKENS,
        max_pixels: int | None = None,
        *,
        formatted: bool = False,
    ) -> str:
        """The text in `image`. GOT-OCR takes no language hint (it reads what it sees), and
        no pixel bound: its processor resizes every image to the model's fixed input size, so
        its vision tokens are a constant (`_num_image_tokens`) whatever `max_pixels` says.
        `formatted=True` asks for markdown/LaTeX-style output."""
        pil = decode_image(image)
        self.load()
        with self._lock, torch.inference_mode():
            inputs = self._processor(
                pil,
                return_tensors="pt",
                format=formatted,
                num_image_tokens=self._num_image_tokens(),
            ).to(self.device, dtype=self.dtype)
            output = self._model.generate(
                **inputs,
                do_sample=False,
                max_new_tokens=max(1, int(max_tokens)),
                eos_token_id=self._processor.tokenizer.convert_tokens_to_ids("<|im_end|>"),
            )
            new_tokens = output[0, inputs["input_ids"].shape[1] :]
            return self._processor.decode(new_tokens, skip_special_tokens=True).strip()

    def _warm_up_call(self, image: bytes) -> None:
        self.ocr(image, max_tokens=1)

    def _num_image_tokens(self) -> int:
        # vision patches, then the projector's two stride-2 convolutions (256 for the real model)
        vision = self._model.config.vision_config
        side = vision.image_size // vision.patch_size // 4
        return side * side
