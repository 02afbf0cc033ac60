"""What Qwen3-VL and Qwen2-VL share: chat-template messages with several images, generate,
trim the prompt, decode. Each family module subclasses this with its model class and ids."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from gpu_jobs._common import TransformersRunner, decode_image, load_vl_processor, resolve_seed
from gpu_jobs.errors import InvalidRequest

MAX_IMAGES = 10
# Pixels per image when a caller sends no bound: the vision API's default. The checkpoints'
# own processors allow 16.7 MP (~16k vision tokens an image), which no request here needs.
DEFAULT_MAX_PIXELS = 4_194_304

OCR_PROMPT = (
    "Read all the text in this image, in reading order. Return only the text, keeping line "
    "breaks; no commentary."
)


def ocr_prompt(language: str | None) -> str:
    if language and language.strip():
        return f"{OCR_PROMPT} The text is in {language.strip()}."
    return OCR_PROMPT


class QwenVLChatRunner(TransformersRunner):
    """Base runner; subclasses set MODEL_CLASS and PROCESSOR_CLASS (transformers names)."""

    MODEL_CLASS: ClassVar[str]
    PROCESSOR_CLASS: ClassVar[str]

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
        import transformers

        model_cls = getattr(transformers, self.MODEL_CLASS)
        processor_cls = getattr(transformers, self.PROCESSOR_CLASS)
        processor = load_vl_processor(self.source, processor_cls, revision=self.revision)
        model = model_cls.from_pretrained(self.source, dtype=self.dtype, **self._pretrained_kwargs())
        return model, processor

    def chat(
        self,
        images: list[bytes],
        prompt: str,
        max_tokens: int = 512,
        temperature: float = 0.7,
        top_p: float = 0.9,
        seed: int | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> str:
        """Answer `prompt` about `images` (0-10, in order). temperature 0 → greedy."""
        if len(images) > MAX_IMAGES:
            raise InvalidRequest(f"at most {MAX_IMAGES} images per request")
        if not prompt or not prompt.strip():
            raise InvalidRequest("prompt must not be empty")
        if max_tokens < 1:
            raise InvalidRequest("max_tokens must be at least 1")
        if temperature < 0 or not 0 < top_p <= 1:
            raise InvalidRequest("temperature must be >= 0 and top_p in (0, 1]")
        pil = [decode_image(data, index=i) for i, data in enumerate(images)]
        self.load()
        gen: dict[str, Any] = {"max_new_tokens": int(max_tokens)}
        if temperature > 0:
            gen.update(do_sample=True, temperature=float(temperature), top_p=float(top_p))
        else:
            gen.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with self._lock, torch.inference_mode():
            inputs = self._encode(pil, prompt, min_pixels=min_pixels, max_pixels=max_pixels)
            if gen["do_sample"]:
                torch.manual_seed(resolve_seed(seed))
            output = self._model.generate(**inputs, **gen)
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            text = self._processor.batch_decode(
                new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False
            )[0]
        return text.strip()

    def encode(self, images: list[bytes], prompt: str, *, min_pixels: int | None = None,
               max_pixels: int | None = None) -> Any:
        """The model's inputs for `prompt` about `images` (what `chat` generates from)."""
        pil = [decode_image(data, index=i) for i, data in enumerate(images)]
        self.load()
        with self._lock:
            return self._encode(pil, prompt, min_pixels=min_pixels, max_pixels=max_pixels)

    def _encode(self, pil: list[Any], prompt: str, *, min_pixels: int | None,
                max_pixels: int | None) -> Any:
        content: list[dict[str, Any]] = [{"type": "image", "image": img} for img in pil]
        content.append({"type": "text", "text": prompt})
        # Counts of pixels per image, although transformers names them edges. Always bounded.
        size = dict(self._processor.image_processor.size)
        if max_pixels is None:
            max_pixels = min(DEFAULT_MAX_PIXELS, int(size["longest_edge"]))
        if min_pixels is not None:
            size["shortest_edge"] = int(min_pixels)
        size["longest_edge"] = int(max_pixels)
        if size["shortest_edge"] > size["longest_edge"]:
            raise InvalidRequest("min_pixels must not exceed max_pixels")
        processor_kwargs: dict[str, Any] = {"size": size}
        return self._processor.apply_chat_template(
            [{"role": "user", "content": content}],
            tokenize=True,
            add_generation_prompt=True,
            return_dict=True,
            return_tensors="pt",
            processor_kwargs=processor_kwargs,
        ).to(self.device)

    def _warm_up_call(self, image: bytes) -> None:
        self.chat([image], "warm-up", max_tokens=1, temperature=0.0)

    def ocr(self, image: bytes, language: str | None = None, max_tokens: int = 2048,
            max_pixels: int | None = None) -> str:
        """The text in `image` (greedy); `language` is a hint added to the prompt."""
        return self.chat([image], ocr_prompt(language), max_tokens=max_tokens, temperature=0.0,
                         max_pixels=max_pixels)
