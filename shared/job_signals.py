"""A cross-process "this job's result has arrived" signal for async provider callbacks.

Turbotext calls our webhook when a job is done. The webhook may run in another process (a
separate Lambda) than the booth request that waits for it, so the signal lives in the
`lookups` table: one item per job, `pk=hook#{job_id}`, `sk=-`, expiring after a while. The
waiter polls that item. When both ends run in one process (`boothai serve`), polling alone
would add up to one poll interval of latency, so `publish` also wakes local waiters at once
through a per-process registry of asyncio events.

The first delivery wins: a duplicate or late callback is accepted and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from typing import Any

from shared.concurrency import run_io
from shared.errors import ConditionFailed
from shared.ports import Tables

log = logging.getLogger(__name__)

TABLE = "lookups"
SK = "-"
# Long enough for any booth wait (50 s) with room to debug; DynamoDB TTL cleans up after.
DEFAULT_TTL_SECONDS = 3600

# job_id -> waiters in this process, each with the loop it waits on. Publishing may happen on
# another thread's loop (a test client, a thread-pool server), so events are set through
# their own loop with call_soon_threadsafe.
_waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
_waiters_lock = threading.Lock()


def _item_key(job_id: str) -> str:
    return f"hook#{job_id}"


class JobSignals:
    def __init__(self, tables: Tables, *, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._tables = tables
        self._ttl = ttl_seconds

    async def publish(self, job_id: str, payload: dict[str, Any]) -> bool:
        """Record the payload for `job_id` and wake local waiters.

        Returns True for the first delivery, False for a duplicate (which is dropped)."""
        item = {
            "pk": _item_key(job_id),
            "sk": SK,
            # Stored as JSON text: the payload's floats and empty strings would otherwise
            # need per-adapter care (DynamoDB wants Decimals).
            "payload": json.dumps(payload, separators=(",", ":")),
            "received_at": time.time(),
            "expires_at": int(time.time()) + self._ttl,
        }
        try:
            await run_io(lambda: self._tables.put(TABLE, item, if_absent=True))
            first = True
        except ConditionFailed:
            log.info("duplicate signal for job %s ignored", job_id)
            first = False
        _wake(job_id)
        return first

    async def get(self, job_id: str) -> dict[str, Any] | None:
        """The published payload, or None if nothing arrived (yet)."""
        item = await run_io(lambda: self._tables.get(TABLE, _item_key(job_id), SK))
        if item is None:
            return None
        return json.loads(item["payload"])

    async def wait(
        self, job_id: str, timeout: float, poll_interval: float = 0.5
    ) -> dict[str, Any] | None:
        """Wait up to `timeout` seconds for the payload; None when it did not come."""
        deadline = time.monotonic() + max(0.0, timeout)
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with _waiters_lock:
            _waiters.setdefault(job_id, set()).add(entry)
        try:
            while True:
                # Clear before reading: a publish landing between the read and the wait
                # below then still leaves the event set, so it is never missed.
                event.clear()
                payload = await self.get(job_id)
                if payload is not None:
                    return payload
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=min(poll_interval, left))
        finally:
            with _waiters_lock:
                entries = _waiters.get(job_id)
                if entries is not None:
                    entries.discard(entry)
                    if not entries:
                        del _waiters[job_id]


def _wake(job_id: str) -> None:
    with _waiters_lock:
        entries = list(_waiters.get(job_id, ()))
    for loop, event in entries:
        # A RuntimeError means that waiter's loop is closed: nothing left to wake.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(event.set)
