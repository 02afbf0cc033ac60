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


async def local_booth_in(data_dir, *, upload_password: str | None = None) -> tuple[str, str]:
    """For a benchmark's server process: a ready Local booth (tenant `bench`) in the embedded
    store at `data_dir`, built before that server starts. Returns (upload token, upload
    password); `upload_password` fixes the password (servers sharing one request body)."""
    from pathlib import Path

    from shared.config import Settings
    from shared.services import build_services

    services = build_services(Settings(data_dir=Path(data_dir), enabled_providers=["local"]))
    try:
        tenant, slot = await local_booth(services, "bench")
        if upload_password is not None:
            # Sealed like every password the product writes (shared/secret_box.py).
            sealed = services.box.seal(upload_password, services.repo._context("bench"))
            await asyncio.to_thread(services.repo.tables.update, "tenants", "tenant", "bench",
                                    set={"upload_password": sealed})
            return slot.upload_token, upload_password
        return slot.upload_token, tenant.upload_password
    finally:
        await services.aclose()


def zero_time_provider():
    """A provider that answers at once with the prepared photo: what a server costs outside
    the AI (the benchmarks' baseline)."""
    from shared.providers.base import BaseProvider, ProviderImage
    from shared.providers.local import LocalProvider

    class ZeroTimeProvider(BaseProvider):
        name = LocalProvider.name
        label = "Zero-time"
        capabilities = LocalProvider.capabilities
        max_side = LocalProvider.max_side

        async def run(self, job):
            return ProviderImage(job.photo, job.photo_mime)

    return ZeroTimeProvider()
