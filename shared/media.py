"""Stored images the operator works with: slot reference images, and job originals/results
read back (whole or as thumbnails). The admin and media functions call these; they never
touch the object store themselves."""

from __future__ import annotations

from shared.concurrency import run_cpu, run_io
from shared.config import Settings
from shared.domain import Slot
from shared.images import extension_for, prepare_reference, sniff_mime, thumbnail
from shared.ports import ObjectStore
from shared.repository import Repository


class Media:
    def __init__(self, *, settings: Settings, repo: Repository, store: ObjectStore) -> None:
        self.settings = settings
        self.repo = repo
        self.store = store

    async def set_reference(self, slot: Slot, data: bytes) -> Slot:
        """Validate (by decoding), store upright and bounded, point the slot at it."""
        image = await run_cpu(lambda: prepare_reference(data, max_pixels=self.settings.max_pixels))
        old_key = slot.reference_key
        key = f"references/{slot.tenant}/{slot.provider}/{slot.index:02d}.{extension_for(image.mime)}"
        await run_io(lambda: self.store.put(key, image.data, image.mime))
        if old_key and old_key != key:
            await run_io(lambda: self.store.delete(old_key))
        slot.reference_key, slot.reference_mime = key, image.mime
        return await self.repo.save_slot(slot)

    async def remove_reference(self, slot: Slot) -> Slot:
        if slot.reference_key:
            key = slot.reference_key
            await run_io(lambda: self.store.delete(key))
        slot.reference_key = slot.reference_mime = None
        return await self.repo.save_slot(slot)

    async def read(self, key: str, *, thumb: bool = False) -> tuple[bytes, str]:
        """An object's bytes and content type (sniffed), or a 256 px JPEG thumbnail."""
        data = await run_io(lambda: self.store.get(key))
        if thumb:
            data = await run_cpu(lambda: thumbnail(data, max_pixels=self.settings.max_pixels))
            return data, "image/jpeg"
        return data, sniff_mime(data) or "application/octet-stream"
