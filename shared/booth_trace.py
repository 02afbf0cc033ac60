"""The trace of every booth shot: each request that reached a known upload link, accepted or
refused, kept per slot for the operator ("Activity" on the slot's card).

A booth that gets no photo back shows the guest the original and says nothing more; the
operator's only way to learn that the password in the booth is wrong, the slot is switched
off or the camera sends 20 MB shots is this list. One entry per request:

    at        when it arrived (unix seconds)
    outcome   refused  it never became a job (wrong password, slot off, too large, …)
              accepted its job is running (written when it runs past a second); then done, or
              failed (the job's reason and cause)
    status    the HTTP status the booth was answered (200 also for a failed job whose slot
              serves the original)
    reason    a code (`wrong_password`, `slot_disabled`, `too_large`, the job's reason, …)
    message   the same in words: ours, or the provider's own for a failed job (one_line)
    booth     the booth's identification fields from DSLR Remote Pro's form, as far as they
              had arrived (name, version, model, user_id, id; bounded, one line each)
    job_id    the job, once there is one; cause: a failed job's Cause (shared/failure_causes)

Never the upload password (not a field kept; scrubbed from any message) nor the upload token
(the slot is named by its provider and number). Requests to an unknown link have no slot to
attach to: they stay in the log only.

Item (table `traces`): pk {tenant}, sk {provider}#{index:02d}#{entry id}; the entry id sorts
by arrival time, so one query with the slot's prefix, newest first, reads the list. Entries
expire by TTL (`expires_at`, TRACE_DAYS after arrival: DynamoDB deletes them, SQLite hides
them on read) rather than being trimmed to a count: trimming would be a query and deletes on
every booth request, and the reader asks for the newest `limit` anyway.

Recording never slows or breaks the booth's answer: every write runs on the side (drained
before a Lambda invocation returns, like the pipeline's bookkeeping), and a write that fails
is logged.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared import errors as e
from shared.access import Access, Level
from shared.concurrency import run_io
from shared.domain import Job, JobStatus, Slot, one_line, slot_key
from shared.ports import Tables
from shared.repository import Repository

log = logging.getLogger("boothai.trace")

TRACE_DAYS = 30
MAX_LIMIT = 200
ACCEPTED_AFTER_SECONDS = 1.0
# DSLR Remote Pro's identification fields (shared/protocols/dslr_remote_pro.md); the others
# are paths on the booth PC (profile, status), a hash, the shot's time: not identification.
BOOTH_FIELDS = ("name", "version", "model", "user_id", "id")
FIELD_MAX_CHARS = 80
MESSAGE_MAX_CHARS = 300
_MIN_SCRUBBED = 4  # a shorter password would scrub ordinary letters out of every message


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    LATE = "late"  # the window ran out: the booth got the original, the job went on
    REFUSED = "refused"
    FAILED = "failed"
    DONE = "done"


@dataclass
class TraceEntry:
    at: float
    outcome: Outcome
    status: int | None
    reason: str
    message: str
    booth: dict[str, str] = field(default_factory=dict)
    job_id: str | None = None
    cause: str | None = None

    def to_item(self) -> dict[str, Any]:
        return {"at": self.at, "outcome": str(self.outcome), "status": self.status,
                "reason": self.reason, "message": self.message, "booth": self.booth,
                "job_id": self.job_id, "cause": self.cause}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> TraceEntry:
        status = item.get("status")
        booth = item.get("booth") or {}
        return cls(at=float(item.get("at", 0)), outcome=Outcome(item["outcome"]),
                   status=int(status) if status is not None else None,
                   reason=str(item.get("reason", "")), message=str(item.get("message", "")),
                   booth={k: str(booth.get(k, "")) for k in BOOTH_FIELDS},
                   job_id=item.get("job_id"), cause=item.get("cause"))


def booth_identity(fields: Mapping[str, str]) -> dict[str, str]:
    """The booth's identification fields, each one bounded line ("" when not sent)."""
    return {name: one_line(str(fields.get(name, "")), FIELD_MAX_CHARS) for name in BOOTH_FIELDS}


# The trace's words for the error classes' own codes (shared/errors.py) where a booth's
# refusal reads better otherwise; every other class (and a slot rule's code) is used as is.
_TRACE_CODES = {"unauthorized": "wrong_password", "payload_too_large": "too_large",
                "invalid_input": "bad_form", "deadline_exceeded": "deadline"}


def refusal_reason(exc: e.BoothaiError) -> str:
    """The trace's code for a request that ended in `exc` before or without a job."""
    if isinstance(exc, e.ProviderFailed):
        return exc.reason
    if isinstance(exc, e.InvalidInput):
        return "bad_form"  # whatever the field: the booth's form was not what we take
    return _TRACE_CODES.get(exc.code, exc.code)


class BoothTrace:
    """Writes the trace, and counts refusals in the provider's statistics."""

    ACCESS = Access(tables={"traces": Level.WRITE, "stats": Level.WRITE})

    def __init__(self, tables: Tables, repo: Repository) -> None:
        self.tables = tables
        self.repo = repo
        self._background: set[asyncio.Task] = set()

    def shot(self, slot: Slot, *, at: float | None = None) -> Shot:
        return Shot(self, slot, time.time() if at is None else at)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _put(self, item: dict[str, Any]) -> None:
        await run_io(lambda: self.tables.put("traces", item))

    async def drain(self, timeout: float = 10.0) -> None:
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout)


class Shot:
    """One booth request's entry. Written when it is refused, or when its job opens
    (accepted) and again when it ends; the writes run on the side, one after the other."""

    def __init__(self, trace: BoothTrace, slot: Slot, at: float) -> None:
        self._trace = trace
        self._slot = slot
        self._at = at
        self._sk = f"{slot_key(slot.provider, slot.index)}#{int(at * 1000):013x}{secrets.token_hex(4)}"
        self._fields: Mapping[str, str] = {}
        self._job: Job | None = None
        self._last: asyncio.Task | None = None
        self._pending: asyncio.Task | None = None  # the delayed "accepted" write
        self._ended = False

    def reads(self, fields: Mapping[str, str]) -> None:
        """The form's fields as they arrive: an entry shows what had arrived by then."""
        self._fields = fields

    def accepted(self, job: Job) -> None:
        """The request became `job` (the pipeline's hook, as the job opens). The "accepted"
        entry is written only if the job is still running ACCEPTED_AFTER_SECONDS later: a
        job that ends sooner costs one write (its end), a slow cloud job shows as running."""
        self._job = job
        entry = TraceEntry(self._at, Outcome.ACCEPTED, None, "accepted", "processing",
                           job_id=job.job_id)

        async def later() -> None:
            await asyncio.sleep(ACCEPTED_AFTER_SECONDS)
            if not self._ended:
                self._write(entry)

        self._pending = self._trace._spawn(later())

    def answered(self, job: Job, *, status: int = 200) -> None:
        """The booth got a photo: the result, or the original for a failed job, or the
        original of a job still working after the window (shared/late_results.py)."""
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            self._end(TraceEntry(self._at, Outcome.LATE, status, "late",
                                 "the window ran out: the booth got the original, the job "
                                 "goes on", job_id=job.job_id))
        elif job.status is JobStatus.DONE:
            self._end(TraceEntry(self._at, Outcome.DONE, status, job.reason or "done",
                                 "processed", job_id=job.job_id))
        else:
            self._end(self._failed(job, status))

    def ended_by(self, exc: BaseException, *, status: int) -> None:
        """The request ended in `exc`, answered with `status`."""
        if self._job is not None and self._job.status is JobStatus.FAILED:
            self._end(self._failed(self._job, status))
            return
        if isinstance(exc, e.BoothaiError):
            reason, message = refusal_reason(exc), e.describe(exc)
        else:  # a bug: the booth got a 500; the log has the traceback
            reason, message = "internal_error", "the server failed"
        outcome = Outcome.REFUSED if status < 500 and self._job is None else Outcome.FAILED
        job_id = self._job.job_id if self._job is not None else None
        self._end(TraceEntry(self._at, outcome, status, reason, message, job_id=job_id))
        if outcome is Outcome.REFUSED:
            slot = self._slot
            self._trace._spawn(self._guarded(self._trace.repo.count_refused(
                tenant=slot.tenant, provider=slot.provider, at=self._at), "count"))

    def _failed(self, job: Job, status: int) -> TraceEntry:
        return TraceEntry(self._at, Outcome.FAILED, status, job.reason, job.detail,
                          job_id=job.job_id, cause=job.cause or None)

    def _end(self, entry: TraceEntry) -> None:
        if self._ended:  # one end per request
            return
        self._ended = True
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()  # still waiting: the end is the only write
        self._write(entry)

    def _write(self, entry: TraceEntry) -> None:
        entry.booth = booth_identity(self._fields)
        entry.message = self._scrubbed(entry.message)
        item = {"pk": self._slot.tenant, "sk": self._sk, **entry.to_item(),
                "expires_at": int(self._at) + TRACE_DAYS * 86400}
        before = self._last

        async def write() -> None:
            if before is not None:  # the accepted entry lands before the end replaces it
                await asyncio.wait([before])
            await self._trace._put(item)

        self._last = self._trace._spawn(self._guarded(write(), "write"))

    def _scrubbed(self, message: str) -> str:
        text = one_line(message, MESSAGE_MAX_CHARS)
        password = str(self._fields.get("password", ""))
        if len(password) >= _MIN_SCRUBBED:
            text = text.replace(password, "•••")
        return text

    async def _guarded(self, work: Awaitable[None], what: str) -> None:
        try:
            await work
        except Exception as exc:  # the booth has its answer already; the operator loses one line
            log.warning("booth trace %s failed for %s slot %s: %s", what, self._slot.provider,
                        self._slot.index, type(exc).__name__)


class TraceLog:
    """Reads a slot's trace for the console."""

    ACCESS = Access(tables={"traces": Level.READ})

    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    async def recent(self, slot: Slot, limit: int = 50) -> list[TraceEntry]:
        limit = max(1, min(limit, MAX_LIMIT))
        prefix = f"{slot_key(slot.provider, slot.index)}#"
        items = await run_io(lambda: self.tables.query("traces", slot.tenant, sk_prefix=prefix,
                                                       descending=True, limit=limit))
        return [TraceEntry.from_item(i) for i in items]
