"""Password-attempt throttling that reserves before it checks.

Each password check first takes a place in its bucket (one fixed window per scope and key,
kept in the Tables port with a TTL, so the limit holds across processes and Lambda
containers). A bucket counts `failures` and checks `in_flight`; `Tables.add_within` adds one
to `in_flight` only while failures < limit and in_flight < IN_FLIGHT, in one atomic
operation. When the check ends its place is given back, and a wrong password adds a failure.
So in a window at most limit + IN_FLIGHT - 1 guesses are ever checked, however many arrive
at once: the rest are refused with 429 before any hash is computed.

Places are held only while a password is being checked (microseconds for an upload
password, one hash for an operator), not while a body is read: a venue whose booths share
one address, or an API client sending 20 requests at once, never runs out of them.

The earlier check-then-record design read the count, verified, and recorded the failure
afterwards: 300 simultaneous guesses all read "0 failures" and all were verified.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from shared.concurrency import run_io
from shared.errors import ConditionFailed, TooManyAttempts
from shared.ports import Tables

TABLE = "throttle"
# Checks of one client (or account) at once. Password checks take microseconds to one hash
# (~50 ms) each, so honest concurrency stays far below; a guessing burst is capped by it.
IN_FLIGHT = 16
# How a check waits for a place while IN_FLIGHT others run (polling the bucket).
IN_FLIGHT_POLL_SECONDS = 0.02
IN_FLIGHT_WAIT_SECONDS = 2.0


@dataclass
class Attempt:
    """One reserved place. Call `failed()` when the password was wrong: only that outcome
    counts as a failure (not a malformed request, a disconnect, a storage error)."""

    pk: str
    sk: str
    wrong: bool = False

    def failed(self) -> None:
        self.wrong = True


class Throttle:
    def __init__(self, tables: Tables, *, limit: int, window_seconds: int) -> None:
        self.tables = tables
        self.limit = limit
        self.window = window_seconds

    def _bucket(self, scope: str, key: str) -> tuple[str, str, int]:
        start = int(time.time() // self.window * self.window)
        return f"{scope}#{key}", str(start), start + self.window

    async def reserve(self, scope: str, key: str, *, limit: int | None = None) -> Attempt:
        """A place for one check in this window, or TooManyAttempts."""
        pk, sk, ends = self._bucket(scope, key)
        failures = limit or self.limit
        limits = {"failures": failures, "in_flight": IN_FLIGHT}
        waited = 0.0
        while True:
            try:
                await run_io(lambda: self.tables.add_within(
                    TABLE, pk, sk, add={"in_flight": 1}, limits=limits, expires_at=ends))
                return Attempt(pk, sk)
            except ConditionFailed:
                pass
            # Refused: the failures are used up (429), or IN_FLIGHT checks are running. Those
            # end within milliseconds, so an honest burst (30 booths behind one NAT posting
            # at once) waits its turn instead of being refused.
            item = await run_io(lambda: self.tables.get(TABLE, pk, sk)) or {}
            if int(item.get("failures", 0)) >= failures or waited >= IN_FLIGHT_WAIT_SECONDS:
                raise self._refusal(ends)
            await anyio.sleep(IN_FLIGHT_POLL_SECONDS)
            waited += IN_FLIGHT_POLL_SECONDS

    async def refuse_if_locked(self, scope: str, key: str, *, limit: int | None = None) -> None:
        """TooManyAttempts when this key has used up its failures (one read; not a place:
        the booth asks before reading a body it would refuse anyway)."""
        pk, sk, ends = self._bucket(scope, key)
        item = await run_io(lambda: self.tables.get(TABLE, pk, sk))
        if item and int(item.get("failures", 0)) >= (limit or self.limit):
            raise self._refusal(ends)

    @staticmethod
    def _refusal(ends: int) -> TooManyAttempts:
        return TooManyAttempts("too many failed attempts; wait and try again",
                               retry_after=max(1, ends - int(time.time())))

    async def settle(self, attempt: Attempt) -> None:
        """Give the place back, counting a failure if the password was wrong. Shielded: a
        request cancelled mid-check (a booth deadline) must still give its place back."""
        add = {"in_flight": -1, "failures": 1 if attempt.wrong else 0}
        with anyio.CancelScope(shield=True):
            await run_io(lambda: self.tables.update(TABLE, attempt.pk, attempt.sk, add=add))

    @asynccontextmanager
    async def attempt(self, scope: str, key: str, *,
                      limit: int | None = None) -> AsyncIterator[Attempt]:
        """`async with throttle.attempt("login", client) as a: … a.failed() …`"""
        place = await self.reserve(scope, key, limit=limit)
        try:
            yield place
        finally:
            await self.settle(place)


class RequestBudget:
    """At most `limit` requests per key in a fixed window: a light limit on work an operator
    may ask for often but that costs CPU (the chroma-key preview). One atomic
    `Tables.add_within` per request, in the same table as the password throttle (its own
    scope in the key), so the limit holds across processes and Lambda containers."""

    def __init__(self, tables: Tables, *, scope: str, limit: int, window_seconds: int = 60,
                 message: str = "too many requests; wait a moment and try again") -> None:
        self.tables = tables
        self.scope = scope
        self.limit = limit
        self.window = window_seconds
        self.message = message

    async def take(self, key: str) -> None:
        """One request's place in this window, or TooManyAttempts (429, Retry-After)."""
        start = int(time.time() // self.window * self.window)
        ends = start + self.window
        pk, sk = f"{self.scope}#{key}", str(start)
        try:
            await run_io(lambda: self.tables.add_within(
                TABLE, pk, sk, add={"requests": 1}, limits={"requests": self.limit},
                expires_at=ends))
        except ConditionFailed:
            raise TooManyAttempts(self.message,
                                  retry_after=max(1, ends - int(time.time()))) from None
