"""What both live adapters do around a runner call: bound it by a timeout and turn the
runners' exceptions into the core's (shared.errors), with one-line reasons."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from gpu_jobs.errors import DeadlinePassed, InvalidRequest, ModelUnavailable
from shared.errors import (
    BoothaiError,
    DeadlineExceeded,
    InvalidInput,
    ModelNotReady,
    ProviderFailed,
)

log = logging.getLogger("boothai.gpu")
T = TypeVar("T")

GENERATION_ERROR = "generation_error"


def short(exc: BaseException, limit: int = 200) -> str:
    """`Type: first line` of an exception, bounded — safe enough for an operator to see."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:limit]


def translate(exc: BaseException, *, what: str, loading: bool = False) -> BoothaiError:
    """A runner's exception → the core's error. `loading` marks failures while loading."""
    if isinstance(exc, BoothaiError):
        return exc
    if isinstance(exc, DeadlinePassed):
        return DeadlineExceeded(f"{what}: {exc}")
    if isinstance(exc, InvalidRequest):
        return InvalidInput(str(exc))
    if isinstance(exc, ModelUnavailable):
        return ModelNotReady(str(exc))
    if loading:
        log.warning("GPU model %s failed to load: %s", what, short(exc))
        return ModelNotReady(f"{what} could not be loaded ({short(exc)})")
    if isinstance(exc, TimeoutError):
        return DeadlineExceeded(f"{what} did not answer in time")
    log.warning("GPU model %s failed: %s", what, short(exc))
    return ProviderFailed(GENERATION_ERROR, f"{what} failed: {short(exc)}")


async def bounded(call: Awaitable[T], *, timeout: float | None, what: str) -> T:
    """Await `call`, at most `timeout` seconds (None: no bound)."""
    if timeout is None:
        return await call
    if timeout <= 0:
        raise DeadlineExceeded(f"no time left for {what}")
    try:
        return await asyncio.wait_for(call, timeout)
    except TimeoutError as exc:
        raise DeadlineExceeded(f"{what} did not answer within {timeout:.0f} s") from exc
