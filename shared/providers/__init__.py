"""Provider registry: one module per provider, each exposing `create(ctx) -> Provider`.

Only enabled providers are built. A provider module that cannot be imported (its extra is
not installed) is reported as unavailable with the reason, instead of breaking start-up.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

from shared.config import Settings
from shared.domain import ProviderName
from shared.ports import ObjectStore, Tables
from shared.providers.base import Provider, ProviderImage, ProviderJob
from shared.signed_links import LinkSigner

__all__ = ["Provider", "ProviderContext", "ProviderImage", "ProviderJob", "build_providers"]

log = logging.getLogger(__name__)

MODULES: dict[ProviderName, str] = {
    ProviderName.TURBOTEXT: "shared.providers.turbotext",
    ProviderName.GEMINI: "shared.providers.gemini",
    ProviderName.DEEPSEEK: "shared.providers.deepseek",
    ProviderName.QWEN: "shared.providers.qwen",
    ProviderName.LOCAL: "shared.providers.local",
}

# The install extra that brings a provider's client library.
EXTRAS: dict[ProviderName, str] = {ProviderName.GEMINI: "cloud"}


@dataclass
class ProviderContext:
    """What a provider may use besides its own settings. Ports are the synchronous ones;
    call them through a worker thread from async code."""

    settings: Settings
    store: ObjectStore
    tables: Tables
    signer: LinkSigner
    gpu: Any = None  # shared.gpu.port.GpuBackend when the GPU backend is built
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProviderRegistry:
    providers: dict[ProviderName, Provider]
    unavailable: dict[ProviderName, str]

    def get(self, name: ProviderName) -> Provider | None:
        return self.providers.get(name)

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


def build_providers(ctx: ProviderContext) -> ProviderRegistry:
    providers: dict[ProviderName, Provider] = {}
    unavailable: dict[ProviderName, str] = {}
    for name in ctx.settings.enabled_providers:
        try:
            module = importlib.import_module(MODULES[name])
        except ImportError as exc:
            extra = EXTRAS.get(name)
            hint = f"; pip install -e '.[{extra}]'" if extra else ""
            unavailable[name] = f"not installed (missing {exc.name}{hint})"
            log.warning("provider %s unavailable: missing module %s", name, exc.name)
            continue
        providers[name] = module.create(ctx)
    return ProviderRegistry(providers=providers, unavailable=unavailable)
