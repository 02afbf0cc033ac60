"""The finisher (AWS): jobs a booth's request handed over, run to their end.

The ingest function hands a late slot's job over as it opens (shared/late_results.py); its
order arrives here from the finisher queue. The job's row, its stored original and the
slot as it is now are read back, and the pipeline runs it under the slot's late limit: the
same providers, the same closing, `late` set when it ends after the booth's answer. An order
for a job that has ended already (the queue delivers at least once) is dropped.
"""

from __future__ import annotations

import logging

from shared.access import Access, Level, Secret, union
from shared.domain import ProviderName
from shared.errors import NotFound, ProviderFailed
from shared.late_results import FINISHER_QUEUE, Finished, LateOrder
from shared.pipeline import BoothPipeline
from shared.repository import Repository

log = logging.getLogger("boothai.late")


class LateJobs:
    # The slot and its account (the account's own provider keys are sealed with a key
    # derived from the signing key); the queue's messages are this function's events.
    ACCESS = Access(tables={"slots": Level.READ, "tenants": Level.READ},
                    secrets=frozenset({Secret.SIGNING_KEY}),
                    queues={FINISHER_QUEUE: Level.READ})

    @classmethod
    def access(cls) -> Access:
        return union(cls.ACCESS, BoothPipeline.access())

    def __init__(self, *, repo: Repository, pipeline: BoothPipeline) -> None:
        self.repo = repo
        self.pipeline = pipeline

    async def run(self, order: LateOrder) -> Finished | None:
        """The order's job run to its end; None when it had ended already."""
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
