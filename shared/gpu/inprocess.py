"""The `inprocess` GPU backend: the gpu_jobs runners in this process, on worker threads.

Models load on first use and stay loaded until `unload()`. One asyncio lock per model keeps
concurrent first calls from loading twice. Runner calls and loads run under
`shared.concurrency.run_gpu`: a deadline stops the wait at once and the thread finishes on
its own (the runners lock internally, so it cannot overlap the next call). torch is imported
only when a model is first used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from gpu_jobs import tasks
from gpu_jobs.errors import InvalidRequest, ModelUnavailable
from gpu_jobs.requests import (
    EditAnswer,
    EditRequest,
    ImageAnswer,
    JanusRequest,
    OcrRequest,
    TextAnswer,
    VisionChatRequest,
)
from gpu_jobs.vision_models import VISION_MODELS
from shared.concurrency import run_cpu, run_gpu
from shared.errors import NotFound
from shared.gpu.calls import bounded, translate
from shared.gpu.catalog import check_vision_model, model_listing
from shared.gpu.port import JANUS, QWEN_IMAGE_EDIT, ModelListing

if TYPE_CHECKING:  # the runner modules import torch
    from gpu_jobs.image_edit import QwenImageEditor
    from gpu_jobs.janus import JanusGenerator

T = TypeVar("T")
# A runner: QwenImageEditor, JanusGenerator or a gpu_jobs.vision_models.VisionRunner, with
# `loaded`, `load()` and `unload()`. Typed loosely here; gpu_jobs.tasks types each call.
Runner = Any
RunnerFactory = Callable[[], Runner]


class InProcessGpuBackend:
    kind = "inprocess"

    def __init__(
        self,
        *,
        qwen_edit_model: str,
        janus_model: str,
        qwen_lightning_lora: str | None = None,
        vision_model_dir: str | None = None,
        vision_sources: dict[str, str] | None = None,
        device: str | None = None,
        edit_condition_image_size: int | None = None,
        edit_vae_image_size: int | None = None,
    ) -> None:
        self._device = device
        self._vision_model_dir = vision_model_dir
        self._vision_sources = vision_sources
        self._factories: dict[str, RunnerFactory] = {
            QWEN_IMAGE_EDIT: lambda: _image_editor(
                model=qwen_edit_model,
                device=device,
                lightning_lora=qwen_lightning_lora,
                condition_image_size=edit_condition_image_size,
                vae_image_size=edit_vae_image_size,
            ),
            JANUS: lambda: _janus(model=janus_model, device=device),
        }
        self._runners: dict[str, Runner] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- tasks ----------------------------------------------------------------------------
    async def edit(self, request: EditRequest, *, timeout: float | None = None) -> EditAnswer:
        return await self._call(QWEN_IMAGE_EDIT, lambda r: tasks.edit(r, request), timeout)

    async def janus(self, request: JanusRequest, *, timeout: float | None = None) -> ImageAnswer:
        return await self._call(JANUS, lambda r: tasks.janus(r, request), timeout)

    async def vision_chat(self, request: VisionChatRequest, *, timeout: float | None = None) -> TextAnswer:
        check_vision_model(request.model_id)
        return await self._call(request.model_id, lambda r: tasks.vision_chat(r, request), timeout)

    async def vision_ocr(self, request: OcrRequest, *, timeout: float | None = None) -> TextAnswer:
        check_vision_model(request.model_id)
        return await self._call(request.model_id, lambda r: tasks.vision_ocr(r, request), timeout)

    # -- management -----------------------------------------------------------------------
    async def models(self) -> ModelListing:
        return model_listing(loaded=[mid for mid, runner in self._runners.items() if runner.loaded])

    async def unload(self, model_id: str) -> bool:
        if model_id not in self._factories and model_id not in VISION_MODELS:
            raise NotFound(f"unknown model {model_id!r}")
        async with self._lock(model_id):
            runner = self._runners.pop(model_id, None)
            if runner is None or not runner.loaded:
                return False
            await run_gpu(runner.unload)
            return True

    async def ready(self) -> tuple[bool, str]:
        try:
            await run_cpu(_import_torch)
        except Exception as exc:  # noqa: BLE001 - any import failure means "not ready"
            return False, f"torch is not importable ({type(exc).__name__})"
        return True, ""

    async def aclose(self) -> None:
        for model_id in list(self._runners):
            await self.unload(model_id)

    # -- internals ------------------------------------------------------------------------
    def _lock(self, model_id: str) -> asyncio.Lock:
        return self._locks.setdefault(model_id, asyncio.Lock())

    def _factory(self, model_id: str) -> RunnerFactory:
        factory = self._factories.get(model_id)
        if factory is not None:
            return factory

        def build() -> Runner:
            from gpu_jobs.vision_models import build_runner

            return build_runner(
                model_id,
                model_dir=self._vision_model_dir,
                sources=self._vision_sources,
                device=self._device,
            )

        return build

    async def _loaded_runner(self, model_id: str) -> Runner:
        runner = self._runners.get(model_id)
        if runner is not None and runner.loaded:
            return runner
        async with self._lock(model_id):
            runner = self._runners.get(model_id)
            try:
                if runner is None:
                    runner = await run_gpu(self._factory(model_id))
                    self._runners[model_id] = runner
                await run_gpu(runner.load)
            except (InvalidRequest, ModelUnavailable) as exc:
                raise translate(exc, what=model_id) from exc
            except Exception as exc:  # noqa: BLE001 - any load failure: not ready
                raise translate(exc, what=model_id, loading=True) from exc
            return runner

    async def _call(self, model_id: str, task: Callable[[Runner], T], timeout: float | None) -> T:
        """Load `model_id` if needed, then run `task(runner)` on a GPU worker thread; both
        within `timeout`, the runner's exceptions mapped to the core's."""

        async def run() -> T:
            runner = await self._loaded_runner(model_id)
            try:
                return await run_gpu(lambda: task(runner))
            except Exception as exc:  # noqa: BLE001 - mapped to the core's errors
                raise translate(exc, what=model_id) from exc

        return await bounded(run(), timeout=timeout, what=model_id)


def _import_torch() -> None:
    import torch  # noqa: F401


def _image_editor(**kwargs: Any) -> QwenImageEditor:
    from gpu_jobs.image_edit import QwenImageEditor

    return QwenImageEditor(**kwargs)


def _janus(**kwargs: Any) -> JanusGenerator:
    from gpu_jobs.janus import JanusGenerator

    return JanusGenerator(**kwargs)
