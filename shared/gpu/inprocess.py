"""The `inprocess` GPU backend: the gpu_jobs runners in this process, on worker threads.

Models load on first use and stay loaded until `unload()`. One asyncio lock per model keeps
concurrent first calls from loading twice (the runners also lock internally, so a call whose
deadline passed while its thread still runs cannot overlap the next one). torch is imported
only when a model is first used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gpu_jobs.errors import InvalidRequest, ModelUnavailable
from gpu_jobs.vision_models import VISION_MODELS
from shared.errors import InvalidInput, ModelNotReady, NotFound
from shared.gpu.calls import bounded, translate
from shared.gpu.catalog import model_listing
from shared.gpu.port import JANUS, QWEN_IMAGE_EDIT

RunnerFactory = Callable[[], Any]


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
        self._runners: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- tasks ----------------------------------------------------------------------------
    async def edit_images(
        self,
        images: list[bytes],
        *,
        prompt: str,
        negative_prompt: str | None = None,
        n: int = 1,
        size: tuple[int, int] | None = None,
        steps: int | None = None,
        true_cfg_scale: float | None = None,
        seed: int | None = None,
        max_sequence_length: int = 512,
        per_input: bool = False,
        timeout: float | None = None,
    ) -> list[bytes]:
        method = "edit_each" if per_input else "edit"
        kwargs = {
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "n": n,
            "size": size,
            "steps": steps,
            "true_cfg_scale": true_cfg_scale,
            "seed": seed,
            "max_sequence_length": max_sequence_length,
        }
        return await self._call(QWEN_IMAGE_EDIT, method, (list(images),), kwargs, timeout)

    async def janus_from_photo(
        self,
        photo: bytes,
        *,
        prompt: str,
        size: tuple[int, int],
        seed: int | None = None,
        timeout: float | None = None,
    ) -> bytes:
        kwargs = {"slot_prompt": prompt, "size": tuple(size), "seed": seed}
        return await self._call(JANUS, "generate_from_photo", (photo,), kwargs, timeout)

    async def vision_chat(
        self,
        model_id: str,
        images: list[bytes],
        prompt: str,
        *,
        max_tokens: int = 512,
        temperature: float = 0.7,
        top_p: float = 0.9,
        seed: int | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        timeout: float | None = None,
    ) -> str:
        kwargs = {
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "seed": seed,
            "min_pixels": min_pixels,
            "max_pixels": max_pixels,
        }
        self._check_vision_id(model_id)
        return await self._call(model_id, "chat", (list(images), prompt), kwargs, timeout)

    async def vision_ocr(
        self,
        model_id: str,
        image: bytes,
        *,
        language: str | None = None,
        max_tokens: int = 2048,
        timeout: float | None = None,
    ) -> str:
        self._check_vision_id(model_id)
        kwargs = {"language": language, "max_tokens": max_tokens}
        return await self._call(model_id, "ocr", (image,), kwargs, timeout)

    # -- management -----------------------------------------------------------------------
    async def models(self) -> dict[str, Any]:
        loaded = [mid for mid, runner in self._runners.items() if runner.loaded]
        return model_listing(loaded=loaded)

    async def unload(self, model_id: str) -> bool:
        if model_id not in self._factories and model_id not in VISION_MODELS:
            raise NotFound(f"unknown model {model_id!r}")
        async with self._lock(model_id):
            runner = self._runners.pop(model_id, None)
            if runner is None or not runner.loaded:
                return False
            await asyncio.to_thread(runner.unload)
            return True

    async def ready(self) -> tuple[bool, str]:
        try:
            await asyncio.to_thread(_import_torch)
        except Exception as exc:  # noqa: BLE001 - any import failure means "not ready"
            return False, f"torch is not importable ({type(exc).__name__})"
        return True, ""

    async def aclose(self) -> None:
        for model_id in list(self._runners):
            await self.unload(model_id)

    # -- internals ------------------------------------------------------------------------
    def _lock(self, model_id: str) -> asyncio.Lock:
        return self._locks.setdefault(model_id, asyncio.Lock())

    def _check_vision_id(self, model_id: str) -> None:
        spec = VISION_MODELS.get(model_id)
        if spec is None:
            raise InvalidInput(f"unknown vision model {model_id!r}", field="model")
        if spec.unavailable:
            raise ModelNotReady(f"{model_id} is unavailable: {spec.unavailable}")

    def _factory(self, model_id: str) -> RunnerFactory:
        factory = self._factories.get(model_id)
        if factory is not None:
            return factory

        def build() -> Any:
            from gpu_jobs.vision_models import build_runner

            return build_runner(
                model_id,
                model_dir=self._vision_model_dir,
                sources=self._vision_sources,
                device=self._device,
            )

        return build

    async def _loaded_runner(self, model_id: str) -> Any:
        runner = self._runners.get(model_id)
        if runner is not None and runner.loaded:
            return runner
        async with self._lock(model_id):
            runner = self._runners.get(model_id)
            try:
                if runner is None:
                    runner = await asyncio.to_thread(self._factory(model_id))
                    self._runners[model_id] = runner
                await asyncio.to_thread(runner.load)
            except (InvalidRequest, ModelUnavailable) as exc:
                raise translate(exc, what=model_id) from exc
            except Exception as exc:  # noqa: BLE001 - any load failure: not ready
                raise translate(exc, what=model_id, loading=True) from exc
            return runner

    async def _call(
        self,
        model_id: str,
        method: str,
        args: tuple,
        kwargs: dict[str, Any],
        timeout: float | None,
    ) -> Any:
        async def run() -> Any:
            runner = await self._loaded_runner(model_id)
            try:
                return await asyncio.to_thread(getattr(runner, method), *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - mapped to the core's errors
                raise translate(exc, what=model_id) from exc

        return await bounded(run(), timeout=timeout, what=model_id)


def _import_torch() -> None:
    import torch  # noqa: F401


def _image_editor(**kwargs: Any) -> Any:
    from gpu_jobs.image_edit import QwenImageEditor

    return QwenImageEditor(**kwargs)


def _janus(**kwargs: Any) -> Any:
    from gpu_jobs.janus import JanusGenerator

    return JanusGenerator(**kwargs)
