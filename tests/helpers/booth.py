"""Factories for a ready booth: a tenant with an enabled Local background slot."""

from __future__ import annotations

import asyncio

from shared.domain import ProcessingType, ProviderName
from shared.services import Services
from tests.helpers import photos


async def local_booth(services: Services, name: str = "acme", *, fallback: bool = False,
                      password: str | None = None):
    """Tenant `name` (operator password `pw-{name}` unless given) whose Local slot 1 does
    background replacement onto a beach, enabled. Returns (tenant, slot)."""
    tenant, _ = await services.create_tenant(name, password or "pw-" + name)
    slot = await services.repo.get_slot(name, ProviderName.LOCAL, 1)
    key = f"references/{name}/local/01.jpg"
    await asyncio.to_thread(services.store.put, key, photos.background(), "image/jpeg")
    slot.type, slot.enabled, slot.reference_key = ProcessingType.BACKGROUND, True, key
    slot.reference_mime, slot.fallback_to_original = "image/jpeg", fallback
    await services.repo.save_slot(slot)
    return tenant, slot
