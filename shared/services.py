"""The service container: every long-lived object the functions need, built once from the
settings. `boothai serve` builds one for the whole app; each Lambda function builds one at
import time and keeps it for the container's life."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from shared.auth import Authenticator, hash_password
from shared.config import Settings
from shared.domain import Tenant
from shared.job_signals import JobSignals
from shared.media import Media
from shared.pipeline import BoothPipeline
from shared.ports import ObjectStore, Tables
from shared.providers import ProviderContext, ProviderRegistry, build_providers
from shared.repository import Repository
from shared.signed_links import LinkSigner
from shared.storage import open_storage
from shared.throttle import Throttle

log = logging.getLogger("boothai")


@dataclass
class Services:
    settings: Settings
    tables: Tables
    store: ObjectStore
    signer: LinkSigner
    repo: Repository
    auth: Authenticator
    providers: ProviderRegistry
    pipeline: BoothPipeline
    media: Media | None = None
    job_signals: JobSignals | None = None
    gpu: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    async def aclose(self) -> None:
        await self.pipeline.drain()
        await self.providers.aclose()
        if self.gpu is not None:
            await self.gpu.aclose()

    async def create_tenant(self, name: str, password: str | None = None) -> tuple[Tenant, str]:
        return await create_tenant(self.repo, self.settings, name, password)


async def create_tenant(
    repo: Repository, settings: Settings, name: str, password: str | None = None
) -> tuple[Tenant, str]:
    """Create an operator account with its 20 slots per enabled tab. Returns the tenant and
    its password (the given one or a fresh random one)."""
    password = password or secrets.token_urlsafe(12)
    tenant = await repo.create_tenant(name, hash_password(password))
    await repo.ensure_slots(name, list(settings.enabled_providers))
    return tenant, password


def open_repository(settings: Settings) -> Repository:
    """Just the accounts and slots, for command-line tools: no providers, no GPU."""
    tables, _ = open_storage(settings, LinkSigner(_signing_key(settings)))
    return Repository(tables)


def _signing_key(settings: Settings) -> bytes:
    if settings.signing_key:
        return settings.signing_key.get_secret_value().encode()
    if settings.storage == "aws":
        raise ValueError("BOOTHAI_SIGNING_KEY is required with BOOTHAI_STORAGE=aws")
    # Embedded mode: one random key per data folder, kept beside the data, readable by us only.
    path = settings.data_dir / "signing.key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def build_services(settings: Settings) -> Services:
    signer = LinkSigner(_signing_key(settings))
    tables, store = open_storage(settings, signer)
    repo = Repository(tables)
    throttle = Throttle(tables, limit=settings.auth_failures_allowed,
                        window_seconds=settings.auth_failure_window_seconds)
    gpu = _build_gpu(settings)
    job_signals = JobSignals(tables)
    ctx = ProviderContext(settings=settings, store=store, tables=tables, signer=signer, gpu=gpu,
                          extras={"job_signals": job_signals})
    providers = build_providers(ctx)
    pipeline = BoothPipeline(settings=settings, repo=repo, store=store, providers=providers)
    return Services(settings=settings, tables=tables, store=store, signer=signer, repo=repo,
                    auth=Authenticator(repo, throttle), providers=providers, pipeline=pipeline,
                    media=Media(settings=settings, repo=repo, store=store),
                    job_signals=job_signals, gpu=gpu)


def _build_gpu(settings: Settings) -> Any:
    try:
        from shared.gpu import build_gpu_backend
    except ImportError:
        return None
    return build_gpu_backend(
        settings.gpu_backend,
        qwen_edit_model=settings.qwen_edit_model,
        qwen_lightning_lora=settings.qwen_lightning_lora,
        janus_model=settings.janus_model,
        vision_model_dir=settings.vision_model_dir,
        modal_app_name=settings.modal_app_name,
        modal_timeout=settings.modal_timeout_seconds,
        device=settings.gpu_device,
        edit_condition_image_size=settings.qwen_edit_condition_area,
        edit_vae_image_size=settings.qwen_edit_vae_area,
    )
