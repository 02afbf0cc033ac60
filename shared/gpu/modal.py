"""The `modal` GPU backend: calls the deployed Modal app (modal_app.py) with `.remote.aio`.

Needs the `modal` extra and credentials (MODAL_TOKEN_ID / MODAL_TOKEN_SECRET or ~/.modal.toml)
and a deployed app (`modal deploy modal_app.py`). Missing credentials, a missing app or an
unreachable Modal all surface as ModelNotReady with the reason. Every call is bounded by its
`timeout` (or the backend's default): the booth cannot wait past its window. The bound also
travels as the request's `deadline`, so a container that takes the request off Modal's queue
after the caller gave up drops it instead of spending GPU time on it (gpu_jobs.tasks).

Which models are loaded lives in Modal's containers, not here: `models()` lists what the app
can serve and reports `loaded` as empty; `unload()` is a no-op (containers scale down after
their `scaledown_window`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, TypeVar

from gpu_jobs.errors import GpuJobError
from gpu_jobs.requests import (
    EditAnswer,
    EditRequest,
    ImageAnswer,
    JanusRequest,
    OcrRequest,
    TextAnswer,
    VisionChatRequest,
)
from shared.errors import BoothaiError, ModelNotReady, NotFound, ProviderFailed
from shared.gpu.calls import GENERATION_ERROR, bounded, short, translate
from shared.gpu.catalog import check_vision_model, known_ids, model_listing
from shared.gpu.port import ModelListing

T = TypeVar("T")

CLASS_NAMES = {"edit": "ImageEditor", "janus": "JanusGenerator", "vision": "VisionModel"}


class ModalGpuBackend:
    kind = "modal"

    def __init__(self, *, app_name: str = "boothai-gpu", timeout: float = 600.0) -> None:
        self.app_name = app_name
        self.timeout = timeout
        self._classes: dict[str, Any] = {}

    # -- tasks ----------------------------------------------------------------------------
    async def edit(self, request: EditRequest, *, timeout: float | None = None) -> EditAnswer:
        obj = self._cls("edit")()
        return await self._remote(obj.edit, request, EditAnswer, timeout, "image editor")

    async def janus(self, request: JanusRequest, *, timeout: float | None = None) -> ImageAnswer:
        obj = self._cls("janus")()
        return await self._remote(obj.generate_from_photo, request, ImageAnswer, timeout, "Janus")

    async def vision_chat(self, request: VisionChatRequest, *, timeout: float | None = None) -> TextAnswer:
        check_vision_model(request.model_id)
        obj = self._cls("vision")(model_id=request.model_id)
        return await self._remote(obj.chat, request, TextAnswer, timeout, request.model_id)

    async def vision_ocr(self, request: OcrRequest, *, timeout: float | None = None) -> TextAnswer:
        check_vision_model(request.model_id)
        obj = self._cls("vision")(model_id=request.model_id)
        return await self._remote(obj.ocr, request, TextAnswer, timeout, request.model_id)

    # -- management -----------------------------------------------------------------------
    async def models(self) -> ModelListing:
        return model_listing(loaded=())

    async def unload(self, model_id: str) -> bool:
        if model_id not in known_ids():
            raise NotFound(f"unknown model {model_id!r}")
        return False

    async def ready(self) -> tuple[bool, str]:
        try:
            await bounded(self._cls("edit").hydrate.aio(), timeout=30.0, what="Modal lookup")
        except BoothaiError as exc:
            return False, str(exc)
        except Exception as exc:  # noqa: BLE001 - any lookup failure means "not ready"
            return False, self._lookup_reason(exc)
        return True, ""

    async def aclose(self) -> None:
        self._classes.clear()

    # -- internals ------------------------------------------------------------------------
    def _cls(self, which: str) -> Any:
        cls = self._classes.get(which)
        if cls is None:
            try:
                import modal
            except ImportError as exc:
                raise ModelNotReady("the modal package is not installed (extra: modal)") from exc
            cls = modal.Cls.from_name(self.app_name, CLASS_NAMES[which])
            self._classes[which] = cls
        return cls

    def _lookup_reason(self, exc: BaseException) -> str:
        import modal.exception as mexc

        if isinstance(exc, mexc.AuthError):
            return "Modal credentials are missing or invalid (MODAL_TOKEN_ID / MODAL_TOKEN_SECRET)"
        if isinstance(exc, mexc.NotFoundError):
            return f"Modal app {self.app_name!r} is not deployed (modal deploy modal_app.py)"
        if isinstance(exc, mexc.ConnectionError | OSError):
            return f"Modal is unreachable ({short(exc)})"
        return f"Modal lookup failed ({short(exc)})"

    async def _remote(
        self, method: Any, request: object, answer: type[T], timeout: float | None, what: str
    ) -> T:
        """`method.remote.aio(request)`, bounded by `timeout` (and the backend's own bound),
        Modal's and the runners' exceptions mapped to the core's."""
        import modal.exception as mexc

        limit = self.timeout if timeout is None else min(timeout, self.timeout)
        if limit > 0 and dataclasses.is_dataclass(request):
            request = dataclasses.replace(request, deadline=time.time() + limit)  # type: ignore[type-var]
        try:
            result = await bounded(method.remote.aio(request), timeout=limit, what=what)
        except BoothaiError:
            raise
        except GpuJobError as exc:
            raise translate(exc, what=what) from exc
        except (mexc.AuthError, mexc.NotFoundError, mexc.ConnectionError) as exc:
            raise ModelNotReady(self._lookup_reason(exc)) from exc
        except mexc.TimeoutError as exc:
            raise translate(TimeoutError(str(exc)), what=what) from exc
        except Exception as exc:  # noqa: BLE001 - remote failures are generation errors
            raise translate(exc, what=what) from exc
        if not isinstance(result, answer):  # an app deployed from an older modal_app.py
            raise ProviderFailed(
                GENERATION_ERROR,
                f"{what} answered {type(result).__name__}, not {answer.__name__} (redeploy modal_app.py)",
            )
        return result
