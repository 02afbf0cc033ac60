"""Provider registry: one module per provider, each exposing `ACCESS` (what it touches in
the storage ports, shared/access.py) and `create(ctx) -> Provider`.

Only enabled providers are built, each over ports scoped to its own `ACCESS`. A provider
module that cannot be imported (its extra is not installed) is reported as unavailable with
the reason, instead of breaking start-up.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from functools import cache

from shared.access import Access, union
from shared.domain import ProviderName
from shared.providers.base import Provider, ProviderContext, ProviderImage, ProviderJob

__all__ = ["Provider", "ProviderContext", "ProviderImage", "ProviderJob", "ProviderRegistry",
           "build_providers", "declared_access"]

log = logging.getLogger(__name__)

MODULES: dict[ProviderName, str] = {
    ProviderName.TURBOTEXT: "shared.providers.turbotext",
    ProviderName.GEMINI: "shared.providers.gemini",
    ProviderName.DEEPSEEK: "shared.providers.deepseek",
    ProviderName.QWEN: "shared.providers.qwen",
    ProviderName.LOCAL: "shared.providers.local",
}

# The install extra that brings a provider's client library; one not listed comes with the
# core install (Gemini's SDK does), so a missing one means the install is incomplete.
EXTRAS: dict[ProviderName, str] = {}


@dataclass
class ProviderRegistry:
    providers: dict[ProviderName, Provider]
    unavailable: dict[ProviderName, str]

    def get(self, name: ProviderName | None) -> Provider | None:
        return self.providers.get(name) if name is not None else None

    def unavailable_reason(self, name: ProviderName) -> str:
        return self.unavailable.get(name, "not enabled")

    def problem(self, name: ProviderName) -> str | None:
        """Why `name` cannot process photos in this deployment now (not enabled, not
        installed, or its setup: a key, a GPU backend, a public URL), or None when it can.
        The one answer that /health, the operator's tabs and slot save all give."""
        provider = self.providers.get(name)
        if provider is None:
            return self.unavailable_reason(name)
        return provider.setup_problem()

    def states(self) -> dict[ProviderName, str | None]:
        """`problem` of every enabled provider, built or not."""
        names = [*self.providers, *(n for n in self.unavailable if n not in self.providers)]
        return {name: self.problem(name) for name in names}

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
            hint = f"; pip install -e '.[{extra}]'" if extra else "; reinstall: pip install -e ."
            unavailable[name] = f"not installed (missing {exc.name}{hint})"
            log.warning("provider %s unavailable: missing module %s", name, exc.name)
            continue
        providers[name] = module.create(ctx.scoped(module.ACCESS, f"provider {name}"))
    return ProviderRegistry(providers=providers, unavailable=unavailable)


@cache
def declared_access() -> Access:
    """What every provider together may touch: the booth path may run any enabled one, and
    which are enabled is a deployment setting, so its grants cover them all."""
    return union(*(importlib.import_module(module).ACCESS for module in MODULES.values()))
