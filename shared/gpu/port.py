"""The GPU backend port: how the core reaches the torch model runners in `gpu_jobs/`.

Adapters (one file each): `inprocess` (runners in this process, on worker threads),
`modal` (the deployed Modal app `modal_app.py`), `off` (every call raises ModelNotReady).

Every task takes one frozen request and returns one answer (gpu_jobs.requests: bytes and
primitives only, so the same objects travel to Modal). `timeout` bounds the call in seconds
(None: the adapter's own bound, if any).

Errors: ModelNotReady (backend off, model cannot load / not deployed / unavailable),
InvalidInput (bad images or parameters, unknown model id — `field` names the parameter),
NotFound (unload of an unknown id), DeadlineExceeded (the call outran `timeout`),
ProviderFailed(reason="generation_error") (the model ran and broke).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gpu_jobs.requests import (
    EditAnswer,
    EditRequest,
    ImageAnswer,
    JanusRequest,
    OcrRequest,
    TextAnswer,
    VisionChatRequest,
)

# Ids of the two generative models, as they appear in `models()` and `unload()`; vision
# models use the ids of gpu_jobs.vision_models (e.g. "qwen3_vl_2b").
QWEN_IMAGE_EDIT = "qwen_image_edit"
JANUS = "janus"


@dataclass(frozen=True)
class ModelInfo:
    """One model a backend knows. `kind`: "image_edit" | "text_to_image" | "vision".
    `reason`: why it cannot be served (set on `ModelListing.unavailable` entries only)."""

    id: str
    name: str
    params: str
    kind: str = ""
    reason: str | None = None


@dataclass(frozen=True)
class ModelListing:
    available: tuple[ModelInfo, ...]
    loaded: tuple[str, ...]  # ids, sorted
    unavailable: tuple[ModelInfo, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "available", tuple(self.available))
        object.__setattr__(self, "loaded", tuple(self.loaded))
        object.__setattr__(self, "unavailable", tuple(self.unavailable))


class GpuBackend(Protocol):
    kind: str  # "inprocess" | "modal" | "off"

    async def edit(self, request: EditRequest, *, timeout: float | None = None) -> EditAnswer:
        """Qwen-Image-Edit → PNG bytes. `per_input=False`: all images (1-3) condition one
        edit, `n` outputs (booth slots: [guest, reference]). `per_input=True`: each image is
        edited on its own, `n` variants each (the images API; len = images × n).
        `size` is (width, height). `steps` / `true_cfg_scale` None → the model's defaults
        (50 / 4.0, or 8 / 1.0 with the Lightning LoRA)."""
        ...

    async def janus(self, request: JanusRequest, *, timeout: float | None = None) -> ImageAnswer:
        """Janus-Pro: describe the guest, generate `prompt` featuring them, PNG at `size`."""
        ...

    async def vision_chat(self, request: VisionChatRequest, *, timeout: float | None = None) -> TextAnswer:
        """A vision model answers the prompt about 0-10 images. An unknown `model_id` is
        InvalidInput(field="model"); a listed but unservable one is ModelNotReady; a model
        that cannot chat (GOT-OCR) is InvalidInput."""
        ...

    async def vision_ocr(self, request: OcrRequest, *, timeout: float | None = None) -> TextAnswer:
        """The text in one image (greedy). Model ids are checked as for `vision_chat`."""
        ...

    async def models(self) -> ModelListing:
        """What this backend can serve (`available`), what is in memory now (`loaded`) and
        what it cannot serve, each with its `reason` (`unavailable`)."""
        ...

    async def unload(self, model_id: str) -> bool:
        """Free a model's memory; False when it was not loaded (NotFound if unknown)."""
        ...

    async def ready(self) -> tuple[bool, str]:
        """(True, "") when calls can be served now, else (False, a one-line reason)."""
        ...

    async def aclose(self) -> None:
        """Release what the backend holds (models, clients)."""
        ...
