"""Helpers shared by the runners: device choice, bytes ⇄ PIL, seeding, memory release,
and loading Qwen-VL style processors on machines without torchvision."""

from __future__ import annotations

import gc
import io
import os
import secrets
import threading
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from gpu_jobs.errors import InvalidRequest

# Pillow's decompression-bomb guard stays on; this is the largest input a runner accepts.
MAX_INPUT_PIXELS = 40_000_000


def pick_device(device: str | None = None) -> torch.device:
    """`device` if given, else cuda when available, else cpu."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 on cuda (what the checkpoints ship), float32 on cpu."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def env_or(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def decode_image(data: bytes, *, index: int = 0) -> Image.Image:
    """Image bytes → RGB PIL image with EXIF orientation applied. Raises InvalidRequest."""
    if not data:
        raise InvalidRequest(f"image {index + 1} is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_INPUT_PIXELS:
                raise InvalidRequest(f"image {index + 1} has too many pixels")
            img = ImageOps.exif_transpose(img)
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InvalidRequest(f"image {index + 1} is not a readable image") from exc


def encode_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def tiny_png(side: int = 64) -> bytes:
    """A grey PNG for warm-up calls."""
    return encode_png(Image.new("RGB", (side, side), (128, 128, 128)))


def resolve_seed(seed: int | None) -> int:
    """A caller's seed, or a fresh random one (so every result can be reproduced)."""
    return int(seed) if seed is not None else secrets.randbits(31)


def free_memory(device: torch.device | None) -> None:
    gc.collect()
    if device is not None and device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _torchvision_available() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken torchvision wheel raises more than ImportError
        return False
    return True


def _without_video_check(processor_cls: type) -> type:
    """A subclass of a Qwen-VL processor that accepts `video_processor=None`.

    transformers 5 insists on a video processor, and the Qwen-VL video processors need
    torchvision. Image-only use never touches it, so CPU machines without torchvision build
    the processor from its tokenizer and image processor instead.
    """

    class ImageOnlyProcessor(processor_cls):  # type: ignore[misc, valid-type]
        def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> Any:
            if argument_name == "video_processor" and argument is None:
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

    ImageOnlyProcessor.__name__ = processor_cls.__name__
    ImageOnlyProcessor.__qualname__ = processor_cls.__qualname__
    return ImageOnlyProcessor


def load_vl_processor(
    source: str | Path,
    processor_cls: type,
    *,
    subfolder: str = "",
    revision: str | None = None,
) -> Any:
    """Load a Qwen-VL style processor; without torchvision, build it image-only."""
    kwargs: dict[str, Any] = {"revision": revision} if revision else {}
    if subfolder:
        kwargs["subfolder"] = subfolder
    if _torchvision_available():
        return processor_cls.from_pretrained(str(source), **kwargs)
    from transformers import AutoImageProcessor, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source), **kwargs)
    image_processor = AutoImageProcessor.from_pretrained(str(source), **kwargs)
    return _without_video_check(processor_cls)(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=None,
        chat_template=getattr(tokenizer, "chat_template", None),
    )


class TransformersRunner:
    """The load-once lifecycle every transformers runner shares: concurrent callers load the
    weights once (a lock), `loaded`, and `unload()` that frees the device's memory.
    Subclasses implement `_load_parts()`, returning (model, processor) from `self.source`."""

    def __init__(self, source: str, device: str | None = None, revision: str | None = None) -> None:
        self.source = source
        self.revision = revision
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device)
        self._model: Any = None
        self._processor: Any = None
        self._lock = threading.RLock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        with self._lock:
            if self._model is None:
                model, self._processor = self._load_parts()
                self._model = model.to(self.device).eval()

    def unload(self) -> None:
        with self._lock:
            self._model = None
            self._processor = None
            free_memory(self.device)

    def warm_up(self) -> None:
        """One short call (a tiny image, one token), so kernels are ready before a memory
        snapshot or the first request. Subclasses name the call."""
        self._warm_up_call(tiny_png())

    def _warm_up_call(self, image: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def memory_bytes(self) -> int:
        """Bytes of the loaded model's parameters and buffers (0 when not loaded)."""
        model = self._model
        if model is None:
            return 0
        return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])

    def _pretrained_kwargs(self) -> dict[str, Any]:
        return {"revision": self.revision} if self.revision else {}

    def _load_parts(self) -> tuple[Any, Any]:  # pragma: no cover - abstract
        raise NotImplementedError
