"""The domain over the Tables port: tenants, slots, jobs, statistics.

Item layout (pk / sk):
  tenants  "tenant" / {name}                      one item per operator account; its
                                                  upload_password sealed (shared/secret_box),
                                                  own_key_{provider}: {sealed, last4,
                                                  updated_at} (shared/provider_keys)
  slots    {tenant} / {provider}#{index:02d}      20 per provider tab
  lookups  "slot#{upload_token}" / "-"            upload link → slot
  jobs     {tenant} / {job_id}                    job ids sort by time
  stats    {tenant} / "day#{YYYY-MM-DD}#{provider}" and "total#{provider}"  atomic counters
                                                  (done, failed, latency_ms_total, refused, tried)
  traces   {tenant} / {provider}#{index:02d}#{entry id}  shared/booth_trace.py
Every call runs the synchronous port in a worker thread.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from shared.concurrency import run_io
from shared.domain import (
    SLOTS_PER_PROVIDER,
    Job,
    JobStatus,
    ProviderCounts,
    ProviderName,
    Slot,
    Tenant,
    new_token,
    new_upload_password,
    slot_key,
    utc_day,
)
from shared.errors import ConditionFailed, InvalidInput, NotFound
from shared.ports import Tables
from shared.provider_keys import KEYED, OwnKey, last4
from shared.secret_box import SecretBox

TENANT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def check_tenant_name(name: str) -> str:
    if not TENANT_NAME_RE.match(name):
        raise InvalidInput(
            "tenant names are 1-32 characters: lowercase letters, digits, '-' and '_'",
            field="name",
        )
    return name


class Repository:
    def __init__(self, tables: Tables, box: SecretBox | None = None) -> None:
        """`box` seals and opens upload passwords. A repository built without one (the
        pipeline's, the media reader's) never writes an account and cannot read a sealed
        upload password: it fails loudly rather than store one in clear."""
        self.tables = tables
        self.box = box

    async def _run(self, fn, *args, **kwargs) -> Any:
        return await run_io(lambda: fn(*args, **kwargs))

    # -- tenants ---------------------------------------------------------------------------------
    async def create_tenant(self, name: str, password_hash: str) -> Tenant:
        check_tenant_name(name)
        tenant = Tenant(name=name, password_hash=password_hash,
                        upload_password=new_upload_password())
        item = {"pk": "tenant", "sk": name, "name": name, "password_hash": password_hash,
                "upload_password": self._seal(name, tenant.upload_password),
                "created_at": tenant.created_at}
        try:
            await self._run(self.tables.put, "tenants", item, if_absent=True)
        except ConditionFailed:
            raise InvalidInput(f"tenant {name} already exists", field="name") from None
        return tenant

    async def get_tenant(self, name: str) -> Tenant | None:
        item = await self._run(self.tables.get, "tenants", "tenant", name)
        return self._tenant(item) if item else None

    async def list_tenants(self) -> list[Tenant]:
        items = await self._run(self.tables.query, "tenants", "tenant")
        return [self._tenant(i) for i in items]

    async def set_password_hash(self, name: str, password_hash: str) -> None:
        item = await self._run(self.tables.get, "tenants", "tenant", name)
        if item is None:
            raise NotFound(f"no tenant {name}")
        # A read-write of the account: an upload password still in clear (a row from before
        # sealing) is sealed on the way.
        changes = {"password_hash": password_hash}
        if not SecretBox.is_sealed(item["upload_password"]):
            changes["upload_password"] = self._seal(name, item["upload_password"])
        await self._run(self.tables.update, "tenants", "tenant", name, set=changes)

    async def rotate_upload_password(self, name: str) -> str:
        await self._require_tenant(name)
        password = new_upload_password()
        await self._run(self.tables.update, "tenants", "tenant", name,
                        set={"upload_password": self._seal(name, password)})
        return password

    # Upload passwords at rest: sealed with the deployment key, bound to their account (a
    # sealed value copied onto another tenant's row does not open there).
    @staticmethod
    def _context(name: str) -> str:
        return f"tenants/{name}/upload_password"

    def _require_box(self) -> SecretBox:
        if self.box is None:
            raise RuntimeError("this repository has no secret box: it may not read or write "
                               "upload passwords")
        return self.box

    def _seal(self, name: str, password: str) -> str:
        return self._require_box().seal(password, self._context(name))

    def _tenant(self, item: dict) -> Tenant:
        name, stored = item["sk"], item["upload_password"]
        if SecretBox.is_sealed(stored):
            def upload_password() -> str:  # opened on first read only (domain.Tenant)
                return self._require_box().open(stored, self._context(name))
        else:
            upload_password = stored  # a row written before sealing: still valid, in clear
        return Tenant(name=name, password_hash=item["password_hash"],
                      upload_password=upload_password,
                      created_at=float(item.get("created_at", 0)),
                      own_keys=self._own_keys(name, item))

    # -- the account's own provider keys (shared/provider_keys.py) -------------------------------
    @staticmethod
    def _key_attr(provider: ProviderName) -> str:
        return f"own_key_{provider}"

    @staticmethod
    def _key_context(name: str, provider: ProviderName) -> str:
        return f"tenants/{name}/provider_key/{provider}"

    def _own_keys(self, name: str, item: dict) -> dict[ProviderName, OwnKey]:
        keys = {}
        for provider in KEYED:
            stored = item.get(self._key_attr(provider))
            if not stored:  # never set, or removed (the attribute is then null)
                continue
            sealed, context = stored["sealed"], self._key_context(name, provider)

            def opener(sealed: str = sealed, context: str = context) -> str:
                return self._require_box().open(sealed, context)

            keys[provider] = OwnKey(last4=stored["last4"],
                                    updated_at=float(stored["updated_at"]), _open=opener)
        return keys

    async def set_provider_key(self, name: str, provider: ProviderName, key: str) -> Tenant:
        """Store the account's key for `provider`, sealed; the account as it is now."""
        await self._require_tenant(name)
        record = {"sealed": self._require_box().seal(key, self._key_context(name, provider)),
                  "last4": last4(key), "updated_at": time.time()}
        item = await self._run(self.tables.update, "tenants", "tenant", name,
                               set={self._key_attr(provider): record})
        return self._tenant(item)

    async def remove_provider_key(self, name: str, provider: ProviderName) -> Tenant:
        await self._require_tenant(name)
        item = await self._run(self.tables.update, "tenants", "tenant", name,
                               set={self._key_attr(provider): None})
        return self._tenant(item)

    async def _require_tenant(self, name: str) -> Tenant:
        tenant = await self.get_tenant(name)
        if tenant is None:
            raise NotFound(f"no tenant {name}")
        return tenant

    # -- slots -----------------------------------------------------------------------------------
    async def ensure_slots(self, tenant: str, providers: list[ProviderName]) -> None:
        """Create the 20 slots of every enabled provider tab that does not have them yet."""
        existing = {s.key for s in await self.list_slots(tenant)}
        for provider in providers:
            for index in range(1, SLOTS_PER_PROVIDER + 1):
                if slot_key(provider, index) in existing:
                    continue
                slot = Slot(tenant=tenant, provider=provider, index=index,
                            upload_token=new_token())
                await self._run(self.tables.put, "lookups", {
                    "pk": f"slot#{slot.upload_token}", "sk": "-",
                    "tenant": tenant, "slot": slot.key,
                })
                await self._run(self.tables.put, "slots",
                                {"pk": tenant, "sk": slot.key, **slot.to_item()})

    async def list_slots(self, tenant: str) -> list[Slot]:
        return [Slot.from_item(i) for i in await self._run(self.tables.query, "slots", tenant)]

    async def get_slot(self, tenant: str, provider: ProviderName, index: int) -> Slot:
        if not 1 <= index <= SLOTS_PER_PROVIDER:
            raise NotFound(f"slots are numbered 1 to {SLOTS_PER_PROVIDER}")
        item = await self._run(self.tables.get, "slots", tenant, slot_key(provider, index))
        if item is None:
            raise NotFound(f"no slot {index} on the {provider} tab")
        return Slot.from_item(item)

    async def save_slot(self, slot: Slot) -> Slot:
        slot.updated_at = time.time()
        await self._run(self.tables.put, "slots", {"pk": slot.tenant, "sk": slot.key,
                                                   **slot.to_item()})
        return slot

    async def open_link(self, token: str) -> tuple[Slot, Tenant] | None:
        """The slot behind an upload link and its account, or None for an unknown link."""
        if not token or len(token) > 128:
            return None

        def resolve() -> tuple[dict, dict] | None:  # all three reads in one worker-thread hop
            link = self.tables.get("lookups", f"slot#{token}", "-")
            slot = link and self.tables.get("slots", link["tenant"], link["slot"])
            tenant = slot and self.tables.get("tenants", "tenant", link["tenant"])
            return (slot, tenant) if slot and tenant else None

        found = await self._run(resolve)
        return (Slot.from_item(found[0]), self._tenant(found[1])) if found else None

    # -- jobs ------------------------------------------------------------------------------------
    async def put_job(self, job: Job, *, first: Callable[[], None] | None = None) -> None:
        """Write the job's row. `first`: blocking work to do before, on the same worker
        thread (the pipeline's write of the image the row points at, which may change the
        job): one thread hop instead of two on the booth's path. If it raises, no row."""
        def write() -> None:
            if first is not None:
                first()
            self.tables.put("jobs", {"pk": job.tenant, "sk": job.job_id, **job.to_item()})

        await self._run(write)

    async def get_job(self, tenant: str, job_id: str) -> Job | None:
        item = await self._run(self.tables.get, "jobs", tenant, job_id)
        return Job.from_item(item) if item else None

    async def recent_jobs(self, tenant: str, limit: int = 50) -> list[Job]:
        items = await self._run(self.tables.query, "jobs", tenant, descending=True, limit=limit)
        return [Job.from_item(i) for i in items]

    async def jobs_page(self, tenant: str, *, start_after: str | None = None,
                        newest_first: bool = True, limit: int = 100) -> list[Job]:
        """Up to `limit` of the tenant's jobs in id order (ids sort by creation time) after
        the id `start_after` (exclusive): one step of a walk that reads only what it returns,
        however deep it goes (event galleries, shared/galleries.py)."""
        items = await self._run(self.tables.query, "jobs", tenant, descending=newest_first,
                                limit=limit, start_after=start_after)
        return [Job.from_item(i) for i in items]

    async def unfinished_jobs(self, tenant: str, scan: int = 500) -> list[Job]:
        jobs = await self.recent_jobs(tenant, limit=scan)
        return [j for j in jobs if j.status in (JobStatus.QUEUED, JobStatus.RUNNING)]

    # -- statistics ------------------------------------------------------------------------------
    async def count(
        self, *, tenant: str, provider: ProviderName, done: bool, latency_ms: int, at: float,
        tried: bool = False,
    ) -> None:
        """One provider attempt of a booth photo; of a Try it run (`tried`), counted apart:
        the operator's tests are not guests' photos and do not move the averages."""
        if tried:
            add = {"tried": 1}
        else:
            add = {"done": 1, "latency_ms_total": latency_ms} if done else {"failed": 1}
        await self._add_counts(tenant, provider, add, at)

    async def count_refused(self, *, tenant: str, provider: ProviderName, at: float) -> None:
        """A booth request to this provider's slot refused before it became a job."""
        await self._add_counts(tenant, provider, {"refused": 1}, at)

    async def count_late(self, *, tenant: str, provider: ProviderName, at: float) -> None:
        """A booth photo done after its booth had the original (already counted `done`)."""
        await self._add_counts(tenant, provider, {"late": 1}, at)

    async def _add_counts(self, tenant: str, provider: ProviderName, add: dict[str, int],
                          at: float) -> None:
        def count_both() -> None:  # one thread hop for both counters
            for sk in (f"day#{utc_day(at)}#{provider}", f"total#{provider}"):
                self.tables.update("stats", tenant, sk, add=add)

        await self._run(count_both)

    async def read_stats(self, tenant: str) -> dict[ProviderName, dict[str, ProviderCounts]]:
        today = utc_day()
        items = await self._run(self.tables.query, "stats", tenant)
        result: dict[ProviderName, dict[str, ProviderCounts]] = {}
        for item in items:
            parts = item["sk"].split("#")
            if parts[0] == "total":
                period, provider = "total", parts[1]
            elif parts[0] == "day" and parts[1] == today:
                period, provider = "today", parts[2]
            else:
                continue
            counts = ProviderCounts(
                done=int(item.get("done", 0)),
                failed=int(item.get("failed", 0)),
                latency_ms_total=int(item.get("latency_ms_total", 0)),
                refused=int(item.get("refused", 0)),
                tried=int(item.get("tried", 0)),
                late=int(item.get("late", 0)),
            )
            result.setdefault(ProviderName(provider), {})[period] = counts
        return result
