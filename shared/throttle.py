"""Failure throttling: after N failed password attempts from one client inside a window,
answer 429 until the window ends. Counters live in the Tables port (fixed windows with TTL),
so the limit holds across processes and Lambda containers, not only inside one."""

from __future__ import annotations

import time

from shared.concurrency import run_io
from shared.errors import TooManyAttempts
from shared.ports import Tables


class Throttle:
    def __init__(self, tables: Tables, *, limit: int, window_seconds: int) -> None:
        self.tables = tables
        self.limit = limit
        self.window = window_seconds

    def _bucket(self, scope: str, client: str) -> tuple[str, str, int]:
        start = int(time.time() // self.window * self.window)
        return f"{scope}#{client}", str(start), start + self.window

    async def check(self, scope: str, client: str) -> None:
        pk, sk, ends = self._bucket(scope, client)
        item = await run_io(lambda: self.tables.get("throttle", pk, sk))
        if item and int(item.get("failures", 0)) >= self.limit:
            raise TooManyAttempts(
                "too many failed attempts; wait and try again",
                retry_after=max(1, ends - int(time.time())),
            )

    async def failed(self, scope: str, client: str) -> None:
        pk, sk, ends = self._bucket(scope, client)
        await run_io(
            lambda: self.tables.update("throttle", pk, sk, add={"failures": 1}, expires_at=ends)
        )
