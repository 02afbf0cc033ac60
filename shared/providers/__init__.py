"""Provider registry: one module per provider, each exposing `ACCESS` (what it touches in
the storage ports, shared/access.py) and `create(ctx) -> Provider`.

Only enabled providers are built, each over ports scoped to its own `ACCESS`. A provider
module that cannot be imported (its extra is not installed) is reported as unavailable with
the reason, instead of breaking start-up.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache

from shared.access import Access, union
from shared.domain import ProviderName
from shared.provider_keys import no_key_message, spec_of
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

    def problem(self, name: ProviderName,
                own_keys: Collection[ProviderName] | None = None) -> str | None:
        """Why `name` cannot process photos now (not enabled, not installed, its setup: a
        GPU backend, a public URL; for an account, `own_keys` being the providers it holds
        a key for: no key of its own nor the deployment's), or None when it can. The one
        answer that /health, the operator's tabs and cards, and the booth all give."""
        provider = self.providers.get(name)
        if provider is None:
            return self.unavailable_reason(name)
        setup = provider.setup_problem()
        if setup is not None or own_keys is None:
            return setup
        return self.key_problem(name, own_keys)

    def key_problem(self, name: ProviderName, own_keys: Collection[ProviderName]) -> str | None:
        """For a provider that takes a key: none of the account's and none of the
        deployment's, said with what to do."""
        spec, provider = spec_of(name), self.providers.get(name)
        if spec is None or not getattr(provider, "takes_key", False) or name in own_keys:
            return None
        return None if provider.deployment_key() is not None else no_key_message(spec)

    def needs_account_keys(self, name: ProviderName) -> bool:
        """A provider that takes a key, with no deployment key to fall back on."""
        provider = self.providers.get(name)
        return getattr(provider, "takes_key", False) and provider.deployment_key() is None

    def states(self) -> dict[ProviderName, str | None]:
        """`problem` of every enabled provider, built or not, for the deployment (keys are
        the accounts' business)."""
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
