"""Tenant API keys for the image-edit and vision APIs.

A key is shown once when created; only its SHA-256 is stored (keys are 256-bit random, so a
fast hash is as strong as a slow one here). Items in the `lookups` table:
  "apikey#{sha256}" / "-"          → which tenant a presented key belongs to
  "apikeys#{tenant}" / {key_id}    → the tenant's list (name, prefix shown in listings)
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from shared.concurrency import run_io
from shared.errors import InvalidInput, NotFound
from shared.ports import Tables

KEY_PREFIX = "bth_"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    tenant: str
    name: str
    prefix: str  # the first characters, so an operator can tell keys apart
    created_at: float


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    async def create(self, tenant: str, name: str) -> tuple[ApiKey, str]:
        """Returns the record and the key itself (shown once, never stored)."""
        name = name.strip()
        if not 1 <= len(name) <= 64:
            raise InvalidInput("give the key a name of 1-64 characters", field="name")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(key_id=secrets.token_hex(6), tenant=tenant, name=name,
                        prefix=secret[:10], created_at=time.time())
        digest = _digest(secret)
        await run_io(lambda: self.tables.put("lookups", {
            "pk": f"apikey#{digest}", "sk": "-", "tenant": tenant, "key_id": record.key_id}))
        await run_io(lambda: self.tables.put("lookups", {
            "pk": f"apikeys#{tenant}", "sk": record.key_id, "name": name,
            "prefix": record.prefix, "created_at": record.created_at, "digest": digest}))
        return record, secret

    async def list(self, tenant: str) -> list[ApiKey]:
        items = await run_io(lambda: self.tables.query("lookups", f"apikeys#{tenant}"))
        return [ApiKey(key_id=i["sk"], tenant=tenant, name=i["name"], prefix=i["prefix"],
                       created_at=float(i["created_at"])) for i in items]

    async def revoke(self, tenant: str, key_id: str) -> None:
        item = await run_io(lambda: self.tables.get("lookups", f"apikeys#{tenant}", key_id))
        if item is None:
            raise NotFound(f"no API key {key_id}")
        await run_io(lambda: self.tables.delete("lookups", f"apikey#{item['digest']}", "-"))
        await run_io(lambda: self.tables.delete("lookups", f"apikeys#{tenant}", key_id))

    async def tenant_for(self, presented: str) -> str | None:
        """The tenant owning this key, or None. Lookup by digest: no timing side channel on
        the key's characters."""
        if not presented.startswith(KEY_PREFIX) or len(presented) > 100:
            return None
        item = await run_io(lambda: self.tables.get("lookups", f"apikey#{_digest(presented)}", "-"))
        return item["tenant"] if item else None
