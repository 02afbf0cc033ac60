"""`GET /health`: is storage reachable, which providers and GPU backend are up. Reports,
never raises; no secrets (load balancers and uptime checks call it without auth)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from shared.access import GPU_BACKEND, Access, Level, union
from shared.concurrency import run_io
from shared.config import Settings
from shared.gpu import GpuBackend
from shared.ports import ObjectStore, Tables
from shared.providers import ProviderRegistry

PING_SECONDS = 3.0


@dataclass(frozen=True)
class HealthReport:
    storage: str
    checks: dict[str, str]  # "tables" / "objects" → "ok" or "unavailable (…)"
    providers: dict[str, str]  # name → "ok" or "unavailable: reason" (ProviderRegistry.problem)
    gpu_backend: str
    gpu_ready: bool
    gpu_reason: str
    loaded_models: list[str]  # seed 001: which models are in memory now
    models_error: str | None = None  # why the listing failed, when it did

    @property
    def healthy(self) -> bool:
        return all(v == "ok" for v in self.checks.values())


class ServiceHealth:
    # DescribeTable on one table proves DynamoDB answers; HeadBucket proves S3 does.
    ACCESS = Access(tables={"tenants": Level.READ}, list_bucket=True)

    @classmethod
    def access(cls) -> Access:
        return union(cls.ACCESS, GPU_BACKEND)

    def __init__(self, *, settings: Settings, tables: Tables, store: ObjectStore,
                 providers: ProviderRegistry, gpu: GpuBackend) -> None:
        self.settings = settings
        self.tables = tables
        self.store = store
        self.providers = providers
        self.gpu = gpu

    def _provider_state(self, name, problem: str | None) -> str:
        if problem is not None:
            return f"unavailable: {problem}"
        if self.providers.needs_account_keys(name):
            # Runs for the accounts that added their own key (shared/provider_keys.py).
            return "ok (no deployment key: accounts use their own)"
        return "ok"

    async def check(self) -> HealthReport:
        checks = {
            "tables": await _ping(lambda: self.tables.ping("tenants")),
            "objects": await _ping(self.store.ping),
        }
        ready, reason = await self.gpu.ready()
        loaded: list[str] = []
        models_error = None
        try:
            loaded = list((await self.gpu.models()).loaded)
        except Exception as exc:  # health reports, it never raises
            models_error = exc.__class__.__name__
        providers = {str(name): self._provider_state(name, problem)
                     for name, problem in self.providers.states().items()}
        return HealthReport(storage=self.settings.storage, checks=checks, providers=providers,
                            gpu_backend=self.settings.gpu_backend, gpu_ready=ready,
                            gpu_reason=reason, loaded_models=loaded, models_error=models_error)


async def _ping(ping) -> str:
    try:
        async with asyncio.timeout(PING_SECONDS):
            await run_io(ping)
        return "ok"
    except Exception as exc:  # health reports, it never raises
        return f"unavailable ({exc.__class__.__name__})"
