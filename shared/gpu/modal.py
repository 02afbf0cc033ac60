"""The `modal` GPU backend: calls the deployed Modal app (modal_app.py) with `.remote.aio`.

Needs the `modal` extra and credentials (MODAL_TOKEN_ID / MODAL_TOKEN_SECRET or ~/.modal.toml)
and a deployed app (`modal deploy modal_app.py`). Missing credentials, a missing app or an
unreachable Modal all surface as ModelNotReady with the reason. Every call is bounded by its
`timeout` (or the backend's default): the booth cannot wait past its window.

Which models are loaded lives in Modal's containers, not here: `models()` lists what the app
can serve and reports `loaded` as empty; `unload()` is a no-op (containers scale down after
their `scaledown_window`).
"""

from __future__ import annotations

from typing import Any

from gpu_jobs.errors import GpuJobError
from gpu_jobs.vision_models import VISION_MODELS
from shared.errors import BoothaiError, InvalidInput, ModelNotReady, NotFound
from shared.gpu.calls import bounded, short, translate
from shared.gpu.catalog import known_ids, model_listing

CLASS_NAMES = {"edit": "ImageEditor", "janus": "JanusGenerator", "vision": "VisionModel"}


class ModalGpuBackend:
    kind = "modal"

    def __init__(self, *, app_name: str = "boothai-gpu", timeout: float = 600.0) -> None:
        self.app_name = app_name
        self.timeout = timeout
        self._classes: dict[str, Any] = {}

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
        obj = self._cls("edit")()
        method = obj.edit_each if per_input else obj.edit
        return await self._remote(
            method,
            timeout,
            "image editor",
            images=list(images),
            prompt=prompt,
            negative_prompt=negative_prompt,
            n=n,
            size=tuple(size) if size else None,
            steps=steps,
            true_cfg_scale=true_cfg_scale,
            seed=seed,
            max_sequence_length=max_sequence_length,
        )

    async def janus_from_photo(
        self,
        photo: bytes,
        *,
        prompt: str,
        size: tuple[int, int],
        seed: int | None = None,
        timeout: float | None = None,
    ) -> bytes:
        obj = self._cls("janus")()
        return await self._remote(
            obj.generate_from_photo,
            timeout,
            "Janus",
            photo=photo,
            slot_prompt=prompt,
            size=tuple(size),
            seed=seed,
        )

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
        self._check_vision_id(model_id)
        obj = self._cls("vision")(model_id=model_id)
        return await self._remote(
            obj.chat,
            timeout,
            model_id,
            images=list(images),
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
        )

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
        obj = self._cls("vision")(model_id=model_id)
        return await self._remote(
            obj.ocr, timeout, model_id, image=image, language=language, max_tokens=max_tokens
        )

    # -- management -----------------------------------------------------------------------
    async def models(self) -> dict[str, Any]:
        return model_listing(loaded=[])

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

    def _check_vision_id(self, model_id: str) -> None:
        spec = VISION_MODELS.get(model_id)
        if spec is None:
            raise InvalidInput(f"unknown vision model {model_id!r}", field="model")
        if spec.unavailable:
            raise ModelNotReady(f"{model_id} is unavailable: {spec.unavailable}")

    def _lookup_reason(self, exc: BaseException) -> str:
        import modal.exception as mexc

        if isinstance(exc, mexc.AuthError):
            return "Modal credentials are missing or invalid (MODAL_TOKEN_ID / MODAL_TOKEN_SECRET)"
        if isinstance(exc, mexc.NotFoundError):
            return f"Modal app {self.app_name!r} is not deployed (modal deploy modal_app.py)"
        if isinstance(exc, mexc.ConnectionError | OSError):
            return f"Modal is unreachable ({short(exc)})"
        return f"Modal lookup failed ({short(exc)})"

    async def _remote(self, method: Any, timeout: float | None, what: str, **kwargs: Any) -> Any:
        import modal.exception as mexc

        limit = self.timeout if timeout is None else min(timeout, self.timeout)
        try:
            return await bounded(method.remote.aio(**kwargs), timeout=limit, what=what)
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
