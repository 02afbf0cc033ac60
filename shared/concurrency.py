"""Process-wide limits on worker threads.

CPU-bound work (decoding, compositing) runs no more at once than there are cores; I/O-bound
port calls (sqlite, boto3, files) may run many at once since they mostly wait.
anyio limiters are not tied to one event loop, unlike asyncio.Semaphore created at import.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import anyio

T = TypeVar("T")

CPU = anyio.CapacityLimiter(max(1, os.cpu_count() or 2))
IO = anyio.CapacityLimiter(64)


async def run_cpu(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn, limiter=CPU)


async def run_io(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn, limiter=IO)
