"""The vision API on Qwen-VL models and GOT-OCR2 (seeds 000 and 001): comparison of 2-4
images, OCR, chat, batch OCR, the model list, unloading a model.

Images come as uploaded bytes, base64 text or URLs (fetched through the `UrlFetcher` port:
public addresses only); every one is judged by decoding it, never by its name
(shared/images.py). The prompts are in shared/vision_prompts.py, reading the model's answer
in shared/vision_answers.py; the request, the model choice and the flow are here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gpu_jobs.vision_models import DEFAULT_VISION_MODEL, VISION_MODELS
from shared.access import GPU_BACKEND, Access, union
from shared.auth import Authenticator
from shared.concurrency import run_cpu
from shared.config import Settings
from shared.errors import (
    BoothaiError,
    Forbidden,
    InvalidInput,
    ModelNotReady,
    NotFound,
    describe,
)
from shared.gpu import GpuBackend, ModelInfo, OcrRequest, VisionChatRequest
from shared.gpu.catalog import known_ids
from shared.images import VISION_MAX_FILE_BYTES, VisionImage, check_image, decode_base64_image
from shared.ports import UrlFetcher
from shared.vision_answers import parse_comparison, strip_thinking
from shared.vision_prompts import comparison_prompt

log = logging.getLogger("boothai.vision")

T = TypeVar("T")

MAX_BATCH_FILES = 10  # seed 001
MAX_FILE_BYTES = VISION_MAX_FILE_BYTES  # per image; callers read one byte more to tell "too large"
MIN_COMPARISON_IMAGES = 2
MAX_COMPARISON_IMAGES = 4
# Seed 000's defaults, applied to every route (OCR and chat too): Qwen3-VL's processor alone
# would let a 16 MP photo become ~16k vision tokens — minutes of GPU time for one request.
DEFAULT_MIN_PIXELS = 65536
DEFAULT_MAX_PIXELS = 4194304
PIXELS_LOW, PIXELS_HIGH = 784, 16_777_216  # 28×28 … 4096×4096


# --- the model ---------------------------------------------------------------------------------
def check_model(model_id: str | None, default: str = DEFAULT_VISION_MODEL) -> str:
    """The model id to use. InvalidInput (400) if unknown or unservable by this build."""
    model_id = (model_id or "").strip() or default
    spec = VISION_MODELS.get(model_id)
    if spec is None:
        known = ", ".join(sorted(s.id for s in VISION_MODELS.values() if not s.unavailable))
        raise InvalidInput(f"unknown model {model_id!r}; available: {known}", field="model")
    if spec.unavailable:
        raise InvalidInput(f"model {model_id} is unavailable: {spec.unavailable}", field="model")
    return model_id


# --- the comparison request (seed 000) ----------------------------------------------------------
ComparisonType = Literal["differences", "changes", "similarities"]
OutputFormat = Literal["json", "text"]

COMPARISON_EXAMPLE = {
    "image_urls": ["https://example.com/before.jpg", "https://example.com/after.jpg"],
    "comparison_type": "differences",
    "output_format": "json",
}


class ComparisonRequest(BaseModel):
    """`POST /api/v1/image/comparison`: 2-4 images by URL or base64 (exactly one method)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [COMPARISON_EXAMPLE]})

    image_urls: list[str] | None = Field(
        None, description="2-4 http(s) image URLs (public addresses only)")
    image_base64_list: list[str] | None = Field(
        None, description="2-4 base64-encoded images (a data: URL prefix is accepted)")
    comparison_type: ComparisonType = Field(
        "differences", description="differences | changes (a sequence, in order) | similarities")
    output_format: OutputFormat = Field("json", description="json (structured) | text (prose)")
    prompt: str | None = Field(
        None, max_length=4000, description="Extra instruction added to the comparison prompt")
    max_tokens: int = Field(2048, ge=1, le=8192, description="Most tokens to generate")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 = greedy (deterministic)")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Top-p sampling, used when temperature > 0")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Seed for reproducible sampling")
    min_pixels: int = Field(DEFAULT_MIN_PIXELS, ge=PIXELS_LOW, le=PIXELS_HIGH,
                            description="Fewest pixels per image after resizing")
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=PIXELS_LOW, le=PIXELS_HIGH,
                            description="Most pixels per image after resizing")
    model: str | None = Field(None, description="Vision model id (default: qwen3_vl_2b)")

    @model_validator(mode="after")
    def _one_method_2_to_4_images(self) -> ComparisonRequest:
        if (self.image_urls is None) == (self.image_base64_list is None):
            raise ValueError("Provide exactly one of image_urls or image_base64_list")
        images = self.image_urls if self.image_urls is not None else self.image_base64_list
        if not MIN_COMPARISON_IMAGES <= len(images or []) <= MAX_COMPARISON_IMAGES:
            raise ValueError(
                f"Number of images must be between {MIN_COMPARISON_IMAGES} and {MAX_COMPARISON_IMAGES}")
        if self.min_pixels > self.max_pixels:
            raise ValueError("min_pixels must not exceed max_pixels")
        return self


@dataclass(frozen=True)
class ComparisonAnswer:
    success: bool
    result: dict[str, Any]
    error: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class VisionAnswer:
    text: str  # thinking blocks removed
    model: str
    seconds: float
    image: VisionImage | None = None


@dataclass(frozen=True)
class BatchItem:
    filename: str
    text: str | None
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class ModelsView:
    available: list[ModelInfo]
    loaded: list[str]
    unavailable: list[ModelInfo]
    default: str
    backend: str


def _elapsed(started: float) -> float:
    return round(time.perf_counter() - started, 3)


class Vision:
    @classmethod
    def access(cls) -> Access:
        # API-key auth reads tenants and lookups; the models run on the GPU backend.
        return union(Authenticator.ACCESS, GPU_BACKEND)

    def __init__(self, *, settings: Settings, gpu: GpuBackend, fetcher: UrlFetcher) -> None:
        self.settings = settings
        self.gpu = gpu
        self.fetcher = fetcher

    @property
    def default_model(self) -> str:
        return self.settings.vision_default_model

    # -- comparison (seed 000) ------------------------------------------------------------------
    async def compare(self, request: ComparisonRequest) -> ComparisonAnswer:
        # 1. The caller's input first (4xx): the model, then the images, decoded from base64
        #    or fetched safely from their URLs.
        model = check_model(request.model, self.default_model)
        images = await self._comparison_images(request)
        # 2. Only then whether this deployment can serve it (503).
        await self._require_backend()
        # 3. Ask the model.
        prompt = comparison_prompt(comparison_type=request.comparison_type,
                                   output_format=request.output_format,
                                   num_images=len(images), extra=request.prompt)
        started = time.perf_counter()
        answer = await self.gpu.vision_chat(
            VisionChatRequest(model_id=model, images=images, prompt=prompt,
                              max_tokens=request.max_tokens, temperature=request.temperature,
                              top_p=request.top_p, seed=request.seed,
                              min_pixels=request.min_pixels, max_pixels=request.max_pixels),
            timeout=self.settings.vision_comparison_timeout_seconds,
        )
        # 4. Read the answer.
        metadata: dict[str, Any] = {
            "task": "image_comparison",
            "num_images": len(images),
            "comparison_type": request.comparison_type,
            "output_format": request.output_format,
            "model": model,
            "processing_time": _elapsed(started),
            "image_source": "urls" if request.image_urls is not None else "base64",
            "parsed": None,
        }
        log.info("comparison: %d images on %s in %.2f s", len(images), model,
                 metadata["processing_time"])
        if request.output_format == "text":
            return ComparisonAnswer(True, {"text": strip_thinking(answer.text)}, None, metadata)
        # Bounded, but up to a second on a hostile answer: off the event loop.
        parsed = await run_cpu(lambda: parse_comparison(answer.text, num_images=len(images)))
        metadata["parsed"] = parsed.result is not None
        if parsed.result is not None:
            return ComparisonAnswer(True, parsed.result, None, metadata)
        result = {"summary": "", "differences": [], "common_elements": [], "raw_text": answer.text}
        return ComparisonAnswer(False, result, f"{parsed.error}; its text is in result.raw_text",
                                metadata)

    async def _comparison_images(self, request: ComparisonRequest) -> list[bytes]:
        if request.image_base64_list is not None:
            images = [decode_base64_image(text, label=f"image {i}")
                      for i, text in enumerate(request.image_base64_list, 1)]
            await _all_or_nothing([_checked(data, f"image {i}") for i, data in enumerate(images, 1)])
            return images

        async def one(i: int, url: str) -> bytes:
            fetched = await self.fetcher.fetch(url, label=f"image {i}")
            await _checked(fetched.data, f"image {i}")
            return fetched.data

        return await _all_or_nothing([one(i, url) for i, url in enumerate(request.image_urls or [], 1)])

    # -- one image ----------------------------------------------------------------------------------
    async def ocr(self, image: bytes, *, model: str | None, language: str | None,
                  max_tokens: int, max_pixels: int | None = None) -> VisionAnswer:
        model_id, info = await self._one_image(image, model)
        started = time.perf_counter()
        answer = await self.gpu.vision_ocr(
            OcrRequest(model_id=model_id, image=image, language=language, max_tokens=max_tokens,
                       max_pixels=_pixel_cap(max_pixels)),
            timeout=self.settings.vision_timeout_seconds)
        return VisionAnswer(strip_thinking(answer.text), model_id, _elapsed(started), info)

    async def chat(self, image: bytes, *, prompt: str, model: str | None, temperature: float,
                   max_tokens: int, max_pixels: int | None = None) -> VisionAnswer:
        model_id, info = await self._one_image(image, model)
        started = time.perf_counter()
        answer = await self.gpu.vision_chat(
            VisionChatRequest(model_id=model_id, images=[image], prompt=prompt,
                              max_tokens=max_tokens, temperature=temperature,
                              max_pixels=_pixel_cap(max_pixels)),
            timeout=self.settings.vision_timeout_seconds)
        return VisionAnswer(strip_thinking(answer.text), model_id, _elapsed(started), info)

    async def _one_image(self, image: bytes, model: str | None) -> tuple[str, VisionImage]:
        """The model to use and what the image is. The caller's mistakes are named first
        (the model, then the file: 4xx), and only then whether the backend can serve (503)."""
        model_id = check_model(model, self.default_model)
        info = await _checked(image, "the file")
        await self._require_backend()
        return model_id, info

    async def batch_ocr(self, files: list[tuple[str, bytes]], *, model: str | None,
                        language: str | None, max_tokens: int,
                        max_pixels: int | None = None) -> tuple[str, list[BatchItem]]:
        """OCR of each (filename, bytes); one bad file does not sink the batch, but a model
        that cannot serve at all (ModelNotReady) does: the whole batch is a 503."""
        if len(files) > MAX_BATCH_FILES:
            raise InvalidInput(f"at most {MAX_BATCH_FILES} files per batch (got {len(files)})",
                               field="files")
        model_id = check_model(model, self.default_model)
        await self._require_backend()
        items: list[BatchItem] = []
        for filename, data in files:
            started = time.perf_counter()
            try:
                answer = await self.ocr(data, model=model_id, language=language,
                                        max_tokens=max_tokens, max_pixels=max_pixels)
            except ModelNotReady:
                raise
            except BoothaiError as exc:
                items.append(BatchItem(filename, None, _elapsed(started), error=describe(exc)))
            else:
                items.append(BatchItem(filename, answer.text, _elapsed(started)))
        return model_id, items

    # -- models -------------------------------------------------------------------------------------
    async def models(self) -> ModelsView:
        listing = await self.gpu.models()
        return ModelsView(
            available=[m for m in listing.available if m.id in VISION_MODELS],
            loaded=[mid for mid in listing.loaded if mid in VISION_MODELS],
            unavailable=[m for m in listing.unavailable if m.id in VISION_MODELS],
            default=self.default_model,
            backend=self.gpu.kind,
        )

    @property
    def gpu_admins(self) -> frozenset[str]:
        return frozenset(n.strip() for n in self.settings.gpu_admins.split(",") if n.strip())

    async def unload(self, model_name: str, *, by: str) -> bool:
        """Free a model's memory, for operator `by`. The GPU and its loaded models are shared
        by every tenant: an unload makes everyone's next call reload it (seconds to minutes),
        so only the operators the deployment names in BOOTHAI_GPU_ADMINS may ask. Checked
        before the model name, so others learn nothing about the catalogue from it."""
        if by not in self.gpu_admins:
            raise Forbidden("unloading a model is for GPU admins only: the deployment names "
                            "them in BOOTHAI_GPU_ADMINS (comma-separated operator names)")
        if model_name not in known_ids():
            raise NotFound(f"unknown model {model_name!r}")
        await self._require_backend()
        unloaded = await self.gpu.unload(model_name)
        log.info("model %s unload requested by %s: %s", model_name, by, unloaded)
        return unloaded

    async def _require_backend(self) -> None:
        """503 with the reason when there is no GPU backend to call."""
        if self.gpu.kind == "off":
            _, reason = await self.gpu.ready()
            raise ModelNotReady(reason or "the GPU backend is off")


def _pixel_cap(max_pixels: int | None) -> int:
    """The caller's bound on the pixels a model sees per image, else seed 000's default."""
    if max_pixels is None:
        return DEFAULT_MAX_PIXELS
    if not PIXELS_LOW <= max_pixels <= PIXELS_HIGH:
        raise InvalidInput(f"max_pixels must be between {PIXELS_LOW} and {PIXELS_HIGH}",
                           field="max_pixels")
    return max_pixels


async def _checked(data: bytes, label: str) -> VisionImage:
    return await run_cpu(lambda: check_image(data, label=label))


async def _all_or_nothing(coros: list[Awaitable[T]]) -> list[T]:
    """Run concurrently; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
