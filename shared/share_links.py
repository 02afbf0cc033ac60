"""A job's public share link: an unguessable token that opens one job's page (`/s/{token}`)
until it expires or the operator revokes it. Stored in the `lookups` table like upload
links, two items per link, both carrying `expires_at` (DynamoDB deletes them by TTL; the
embedded sqlite hides them on read, and `open` checks the time again):

  lookups  "share#{token}" / "-"               token → tenant, job_id   (the page's lookup)
  lookups  "sharejob#{tenant}#{job_id}" / "-"  job → token              (the operator's copy
                                                                         button, revocation)

The token is the whole secret (192 bits from `secrets`); it names neither the account nor
the job, and a lookup by token can only ever reach the job it was made for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.access import Access, Level
from shared.concurrency import run_io
from shared.domain import Job, Slot, new_token
from shared.ports import Tables

DAY = 86400
TOKEN_BYTES = 24  # 32 URL-safe characters
MAX_TOKEN_CHARS = 64


@dataclass(frozen=True)
class ShareLink:
    token: str
    tenant: str
    job_id: str
    created_at: float
    expires_at: int

    @property
    def path(self) -> str:
        return share_path(self.token)


def share_path(token: str) -> str:
    return f"/s/{token}"


def share_base(configured: str | None, request_base: str) -> str:
    """Where share pages are served: BOOTHAI_SHARE_BASE_URL, else the address the request
    came in at (the console and the booth ingest both serve the pages)."""
    return (configured or request_base).rstrip("/")


def share_url(base: str, token: str) -> str:
    """The page's full address under `base` (OperatorConsole.share_base)."""
    return f"{base.rstrip('/')}{share_path(token)}"


def _token_pk(token: str) -> str:
    return f"share#{token}"


def _job_pk(tenant: str, job_id: str) -> str:
    return f"sharejob#{tenant}#{job_id}"


class ShareLinks:
    """Make, find, open and revoke share links. The console makes and revokes them (CRUD);
    the public page only opens them (`READER`)."""

    ACCESS = Access(tables={"lookups": Level.CRUD})
    READER = Access(tables={"lookups": Level.READ})

    def __init__(self, tables: Tables, clock: Callable[[], float] = time.time) -> None:
        self.tables = tables
        self.clock = clock

    async def current(self, tenant: str, job_id: str) -> ShareLink | None:
        """The job's live link, or None."""
        item = await run_io(lambda: self.tables.get("lookups", _job_pk(tenant, job_id), "-"))
        if not item or not self._live(item):
            return None
        return ShareLink(item["token"], tenant, job_id, float(item["created_at"]),
                         int(item["expires_at"]))

    async def ensure(self, job: Job, slot: Slot) -> ShareLink:
        """The job's live link, made now (living `slot.share_days`) if it has none. Whether
        the slot allows share pages is the caller's rule (OperatorConsole.share_link)."""
        found = await self.current(job.tenant, job.job_id)
        if found is not None:
            return found
        now = self.clock()
        link = ShareLink(new_token(TOKEN_BYTES), job.tenant, job.job_id, now,
                         int(now + slot.share_days * DAY))

        def write() -> None:  # the token item first: a job item never points at nothing
            self.tables.put("lookups", {
                "pk": _token_pk(link.token), "sk": "-", "tenant": link.tenant,
                "job_id": link.job_id, "created_at": link.created_at,
                "expires_at": link.expires_at}, if_absent=True)
            self.tables.put("lookups", {
                "pk": _job_pk(link.tenant, link.job_id), "sk": "-", "token": link.token,
                "created_at": link.created_at, "expires_at": link.expires_at})

        await run_io(write)
        return link

    async def revoke(self, tenant: str, job_id: str) -> bool:
        """Forget the job's link (both items); False when it had none."""
        def delete() -> bool:
            item = self.tables.get("lookups", _job_pk(tenant, job_id), "-")
            if not item:
                return False
            self.tables.delete("lookups", _token_pk(item["token"]), "-")
            self.tables.delete("lookups", _job_pk(tenant, job_id), "-")
            return True

        return await run_io(delete)

    async def open(self, token: str) -> ShareLink | None:
        """The link behind `token` while it lives; None for anything else (unknown, expired,
        revoked, malformed), with no difference the caller could tell apart."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        item = await run_io(lambda: self.tables.get("lookups", _token_pk(token), "-"))
        if not item or not self._live(item):
            return None
        return ShareLink(token, item["tenant"], item["job_id"], float(item["created_at"]),
                         int(item["expires_at"]))

    def _live(self, item: dict) -> bool:
        # DynamoDB deletes expired items up to days late, and the adapter filters them; a
        # moved clock (tests) is checked here too.
        return int(item.get("expires_at") or 0) > self.clock()
