"""The booth window, computed once per request.

DSLR Remote Pro waits `booth_window_seconds` (50) for its answer. Counting from the moment
the request arrived (stamped before the body is read, or the Function URL's own arrival
time on Lambda), the answer must be on its way `booth_safety_margin_seconds` before the
booth gives up (`answer_by`), and providers must be done a moment earlier still
(`providers_by`), so that storing the result and closing the job fit in the window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from shared.config import Settings
from shared.errors import StorageUnavailable

# At most this long is kept after the providers for the bookkeeping.
BOOKKEEPING_RESERVE_SECONDS = 1.5


@dataclass(frozen=True)
class BoothDeadline:
    received_at: float  # time.monotonic() at arrival
    answer_by: float
    providers_by: float

    @classmethod
    def from_arrival(cls, received_at: float, settings: Settings) -> BoothDeadline:
        budget = settings.answer_budget_seconds
        answer_by = received_at + budget
        reserve = min(BOOKKEEPING_RESERVE_SECONDS, 0.1 * budget)
        return cls(received_at=received_at, answer_by=answer_by, providers_by=answer_by - reserve)

    def left(self) -> float:
        """Seconds until the answer must leave (never negative)."""
        return max(0.0, self.answer_by - time.monotonic())

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.received_at) * 1000)

    @asynccontextmanager
    async def storage_within(self, what: str) -> AsyncIterator[None]:
        """A slow table or store must not keep the booth past its window: 503 in time."""
        try:
            async with asyncio.timeout(self.left()):
                yield
        except TimeoutError:
            raise StorageUnavailable(f"storage too slow while {what}") from None
