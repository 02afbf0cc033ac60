"""After a restart of `boothai serve`: jobs a stop left queued or running can never finish.
Close them as failed (reason `interrupted`), move their originals to trash/, count them."""

from __future__ import annotations

import time

from shared import object_keys
from shared.access import Access, Level
from shared.domain import JobStatus
from shared.pipeline import close_failed
from shared.ports import ObjectStore
from shared.repository import Repository


class InterruptedJobs:
    ACCESS = Access(
        tables={"tenants": Level.READ, "jobs": Level.CRUD, "stats": Level.WRITE},
        objects={object_keys.ORIGINALS: Level.CRUD, object_keys.TRASH: Level.WRITE},
    )

    def __init__(self, *, repo: Repository, store: ObjectStore) -> None:
        self.repo = repo
        self.store = store

    async def close_all(self) -> int:
        """Close every tenant's unfinished jobs; returns how many."""
        closed = 0
        for tenant in await self.repo.list_tenants():
            for job in await self.repo.unfinished_jobs(tenant.name):
                job.status, job.reason, job.finished_at = JobStatus.FAILED, "interrupted", time.time()
                await close_failed(job, store=self.store, repo=self.repo)
                await self.repo.count(tenant=job.tenant, provider=job.provider, done=False,
                                      latency_ms=0, at=time.time())
                closed += 1
        return closed
