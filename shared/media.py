"""Stored images the operator works with: slot reference images, and job originals/results
read back (whole or as thumbnails). The console and the signed media links use this; they
never call the object store themselves. What may be read depends on the store it is given:
each use case passes one scoped to its own declaration."""

from __future__ import annotations

from dataclasses import dataclass

from shared import object_keys, thumbnails
from shared.concurrency import run_cpu, run_io
from shared.config import Settings
from shared.domain import Slot
from shared.images import PreparedImage, fit_bytes, prepare_reference, sniff_mime, thumbnail
from shared.ports import ObjectStore
from shared.repository import Repository


@dataclass(frozen=True)
class StoredImage:
    data: bytes
    mime: str


class Media:
    def __init__(self, *, settings: Settings, repo: Repository, store: ObjectStore) -> None:
        self.settings = settings
        self.repo = repo
        self.store = store

    async def set_reference(self, slot: Slot, data: bytes) -> Slot:
        """Validate (by decoding), store upright and bounded with its thumbnail, point the
        slot at it."""
        max_pixels = self.settings.max_pixels

        def prepare() -> tuple[PreparedImage, bytes]:
            image = prepare_reference(data, max_pixels=max_pixels)
            return image, thumbnail(image.data, max_pixels=max_pixels)

        image, small = await run_cpu(prepare)
        old_key = slot.reference_key
        key = object_keys.reference(slot.tenant, slot.provider, slot.index, image.mime)

        def store_both() -> None:
            self.store.put(key, image.data, image.mime)
            thumbnails.put(self.store, key, small)
            if old_key and old_key != key:
                self.store.delete(old_key)
                thumbnails.delete(self.store, old_key)

        await run_io(store_both)
        slot.reference_key, slot.reference_mime = key, image.mime
        return await self.repo.save_slot(slot)

    async def remove_reference(self, slot: Slot) -> Slot:
        if slot.reference_key:
            key = slot.reference_key

            def delete_both() -> None:
                self.store.delete(key)
                thumbnails.delete(self.store, key)

            await run_io(delete_both)
        slot.reference_key = slot.reference_mime = None
        return await self.repo.save_slot(slot)

    async def read(self, key: str, *, thumb: bool = False) -> StoredImage:
        """An object's bytes and content type (sniffed), or its 256 px JPEG thumbnail: the
        stored one, made when the image was; decoded now only for an image stored before
        thumbnails were kept (or whose thumbnail could not be made)."""
        if thumb:
            small = await thumbnails.read(self.store, key)
            if small is not None:
                return StoredImage(small, thumbnails.MIME)
        data = await run_io(lambda: self.store.get(key))
        if thumb:
            small = await run_cpu(lambda: thumbnail(data, max_pixels=self.settings.max_pixels))
            return StoredImage(small, thumbnails.MIME)
        limit = self.settings.response_body_limit
        if limit is not None and len(data) > limit:
            # On Lambda an answer's body is at most 4 MB: a 4K PNG result (~20 MB) would reach
            # the guest's page, a gallery or the viewer as a bare 502. It goes as a JPEG that
            # fits (as the booth's copy does); the store keeps the provider's file.
            fitted, mime = await run_cpu(lambda: fit_bytes(data, max_bytes=limit))
            return StoredImage(fitted, mime)
        return StoredImage(data, sniff_mime(data) or "application/octet-stream")
