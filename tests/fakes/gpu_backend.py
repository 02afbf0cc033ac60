"""A GPU backend that speaks the port (shared/gpu/port.py) without a model: it records every
request and answers with what it was given to answer, checking model ids the way the live
adapters do (shared.gpu.catalog). For use-case tests; the adapters themselves are tested on
tiny real models (tests/shared/gpu)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.errors import NotFound
from shared.gpu import (
    EditAnswer,
    EditRequest,
    ImageAnswer,
    JanusRequest,
    ModelListing,
    OcrRequest,
    TextAnswer,
    VisionChatRequest,
)
from shared.gpu.catalog import check_vision_model, known_ids, model_listing
from tests.helpers import photos


@dataclass
class RecordingGpu:
    kind: str = "inprocess"
    text: str = "a text"
    requests: list[object] = field(default_factory=list)
    timeouts: list[float | None] = field(default_factory=list)
    loaded: set[str] = field(default_factory=set)
    edit_error: Exception | None = None  # raised by edit() after recording (a failed run)
    edit_image: bytes | None = None  # what each edit output is (default: a 16x16 PNG)

    def _record(self, request: object, timeout: float | None) -> None:
        self.requests.append(request)
        self.timeouts.append(timeout)

    async def edit(self, request: EditRequest, *, timeout: float | None = None) -> EditAnswer:
        self._record(request, timeout)
        if self.edit_error is not None:
            raise self.edit_error
        count = len(request.images) * request.n if request.per_input else request.n
        return EditAnswer([self.edit_image or photos.solid_png(16, 16) for _ in range(count)])

    async def janus(self, request: JanusRequest, *, timeout: float | None = None) -> ImageAnswer:
        self._record(request, timeout)
        return ImageAnswer(photos.solid_png(*request.size))

    async def vision_chat(self, request: VisionChatRequest, *, timeout: float | None = None) -> TextAnswer:
        check_vision_model(request.model_id)
        self._record(request, timeout)
        self.loaded.add(request.model_id)
        return TextAnswer(self.text)

    async def vision_ocr(self, request: OcrRequest, *, timeout: float | None = None) -> TextAnswer:
        check_vision_model(request.model_id)
        self._record(request, timeout)
        self.loaded.add(request.model_id)
        return TextAnswer(self.text)

    async def models(self) -> ModelListing:
        return model_listing(loaded=self.loaded)

    async def unload(self, model_id: str) -> bool:
        if model_id not in known_ids():
            raise NotFound(f"unknown model {model_id!r}")
        was = model_id in self.loaded
        self.loaded.discard(model_id)
        return was

    async def ready(self) -> tuple[bool, str]:
        return True, ""

    async def aclose(self) -> None:
        return None
