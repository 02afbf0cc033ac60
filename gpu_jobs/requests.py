"""What crosses the GPU boundary: one frozen request and one answer per task.

Pure Python (no torch, no PIL, nothing from `shared/`): the web tier builds these, the GPU
backend adapters hand them on, and inside the Modal container (where only gpu_jobs/ is
shipped) `modal_app.py` receives them pickled. Fields are bytes and primitives only.
Tuple fields accept any sequence at construction (a list is turned into a tuple), so the
objects stay hashable and immutable.

Every request carries `deadline`: the wall-clock time (`time.time()`, seconds) after which
nobody waits for the answer any more (the booth has given up). The backends set it from the
call's timeout; `gpu_jobs.tasks` drops an expired request before it reaches a runner, so a
late request never takes GPU time from the ones behind it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass


def _images(value: Sequence[bytes]) -> tuple[bytes, ...]:
    return tuple(value)


def _size(value: Sequence[int] | None) -> tuple[int, int] | None:
    if value is None:
        return None
    width, height = value
    return (width, height)


@dataclass(frozen=True)
class EditRequest:
    """Qwen-Image-Edit. `per_input=False`: all images (1-3) condition one edit with `n`
    outputs (booth slots: [guest, reference]). `per_input=True`: each image is edited on its
    own, `n` variants each (the images API; outputs = images × n, grouped by input).
    `size` is (width, height); `steps` / `true_cfg_scale` None → the model's defaults."""

    images: tuple[bytes, ...]
    prompt: str
    negative_prompt: str | None = None
    n: int = 1
    size: tuple[int, int] | None = None
    steps: int | None = None
    true_cfg_scale: float | None = None
    seed: int | None = None
    max_sequence_length: int = 512
    per_input: bool = False
    deadline: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", _images(self.images))
        object.__setattr__(self, "size", _size(self.size))


def expired(request: object, now: float | None = None) -> bool:
    """Whether `request`'s deadline has passed (False when it has none)."""
    deadline = getattr(request, "deadline", None)
    return deadline is not None and (time.time() if now is None else now) >= deadline


@dataclass(frozen=True)
class EditAnswer:
    images: tuple[bytes, ...]  # PNG bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", _images(self.images))


@dataclass(frozen=True)
class JanusRequest:
    """Janus-Pro: describe the guest in `photo`, generate `prompt` featuring them, answer a
    PNG at `size` (width, height)."""

    photo: bytes
    prompt: str
    size: tuple[int, int]
    seed: int | None = None
    deadline: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", _size(self.size))


@dataclass(frozen=True)
class ImageAnswer:
    image: bytes  # PNG bytes


@dataclass(frozen=True)
class VisionChatRequest:
    """A vision model (`model_id` from gpu_jobs.vision_models) answers `prompt` about
    `images` (0-10, in order). temperature 0 → greedy; min/max_pixels bound the vision
    tokens per image."""

    model_id: str
    images: tuple[bytes, ...]
    prompt: str
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    deadline: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", _images(self.images))


@dataclass(frozen=True)
class OcrRequest:
    """The text in `image`; `language` is a hint (GOT-OCR ignores it)."""

    model_id: str
    image: bytes
    language: str | None = None
    max_tokens: int = 2048
    max_pixels: int | None = None  # bounds a Qwen-VL model's vision tokens; GOT-OCR's are fixed
    deadline: float | None = None


@dataclass(frozen=True)
class TextAnswer:
    text: str
