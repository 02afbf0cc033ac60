"""The `inprocess` GPU backend: the gpu_jobs runners in this process, on worker threads.

- **Loading.** `start_preload(ids)` (called by `boothai serve` at start for what the enabled
  booth tabs need) loads models in the background; a model nobody preloaded loads on first
  use. A load runs as one task that callers share (concurrent first calls load once) and
  that a caller's deadline does not cancel: the caller stops waiting, the load goes on.
  `ready()` answers (False, "loading …") while any load runs.
- **Memory budget.** With `memory_budget_bytes`, loading a model first unloads the least
  recently used others until its expected size fits (the size measured when it was last
  loaded, else its weight files on disk), and again after the load by its measured size.
  Loads and unloads run one at a time.
- **Deadlines.** Model calls take one GPU lock (one inference on the device at a time, as
  on a single card). A call's timeout becomes the request's `deadline`, and
  `gpu_jobs.tasks` drops the request if that has passed by the time it holds the lock: a
  booth that gave up no longer costs the next guest GPU time. Runner calls and loads run
  under `shared.concurrency.run_gpu`: a deadline stops the wait at once.

torch is imported only when a model is first used.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
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
from shared.errors import BoothaiError, NotFound
from shared.gpu.calls import bounded, short, translate
from shared.gpu.catalog import check_vision_model, model_listing
from shared.gpu.port import JANUS, QWEN_IMAGE_EDIT, ModelListing

if TYPE_CHECKING:  # the runner modules import torch
    from gpu_jobs.image_edit import QwenImageEditor
    from gpu_jobs.janus import JanusGenerator

log = logging.getLogger("boothai.gpu")

T = TypeVar("T")
R = TypeVar("R")
# A runner: QwenImageEditor, JanusGenerator or a gpu_jobs.vision_models.VisionRunner, with
# `loaded`, `load()`, `unload()` and (optionally) `memory_bytes()`. Typed loosely here;
# gpu_jobs.tasks types each call.
Runner = Any
RunnerFactory = Callable[[], Runner]
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


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
        edit_reference_vae_image_size: int | None = None,
        attention_backend: str | None = None,
        compile_blocks: bool | None = None,
        memory_budget_bytes: int | None = None,
    ) -> None:
        self._device = device
        self._vision_model_dir = vision_model_dir
        self._vision_sources = vision_sources
        self._sources = {QWEN_IMAGE_EDIT: qwen_edit_model, JANUS: janus_model}
        self._factories: dict[str, RunnerFactory] = {
            QWEN_IMAGE_EDIT: lambda: _image_editor(
                model=qwen_edit_model,
                device=device,
                lightning_lora=qwen_lightning_lora,
                condition_image_size=edit_condition_image_size,
                vae_image_size=edit_vae_image_size,
                reference_vae_image_size=edit_reference_vae_image_size,
                attention_backend=attention_backend,
                compile_blocks=compile_blocks,
            ),
            JANUS: lambda: _janus(model=janus_model, device=device),
        }
        self.memory_budget_bytes = memory_budget_bytes
        self._runners: dict[str, Runner] = {}
        self._sizes: dict[str, int] = {}  # bytes measured at the last load
        self._last_used: dict[str, float] = {}
        self._loads: dict[str, asyncio.Future[Runner]] = {}
        self._admin: asyncio.Lock | None = None  # loads and unloads, one at a time
        self._gpu_lock = threading.Lock()  # one model call on the device at a time
        self._preload: asyncio.Task[None] | None = None
        self.preload_problems: dict[str, str] = {}

    # -- tasks ----------------------------------------------------------------------------
    async def edit(self, request: EditRequest, *, timeout: float | None = None) -> EditAnswer:
        return await self._call(QWEN_IMAGE_EDIT, tasks.edit, request, timeout)

    async def janus(self, request: JanusRequest, *, timeout: float | None = None) -> ImageAnswer:
        return await self._call(JANUS, tasks.janus, request, timeout)

    async def vision_chat(self, request: VisionChatRequest, *, timeout: float | None = None) -> TextAnswer:
        check_vision_model(request.model_id)
        return await self._call(request.model_id, tasks.vision_chat, request, timeout)

    async def vision_ocr(self, request: OcrRequest, *, timeout: float | None = None) -> TextAnswer:
        check_vision_model(request.model_id)
        return await self._call(request.model_id, tasks.vision_ocr, request, timeout)

    # -- management -----------------------------------------------------------------------
    async def models(self) -> ModelListing:
        return model_listing(loaded=[mid for mid, runner in self._runners.items() if runner.loaded])

    async def unload(self, model_id: str) -> bool:
        if model_id not in self._factories and model_id not in VISION_MODELS:
            raise NotFound(f"unknown model {model_id!r}")
        async with self._admin_lock():
            return await self._unload_now(model_id)

    def start_preload(self, model_ids: Iterable[str]) -> None:
        """Load `model_ids` in the background, in order (the app does not wait). Failures
        are logged and kept in `preload_problems`; the model loads again on first use."""
        ids = list(dict.fromkeys(model_ids))
        if ids and self._preload is None:
            self._preload = asyncio.get_running_loop().create_task(self.preload(ids))

    async def preload(self, model_ids: Iterable[str]) -> None:
        for model_id in model_ids:
            try:
                await self._loaded_runner(model_id)
            except BoothaiError as exc:
                self.preload_problems[model_id] = str(exc)
                log.warning("GPU preload of %s failed: %s", model_id, short(exc))

    def loading(self) -> list[str]:
        """The models loading now, sorted."""
        return sorted(self._loads)

    async def ready(self) -> tuple[bool, str]:
        try:
            await run_cpu(_import_torch)
        except Exception as exc:  # noqa: BLE001 - any import failure means "not ready"
            return False, f"torch is not importable ({type(exc).__name__})"
        loading = self.loading()
        if loading:
            return False, f"loading {', '.join(loading)}"
        for model_id, problem in sorted(self.preload_problems.items()):
            runner = self._runners.get(model_id)
            if runner is None or not runner.loaded:
                return False, problem  # a booth tab's model failed to load at start
        return True, ""

    async def aclose(self) -> None:
        if self._preload is not None and not self._preload.done():
            self._preload.cancel()
        for model_id in list(self._runners):
            await self.unload(model_id)

    # -- internals ------------------------------------------------------------------------
    def _admin_lock(self) -> asyncio.Lock:
        if self._admin is None:
            self._admin = asyncio.Lock()
        return self._admin

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
        if runner is None or not runner.loaded or model_id in self._loads:
            load = self._loads.get(model_id)
            if load is None:
                load = asyncio.ensure_future(self._load(model_id))
                self._loads[model_id] = load
                load.add_done_callback(lambda done: self._load_done(model_id, done))
            runner = await asyncio.shield(load)  # a caller's deadline does not stop the load
        self._last_used[model_id] = time.monotonic()
        return runner

    def _load_done(self, model_id: str, done: asyncio.Future[Runner]) -> None:
        if self._loads.get(model_id) is done:
            del self._loads[model_id]
        if not done.cancelled():
            done.exception()  # retrieved: callers that gave up do not leave it unread

    async def _load(self, model_id: str) -> Runner:
        async with self._admin_lock():
            runner = self._runners.get(model_id)
            try:
                if runner is None:
                    runner = await run_gpu(self._factory(model_id))
                    self._runners[model_id] = runner
                if not runner.loaded:
                    await self._make_room(model_id, self._expected_bytes(model_id))
                    await run_gpu(runner.load)
                    self._sizes[model_id] = _runner_bytes(runner)
                    self._last_used[model_id] = time.monotonic()
                    self.preload_problems.pop(model_id, None)
                    await self._make_room(model_id, 0)
            except (InvalidRequest, ModelUnavailable) as exc:
                raise translate(exc, what=model_id) from exc
            except Exception as exc:  # noqa: BLE001 - any load failure: not ready
                raise translate(exc, what=model_id, loading=True) from exc
            return runner

    def _loaded_bytes(self, *, besides: str) -> int:
        return sum(self._sizes.get(mid, 0) for mid, runner in self._runners.items()
                   if runner.loaded and mid != besides)

    async def _make_room(self, model_id: str, incoming: int) -> None:
        """Unload least recently used models (never `model_id`) until the loaded ones and
        `incoming` bytes fit the budget. Called holding the admin lock."""
        budget = self.memory_budget_bytes
        if budget is None:
            return
        own = incoming or self._sizes.get(model_id, 0)
        while self._loaded_bytes(besides=model_id) + own > budget:
            others = [mid for mid, runner in self._runners.items() if runner.loaded and mid != model_id]
            if not others:
                return  # alone and still over: nothing more to give back
            victim = min(others, key=lambda mid: self._last_used.get(mid, 0.0))
            log.info("GPU budget: unloading %s to make room for %s", victim, model_id)
            await self._unload_now(victim)

    async def _unload_now(self, model_id: str) -> bool:
        runner = self._runners.pop(model_id, None)
        if runner is None or not runner.loaded:
            return False
        await run_gpu(runner.unload)
        return True

    def _expected_bytes(self, model_id: str) -> int:
        """What loading `model_id` will take: its last measured size, else its weight files
        in a local folder, else 0 (unknown: the budget is enforced after the load)."""
        if model_id in self._sizes:
            return self._sizes[model_id]
        source = self._sources.get(model_id)
        if source is None and model_id in VISION_MODELS:
            from gpu_jobs.vision_models import resolve_source

            try:
                source = resolve_source(model_id, model_dir=self._vision_model_dir,
                                        sources=self._vision_sources)
            except (InvalidRequest, ModelUnavailable):
                return 0
        return weights_on_disk(source) if source else 0

    async def _call(self, model_id: str, task: Callable[[Runner, R], T], request: R,
                    timeout: float | None) -> T:
        """Load `model_id` if needed, then run `task(runner, request)` on a GPU worker thread
        holding the GPU lock; both within `timeout` (which becomes the request's deadline),
        the runner's exceptions mapped to the core's."""
        if timeout is not None and timeout > 0:
            request = dataclasses.replace(request, deadline=time.time() + timeout)  # type: ignore[type-var]

        def on_gpu(runner: Runner) -> T:
            with self._gpu_lock:
                if not runner.loaded:
                    raise _Evicted  # unloaded for another model while this call queued
                return task(runner, request)

        async def run() -> T:
            while True:
                runner = await self._loaded_runner(model_id)
                try:
                    return await run_gpu(functools.partial(on_gpu, runner))
                except _Evicted:
                    continue  # load it again, within the budget
                except Exception as exc:  # noqa: BLE001 - mapped to the core's errors
                    raise translate(exc, what=model_id) from exc

        return await bounded(run(), timeout=timeout, what=model_id)


class _Evicted(Exception):
    """The runner was unloaded between taking it and holding the GPU lock."""


def weights_on_disk(source: str) -> int:
    """Bytes of the weight files under a local folder (0 for a hub id or a missing path)."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return 0
    return sum(path.stat().st_size for path in folder.rglob("*")
               if path.suffix in WEIGHT_SUFFIXES and path.is_file())


def _runner_bytes(runner: Runner) -> int:
    measure = getattr(runner, "memory_bytes", None)
    return int(measure()) if callable(measure) else 0


def _import_torch() -> None:
    import torch  # noqa: F401


def _image_editor(**kwargs: Any) -> QwenImageEditor:
    from gpu_jobs.image_edit import QwenImageEditor

    return QwenImageEditor(**kwargs)


def _janus(**kwargs: Any) -> JanusGenerator:
    from gpu_jobs.janus import JanusGenerator

    return JanusGenerator(**kwargs)
