"""Logs and metrics hooks the core calls. Plain `logging` under `boothai serve`; the Lambda
entry points switch them to Powertools (structured JSON logs, CloudWatch metrics, X-Ray)."""

from __future__ import annotations

import logging

log = logging.getLogger("boothai.metrics")


def record_attempt(*, provider: str, outcome: str, ms: int) -> None:
    """One provider call finished: outcome is "done", "deadline" or a failure reason."""
    log.debug("attempt provider=%s outcome=%s ms=%d", provider, outcome, ms)


def record_job(*, job_id: str, tenant: str, provider: str, status: str, reason: str,
               total_ms: int | None) -> None:
    """A booth job ended (done or failed)."""
    log.info("job %s tenant=%s provider=%s status=%s reason=%s total_ms=%s",
             job_id, tenant, provider, status, reason or "-", total_ms)
