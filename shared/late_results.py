"""Late results: a booth photo whose provider is slower than the booth's window.

A slot whose `when_late` is ORIGINAL or ORIGINAL_QR does not run its provider against the
booth's window but against its own limit (`late_limit_seconds` from the photo's arrival).
The pipeline hands the open job to a finisher and waits for it until the window's cut
(`BoothDeadline.providers_by`): a job that ends by then is answered as always; one still
working gets the original (with a QR code to its share page), and ends later, done or failed,
with `late` recorded. Two finishers, one contract:

    InProcessFinisher  `boothai serve`: the job runs as a task of this process; a stop
                       leaves it running, and the next start closes it as failed
                       (shared/recovery.py, reason `interrupted`).
    QueueFinisher      AWS: a Lambda function cannot keep working after its response, so
                       the order (account, job, limits) goes to an SQS queue feeding the
                       finisher function (functions/finisher.py, `LateJobs`); the booth's
                       request polls the job's row until the cut. The job is handed over
                       when it opens, not at the cut: a provider call cannot move between
                       machines, and starting it again at the cut would cost the guest the
                       whole window and the operator a second provider call.

Which side of the cut a job ended on is decided once, by the finisher, as it writes the
job's last row: `late` when that happens after `booth_until`. The booth's wait reads the row
once more after the cut, so a job written before it is never answered as late.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from shared import object_keys
from shared.access import Access, Level
from shared.concurrency import run_io
from shared.domain import Job, JobStatus, ProviderName, Slot
from shared.errors import BoothaiError, DeadlineExceeded, InvalidInput, ProviderFailed
from shared.images import PreparedImage, sniff_mime
from shared.ports import ObjectStore, WorkQueue
from shared.provider_keys import OwnKey
from shared.providers.base import Provider
from shared.repository import Repository

log = logging.getLogger("boothai.late")

FINISHER_QUEUE = "finisher"  # the queue's name in Access declarations (template.yaml)
# The booth's wait reads the job's row on AWS (a strongly consistent GetItem, ~5 ms) soon
# at first, then this often: a quick provider's result is not held up by a whole period
# (benchmarks/late_handover.py measured a median +398 ms with a flat 0.4 s), and a 48 s wait
# costs ~125 reads.
POLL_SECONDS = 0.4
FIRST_POLL_SECONDS = 0.05  # then doubled up to POLL_SECONDS
# The finisher queue's visibility timeout (template.yaml's FinisherQueue, held by
# tests/infra/test_template.py): an order comes back only this long after a receive that
# did not end in its deletion, i.e. after its finisher crashed or timed out.
FINISHER_VISIBILITY_SECONDS = 720
# A QR-stamped original is made this long before the cut (a 24 MP JPEG takes ~1 s on one
# core, benchmarks/qr_stamp.py), not for every photo: most providers answer in time.
STAMP_LEAD_SECONDS = 5.0


@dataclass(frozen=True)
class LateOrder:
    """What a finisher needs to take a job over, as plain data (the SQS message body).
    Times are wall-clock epochs: the order crosses machines."""

    tenant: str
    job_id: str
    provider: str  # the job's slot: provider tab and index
    slot_index: int
    finish_by: float  # the providers must be done by then (arrival + the slot's late limit)
    booth_until: float  # the booth has its answer after this: ending later is `late`

    def to_message(self) -> str:
        return json.dumps({"tenant": self.tenant, "job_id": self.job_id,
                           "provider": self.provider, "slot_index": self.slot_index,
                           "finish_by": self.finish_by, "booth_until": self.booth_until})

    @classmethod
    def from_message(cls, body: str) -> LateOrder:
        try:
            data = json.loads(body)
            return cls(tenant=str(data["tenant"]), job_id=str(data["job_id"]),
                       provider=str(data["provider"]), slot_index=int(data["slot_index"]),
                       finish_by=float(data["finish_by"]),
                       booth_until=float(data["booth_until"]))
        except (ValueError, KeyError, TypeError):
            raise InvalidInput("not a late-job order") from None

    def finish_by_monotonic(self) -> float:
        """`finish_by` on this machine's time.monotonic() clock (the providers' deadline)."""
        return time.monotonic() + (self.finish_by - time.time())


@dataclass
class LateWork:
    """An open job and everything its providers need, ready to run to its end."""

    order: LateOrder
    job: Job
    slot: Slot
    chain: list[Provider]
    photo: PreparedImage
    reference: bytes | None
    own_keys: Mapping[ProviderName, OwnKey]


@dataclass(frozen=True)
class Finished:
    """A job that ended: done with its result's bytes (None where the result could not be
    kept), or failed with its error."""

    job: Job
    result: bytes | None = None
    mime: str | None = None
    error: BoothaiError | None = None


class Running(Protocol):
    async def wait(self, until: float) -> Finished | None:
        """The job once it has ended, waiting at most until `until` (time.monotonic());
        None when it is still working then."""


Finish = Callable[[LateWork], Awaitable[Finished]]


class Finisher(Protocol):
    ACCESS: Access

    async def hand_over(self, work: LateWork, finish: Finish) -> Running:
        """Start the job's way to its end (`finish`, here or in another function).
        StorageUnavailable when it could not be handed over: the caller runs it itself."""


class InProcessFinisher:
    ACCESS = Access()

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    async def hand_over(self, work: LateWork, finish: Finish) -> Running:
        task = asyncio.ensure_future(finish(work))
        self._tasks.add(task)  # held until it ends: a task nobody holds may be collected
        task.add_done_callback(self._forget)
        return _TaskRunning(task)

    def _forget(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("late job failed to finish: %r", task.exception())


class _TaskRunning:
    def __init__(self, task: asyncio.Task[Finished]) -> None:
        self._task = task

    async def wait(self, until: float) -> Finished | None:
        await asyncio.wait([self._task], timeout=max(0.0, until - time.monotonic()))
        if not self._task.done() or self._task.cancelled() or self._task.exception():
            return None
        return self._task.result()


class QueueFinisher:
    """AWS: the order to the finisher function's queue; the booth's wait reads the job."""

    ACCESS = Access(tables={"jobs": Level.READ}, objects={object_keys.RESULTS: Level.READ},
                    queues={FINISHER_QUEUE: Level.WRITE})

    def __init__(self, *, queue: WorkQueue, repo: Repository, store: ObjectStore) -> None:
        self.queue = queue
        self.repo = repo
        self.store = store

    async def hand_over(self, work: LateWork, finish: Finish) -> Running:
        body = work.order.to_message()
        await run_io(lambda: self.queue.send(body))
        return _PolledRunning(self, work.order)


class _PolledRunning:
    def __init__(self, finisher: QueueFinisher, order: LateOrder) -> None:
        self._finisher = finisher
        self._order = order

    async def wait(self, until: float) -> Finished | None:
        pause = FIRST_POLL_SECONDS
        while True:
            finished = await self._read()
            left = until - time.monotonic()
            if finished is not None or left <= 0:
                return finished
            await asyncio.sleep(min(pause, left))
            pause = min(POLL_SECONDS, pause * 2)

    async def _read(self) -> Finished | None:
        repo, store = self._finisher.repo, self._finisher.store
        job = await repo.get_job(self._order.tenant, self._order.job_id)
        if job is None or job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            return None
        if job.status is JobStatus.FAILED:
            return Finished(job, error=error_of(job))
        if not job.result_key:  # done, but the result could not be kept
            return Finished(job)
        key = job.result_key
        data = await run_io(lambda: store.get(key))
        return Finished(job, result=data, mime=sniff_mime(data) or "image/jpeg")


def error_of(job: Job) -> BoothaiError:
    """A failed job's error as the booth is answered it (504 for time, else 502)."""
    if job.reason == "deadline":
        return DeadlineExceeded(job.detail or "no answer inside the booth window")
    return ProviderFailed(job.reason or "error", job.detail or "the provider failed")
