"""Logs and metrics hooks the core calls. Plain `logging` under `boothai serve`; the Lambda
entry points (functions/lambda_entry.py) call `use_powertools()` once per container, which
switches them to Powertools: structured JSON logs that carry the job id, and CloudWatch
metrics in the embedded metric format (namespace "boothai").

Metrics (per provider dimension):
  PhotosProcessed / PhotosFailed  a booth or test job ended done / failed
  DeadlineMisses                  a job failed because the booth window ran out
  ProviderLatency (ms)            one provider call, with its outcome

Nothing secret is logged: callers pass ids and reasons, never passwords, keys, tokens or
upload URLs; `redact()` scrubs any registered secret value that still slips into a line.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger("boothai.metrics")

NAMESPACE = "boothai"

_powertools: _Powertools | None = None
_secrets: set[str] = set()
# Upload links carry the slot token in the path, webhook links a token in the query.
_UPLOAD_PATH = re.compile(r"/u/[^/?#\s]+")
_QUERY = re.compile(r"\?[^\s\"']*")


class _Powertools:
    def __init__(self, service: str | None) -> None:
        from aws_lambda_powertools import Logger

        self.logger = Logger(service=service)
        self.logger.addFilter(RedactSecrets())


def use_powertools(service: str | None = None) -> Any:
    """Switch the hooks to Powertools (idempotent). Returns the shared Powertools Logger.

    The `boothai.*` standard loggers are given the same JSON formatter, so every line a
    Lambda writes is one JSON object with the invocation's keys (function, job id …)."""
    global _powertools
    if _powertools is None:
        from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

        _powertools = _Powertools(service)
        copy_config_to_registered_loggers(source_logger=_powertools.logger, include={"boothai"})
        for name in ("boothai",):
            logging.getLogger(name).addFilter(RedactSecrets())
    return _powertools.logger


def use_plain_logging() -> None:
    """Back to plain `logging` (tests)."""
    global _powertools
    _powertools = None


def powertools_enabled() -> bool:
    return _powertools is not None


def register_secret(value: str | None) -> None:
    """Remember a secret value so it is scrubbed from any log line that contains it."""
    if value and len(value) >= 6:
        _secrets.add(value)


def redact(text: str) -> str:
    """A log-safe copy of `text`: registered secrets, slot tokens and query strings removed."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    text = _UPLOAD_PATH.sub("/u/***", text)
    return _QUERY.sub("?***", text)


def safe_path(path: str) -> str:
    """A request path fit for logs: `/u/{slot_token}` loses its token."""
    return _UPLOAD_PATH.sub("/u/{slot_token}", path)


class RedactSecrets(logging.Filter):
    """Scrub registered secrets from a record's message (it is formatted once, here)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            try:
                message = record.getMessage()
            except Exception:  # a broken format string is the caller's bug; leave it
                return True
            cleaned = message
            for secret in _secrets:
                cleaned = cleaned.replace(secret, "***")
            if cleaned != message:
                record.msg, record.args = cleaned, ()
        return True


def _emit(name: str, unit: str, value: float, dimensions: dict[str, str]) -> None:
    """One metric with its own dimension set, written at once (EMF on stdout). Written
    immediately rather than batched: bookkeeping may finish after the response."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit(unit), value=value,
                       namespace=NAMESPACE) as metric:
        for key, val in dimensions.items():
            metric.add_dimension(name=key, value=val)


def record_attempt(*, provider: str, outcome: str, ms: int) -> None:
    """One provider call finished: outcome is "done", "deadline" or a failure reason."""
    if _powertools is None:
        log.debug("attempt provider=%s outcome=%s ms=%d", provider, outcome, ms)
        return
    _emit("ProviderLatency", "Milliseconds", ms, {"provider": provider})
    _powertools.logger.debug("provider attempt", extra={
        "provider": provider, "outcome": outcome, "provider_ms": ms})


def record_job(*, job_id: str, tenant: str, provider: str, status: str, reason: str,
               total_ms: int | None) -> None:
    """A booth job ended (done or failed)."""
    if _powertools is None:
        log.info("job %s tenant=%s provider=%s status=%s reason=%s total_ms=%s",
                 job_id, tenant, provider, status, reason or "-", total_ms)
        return
    done = status == "done"
    _emit("PhotosProcessed" if done else "PhotosFailed", "Count", 1, {"provider": provider})
    if reason == "deadline":
        _emit("DeadlineMisses", "Count", 1, {"provider": provider})
    # Later lines of this invocation carry the job id too (cleared per invocation).
    _powertools.logger.append_keys(job_id=job_id)
    _powertools.logger.info("job finished", extra={
        "tenant": tenant, "provider": provider, "status": status,
        "reason": reason or None, "total_ms": total_ms})
