"""The `off` GPU backend: the deployment has no GPU models; every call says so."""

from __future__ import annotations

from gpu_jobs.requests import (
    EditAnswer,
    EditRequest,
    ImageAnswer,
    JanusRequest,
    OcrRequest,
    TextAnswer,
    VisionChatRequest,
)
from shared.errors import ModelNotReady
from shared.gpu.catalog import nothing_servable
from shared.gpu.port import ModelListing

REASON = "GPU backend is off (BOOTHAI_GPU_BACKEND=off)"


class OffGpuBackend:
    kind = "off"

    async def edit(self, request: EditRequest, *, timeout: float | None = None) -> EditAnswer:
        raise ModelNotReady(REASON)

    async def janus(self, request: JanusRequest, *, timeout: float | None = None) -> ImageAnswer:
        raise ModelNotReady(REASON)

    async def vision_chat(self, request: VisionChatRequest, *, timeout: float | None = None) -> TextAnswer:
        raise ModelNotReady(REASON)

    async def vision_ocr(self, request: OcrRequest, *, timeout: float | None = None) -> TextAnswer:
        raise ModelNotReady(REASON)

    async def models(self) -> ModelListing:
        """Nothing is servable: everything is listed as unavailable, with the reason."""
        return nothing_servable(REASON)

    async def unload(self, model_id: str) -> bool:
        raise ModelNotReady(REASON)

    async def ready(self) -> tuple[bool, str]:
        return False, REASON

    async def aclose(self) -> None:
        return None
