"""Lambda entry points. Each deployed functions/ module ends with
`handler = make_handler(app, "<function>", serves=(UseCase, …))`; template.yaml names that
handler, and tests/infra/test_iam.py holds the function's policies against the `access()`
of the use cases it serves.

On the first invocation of a container the handler:
  1. copies the stack's secrets (Secrets Manager JSON objects listed in BOOTHAI_SECRET_IDS)
     into the environment, before anything builds Settings() for the services;
  2. switches shared.observability to Powertools (JSON logs, EMF metrics);
  3. wraps Mangum(app, lifespan="off") with Powertools Logger (lambda context, job id),
     Metrics (namespace "boothai", flushed per invocation) and Tracer (X-Ray; a no-op
     outside Lambda or with POWERTOOLS_TRACE_DISABLED=true).
Nothing of this happens at import, so `boothai serve` (which imports every functions module
for its router) keeps plain logging and never talks to Secrets Manager.

Logs: `use_powertools()` puts the one redaction filter (shared/observability.py) on the
Powertools handler and every standard handler, so no line carries a slot token, a query
string (webhook `t=`, media `sig=`) or a registered secret.

The client address (what the failure throttle counts) is Mangum's: for a Function URL
(payload 2.0) `requestContext.http.sourceIp`, the TCP peer AWS saw. X-Forwarded-For is not
read, so it cannot be spoofed; behind CloudFront the peer, and so the throttled client,
would be CloudFront's edge address.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from functions.deps import built_services
from shared import observability
from shared.access import Access


class UseCase(Protocol):
    @classmethod
    def access(cls) -> Access: ...


class LambdaHandler(Protocol):
    serves: tuple[type[UseCase], ...]  # the use cases behind this function's routes

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]: ...


Invoke = Callable[[dict[str, Any], Any], dict[str, Any]]

# Secret keys that may become environment variables: ours and the providers' own names.
_SECRET_ENV_RE = re.compile(r"^(BOOTHAI_[A-Z0-9_]+|GEMINI_API_KEY|TURBOTEXT_API_KEY|MODAL_TOKEN_[A-Z]+)$")
# After the response is ready, wait at most this long for the pipeline's background
# bookkeeping (stats counters, closing the job): a frozen container would stall it.
DRAIN_SECONDS = 1.5
# Arrival times older than this are not trusted (clock skew): the app's own stamp is used.
_MAX_QUEUE_SECONDS = 30.0

_secrets_loaded = False


def load_secrets(secret_ids: str | None = None) -> list[str]:
    """Copy the key/value pairs of each listed Secrets Manager secret (a JSON object) into
    os.environ. Empty values are skipped; variables already set win (local overrides).
    Returns the names set. Values are registered with the log redactor, never logged."""
    from aws_lambda_powertools.utilities import parameters

    ids = secret_ids if secret_ids is not None else os.environ.get("BOOTHAI_SECRET_IDS", "")
    names: list[str] = []
    for secret_id in (part.strip() for part in ids.split(",")):
        if not secret_id:
            continue
        values = parameters.get_secret(secret_id, transform="json", max_age=300)
        if not isinstance(values, dict):
            raise ValueError(f"secret {secret_id} is not a JSON object")
        for name, value in values.items():
            if not isinstance(value, str) or not value or not _SECRET_ENV_RE.match(name):
                continue
            observability.register_secret(value)
            if name not in os.environ:
                os.environ[name] = value
                names.append(name)
    return names


def _ensure_secrets() -> None:
    global _secrets_loaded
    if not _secrets_loaded:
        load_secrets()
        _secrets_loaded = True


def arrival_monotonic(event: dict[str, Any], now: float | None = None,
                      mono: float | None = None) -> float | None:
    """The event's arrival time (Function URL / HTTP API `requestContext.timeEpoch`, REST
    `requestTimeEpoch`, ms) on the time.monotonic() clock, so the booth deadline includes a
    cold start. None when absent or implausible."""
    context = event.get("requestContext") or {}
    epoch_ms = context.get("timeEpoch") or context.get("requestTimeEpoch")
    if not isinstance(epoch_ms, int | float) or epoch_ms <= 0:
        return None
    now = time.time() if now is None else now
    mono = time.monotonic() if mono is None else mono
    waited = now - epoch_ms / 1000
    if not 0 <= waited <= _MAX_QUEUE_SECONDS:
        return None
    return mono - waited


class _LambdaRequest:
    """ASGI wrapper: stamp the request with its arrival at the Function URL, and let the
    pipeline's background bookkeeping finish before Lambda freezes the container."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            arrived = arrival_monotonic(scope.get("aws.event") or {})
            if arrived is not None:
                scope.setdefault("state", {})["received_at"] = arrived
        try:
            await self.app(scope, receive, send)
        finally:
            await _drain_bookkeeping()


async def _drain_bookkeeping() -> None:
    services = built_services()  # only if this container built them; never build here
    if services is not None:
        await services.drain(timeout=DRAIN_SECONDS)


_loop: asyncio.AbstractEventLoop | None = None


def _ensure_event_loop() -> None:
    """Mangum runs each request on `asyncio.get_event_loop()`: keep one open loop for the
    container's life (background bookkeeping and cached clients live on it)."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_loop)


def _header(response: dict[str, Any], name: str) -> str | None:
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None


def _build(app: ASGIApp, function_name: str) -> Invoke:
    from aws_lambda_powertools import Metrics, Tracer
    from aws_lambda_powertools.metrics import MetricUnit
    from mangum import Mangum

    _ensure_secrets()
    logger = observability.use_powertools()
    metrics = Metrics(namespace=observability.NAMESPACE)
    tracer = Tracer()
    asgi = Mangum(_LambdaRequest(app), lifespan="off")

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics(capture_cold_start_metric=True, raise_on_empty_metrics=False)
    def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.append_keys(function=function_name)
        http = (event.get("requestContext") or {}).get("http") or {}
        method = http.get("method") or event.get("httpMethod") or "-"
        path = observability.safe_path(http.get("path") or event.get("path") or "-")
        metrics.add_dimension(name="function", value=function_name)
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        started = time.monotonic()
        _ensure_event_loop()
        response = asgi(event, context)
        status = int(response.get("statusCode") or 0)
        job_id = _header(response, "x-boothai-job")
        if job_id:
            logger.append_keys(job_id=job_id)
        if status >= 500:
            metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
        # Never the query string (webhook tokens, signed links) nor the slot token.
        logger.info("request", extra={
            "method": method, "path": path, "status": status,
            "duration_ms": int((time.monotonic() - started) * 1000),
            "source_ip": http.get("sourceIp"),
        })
        return response

    return invoke


def make_handler(app: ASGIApp, function_name: str, *,
                 serves: tuple[type[UseCase], ...]) -> LambdaHandler:
    """The Lambda handler for one function's ASGI app. Cheap to create: the Powertools
    wrapping and the secrets are set up on the first invocation."""
    built: list[Invoke] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not built:
            built.append(_build(app, function_name))
        return built[0](event, context)

    handler.__name__ = f"{function_name}_handler"
    handler.serves = serves  # type: ignore[attr-defined]
    return handler  # type: ignore[return-value]


QueueWork = Callable[[str], Any]  # one message body → a coroutine


def make_queue_handler(work: QueueWork, function_name: str, *,
                       serves: tuple[type[UseCase], ...]) -> LambdaHandler:
    """The Lambda handler for a function fed by an SQS queue (an event source mapping with
    `ReportBatchItemFailures`): each record's body to `work`, on the container's one event
    loop. A record whose work raised is reported back, so the queue delivers it again (and,
    after the queue's receive limit, to its dead-letter queue); the others are deleted.
    Secrets and Powertools are set up on the first invocation, as for HTTP functions."""
    built: list[Any] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not built:
            _ensure_secrets()
            built.append(observability.use_powertools())
        logger = built[0]
        logger.append_keys(function=function_name)
        _ensure_event_loop()
        assert _loop is not None
        failures = []
        for record in event.get("Records") or []:
            try:
                _loop.run_until_complete(work(record.get("body") or ""))
            except Exception:
                logger.exception("queue message failed", extra={
                    "message_id": record.get("messageId"),
                    "receive_count": (record.get("attributes") or {}).get("ApproximateReceiveCount")})
                failures.append({"itemIdentifier": record.get("messageId")})
            finally:
                _loop.run_until_complete(_drain_bookkeeping())
        return {"batchItemFailures": failures}

    handler.__name__ = f"{function_name}_handler"
    handler.serves = serves  # type: ignore[attr-defined]
    return handler  # type: ignore[return-value]
