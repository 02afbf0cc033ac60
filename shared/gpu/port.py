"""The GPU backend port: how the core reaches the torch model runners in `gpu_jobs/`.

Adapters (one file each): `inprocess` (runners in this process, on a worker thread),
`modal` (the deployed Modal app `modal_app.py`), `off` (every call raises ModelNotReady).

Errors: ModelNotReady (backend off, model cannot load / not deployed / unavailable),
InvalidInput (bad images or parameters, unknown model id — `field` names the parameter),
NotFound (unload of an unknown id), DeadlineExceeded (the call outran `timeout`),
ProviderFailed(reason="generation_error") (the model ran and broke).
"""

from __future__ import annotations

from typing import Any, Protocol

# Ids of the two generative models, as they appear in `models()` and `unload()`; vision
# models use the ids of gpu_jobs.vision_models (e.g. "qwen3_vl_2b").
QWEN_IMAGE_EDIT = "qwen_image_edit"
JANUS = "janus"


class GpuBackend(Protocol):
    kind: str  # "inprocess" | "modal" | "off"

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
        """Qwen-Image-Edit → PNG bytes. `per_input=False`: all images (1-3) condition one
        edit, `n` outputs (booth slots: [guest, reference]). `per_input=True`: each image is
        edited on its own, `n` variants each (the images API; len = images × n).
        `size` is (width, height). `steps` / `true_cfg_scale` None → the model's defaults
        (50 / 4.0, or 8 / 1.0 with the Lightning LoRA)."""
        ...

    async def janus_from_photo(
        self,
        photo: bytes,
        *,
        prompt: str,
        size: tuple[int, int],
        seed: int | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """Janus-Pro: describe the guest, generate `prompt` featuring them, PNG at `size`."""
        ...

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
    ) -> str: ...

    async def vision_ocr(
        self,
        model_id: str,
        image: bytes,
        *,
        language: str | None = None,
        max_tokens: int = 2048,
        timeout: float | None = None,
    ) -> str: ...

    async def models(self) -> dict[str, Any]:
        """{"available": [{"id", "name", "params", "kind"}], "loaded": [ids],
        "unavailable": [{"id", "name", "params", "reason"}]}."""
        ...

    async def unload(self, model_id: str) -> bool:
        """Free a model's memory; False when it was not loaded (NotFound if unknown)."""
        ...

    async def ready(self) -> tuple[bool, str]:
        """(True, "") when calls can be served now, else (False, a one-line reason)."""
        ...

    async def aclose(self) -> None: ...
