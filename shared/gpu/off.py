"""The `off` GPU backend: the deployment has no GPU models; every call says so."""

from __future__ import annotations

from typing import Any

from shared.errors import ModelNotReady
from shared.gpu.catalog import model_listing

REASON = "GPU backend is off (BOOTHAI_GPU_BACKEND=off)"


class OffGpuBackend:
    kind = "off"

    def _refuse(self) -> ModelNotReady:
        return ModelNotReady(REASON)

    async def edit_images(self, images: list[bytes], **_: Any) -> list[bytes]:
        raise self._refuse()

    async def janus_from_photo(self, photo: bytes, **_: Any) -> bytes:
        raise self._refuse()

    async def vision_chat(self, model_id: str, images: list[bytes], prompt: str, **_: Any) -> str:
        raise self._refuse()

    async def vision_ocr(self, model_id: str, image: bytes, **_: Any) -> str:
        raise self._refuse()

    async def models(self) -> dict[str, Any]:
        listing = model_listing(loaded=[])
        # Nothing is servable: list everything as unavailable, with the reason.
        listing["unavailable"] = [{**m, "reason": REASON} for m in listing["available"]] + listing[
            "unavailable"
        ]
        listing["available"] = []
        return listing

    async def unload(self, model_id: str) -> bool:
        raise self._refuse()

    async def ready(self) -> tuple[bool, str]:
        return False, REASON

    async def aclose(self) -> None:
        return None
