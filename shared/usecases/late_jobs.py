"""The finisher (AWS): jobs a booth's request handed over, run to their end.

The ingest function hands a late slot's job over as it opens (shared/late_results.py); its
order arrives here from the finisher queue. The job's row, its stored original and the
slot as it is now are read back, and the pipeline runs it under the slot's late limit: the
same providers, the same closing, `late` set when it ends after the booth's answer.

The queue delivers at least once. An order for a job that has ended is dropped; one for a
job another finisher is running right now is dropped too, by a claim: one atomic add per
job and visibility period (`add_within` on the throttle table), which the first delivery
wins. A delivery that comes back after a crash arrives a whole visibility timeout later, in
the next period, and may run the job again; two copies of one message seconds apart fall in
the same period (but for the rare pair straddling its boundary), and the provider is called
once.
"""

from __future__ import annotations

import logging
import time

from shared.access import Access, Level, Secret, union
from shared.concurrency import run_io
from shared.domain import ProviderName
from shared.errors import ConditionFailed, NotFound, ProviderFailed
from shared.late_results import FINISHER_QUEUE, FINISHER_VISIBILITY_SECONDS, Finished, LateOrder
from shared.pipeline import BoothPipeline
from shared.repository import Repository

log = logging.getLogger("boothai.late")


class LateJobs:
    # The slot and its account (the account's own provider keys are sealed with a key
    # derived from the signing key); the queue's messages are this function's events.
    # throttle: the claim on a job, against a second delivery of its order.
    ACCESS = Access(tables={"slots": Level.READ, "tenants": Level.READ, "throttle": Level.WRITE},
                    secrets=frozenset({Secret.SIGNING_KEY}),
                    queues={FINISHER_QUEUE: Level.READ})

    @classmethod
    def access(cls) -> Access:
        return union(cls.ACCESS, BoothPipeline.access())

    def __init__(self, *, repo: Repository, pipeline: BoothPipeline) -> None:
        self.repo = repo
        self.pipeline = pipeline

    async def run(self, order: LateOrder) -> Finished | None:
        """The order's job run to its end; None when it had ended already, or another
        finisher holds it."""
        if not await self._claim(order):
            log.info("job %s: another finisher holds it; this delivery is dropped", order.job_id)
            return None
        tenant = await self.repo.get_tenant(order.tenant)
        try:
            slot = await self.repo.get_slot(order.tenant, ProviderName(order.provider),
                                            order.slot_index)
        except (NotFound, ValueError):
            slot = None
        if tenant is None or slot is None:
            return await self.pipeline.give_up(order, ProviderFailed(
                "slot_gone", "the job's slot or account was removed before it could finish"))
        try:
            return await self.pipeline.resume(order, slot=slot, own_keys=tenant.own_keys)
        finally:
            await self.pipeline.drain()  # its counters, before the function freezes

    async def _claim(self, order: LateOrder) -> bool:
        now = time.time()
        period = int(now // FINISHER_VISIBILITY_SECONDS)
        tables = self.repo.tables

        def claim() -> None:
            tables.add_within("throttle", f"finish#{order.tenant}#{order.job_id}",
                              f"period#{period}", add={"runs": 1}, limits={"runs": 1},
                              expires_at=int(now + 2 * FINISHER_VISIBILITY_SECONDS))

        try:
            await run_io(claim)
        except ConditionFailed:
            return False
        return True
