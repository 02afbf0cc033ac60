"""Process-wide limits on worker threads.

CPU-bound work (decoding, compositing) runs no more at once than there are cores; I/O-bound
port calls (sqlite, boto3, files) may run many at once since they mostly wait; long model
calls (the in-process GPU runners: seconds to minutes each) have their own limiter.
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
# Model calls hold a thread for seconds to minutes. Under CPU they would starve the booth's
# decoding on a small box; under IO they would crowd out storage calls. Each runner does one
# inference at a time (its own lock), so 8 lets the edit model, Janus and a few vision models
# work side by side; more threads would only queue on the runner locks.
GPU = anyio.CapacityLimiter(8)
# Work nobody waits for (the thumbnails of a job's images, made after the booth's answer):
# one thread, so however much of it a burst leaves behind, it takes at most one core from
# the booths' decoding and compositing.
SIDE = anyio.CapacityLimiter(1)
# Password hashes (argon2id: ~50 ms and 19 MiB each, by design). Half the cores at most, so a
# burst of logins from many addresses cannot take the CPU from the booths' photos, and a
# short queue behind them: past it a check is refused at once (run_hash) instead of holding
# its request and 19 MiB while hundreds wait.
HASH = anyio.CapacityLimiter(max(1, (os.cpu_count() or 2) // 2))
HASH_QUEUE = 16


async def run_cpu(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn, limiter=CPU)


async def run_io(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn, limiter=IO)


async def run_side(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn, limiter=SIDE)


class HashQueueFull(Exception):
    """More password checks are waiting than HASH_QUEUE: the caller answers "busy"."""


async def run_hash(fn: Callable[[], T]) -> T:
    if HASH.statistics().tasks_waiting >= HASH_QUEUE:
        raise HashQueueFull
    return await anyio.to_thread.run_sync(fn, limiter=HASH)


async def run_gpu(fn: Callable[[], T]) -> T:
    """Run a long model call (inference, load, unload) on a worker thread.

    Cancelling the caller (a booth deadline) stops the wait at once; the thread is abandoned
    and finishes on its own. That is safe because the runners lock internally: a late thread
    cannot overlap the runner's next call, which simply waits for it. An abandoned thread no
    longer counts against GPU."""
    return await anyio.to_thread.run_sync(fn, limiter=GPU, abandon_on_cancel=True)
