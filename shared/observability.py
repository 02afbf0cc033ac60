"""Logs and metrics hooks the core calls. Plain `logging` under `boothai serve`; the Lambda
entry points (functions/lambda_entry.py) call `use_powertools()` once per container, which
switches them to Powertools: structured JSON logs that carry the job id, and CloudWatch
metrics in the embedded metric format (namespace "boothai").

Metrics (per provider dimension):
  PhotosProcessed / PhotosFailed  a booth or test job ended done / failed
  DeadlineMisses                  a job failed because the booth window ran out
  ProviderLatency (ms)            one provider call, with its outcome

Nothing secret is logged: callers pass ids and reasons, never passwords, keys, tokens or
upload URLs. What still slips into a line is caught by one filter, `REDACTOR`, installed on
every log handler at each entry point (`install_redaction()`: `boothai serve` through
functions/server.py, Lambda through `use_powertools()`): it scrubs registered secret values,
slot tokens (`/u/<token>`) and query strings (webhook `t=`, signed media `sig=`) from the
message, its arguments, extra fields and exception text, and escapes control characters in
logged data, so provider text cannot forge a log line.
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


def use_powertools(service: str | None = None) -> Any:
    """Switch the hooks to Powertools (idempotent). Returns the shared Powertools Logger.

    The `boothai.*` standard loggers are given the same JSON formatter, so every line a
    Lambda writes is one JSON object with the invocation's keys (function, job id …)."""
    global _powertools
    if _powertools is None:
        from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

        _powertools = _Powertools(service)
        copy_config_to_registered_loggers(source_logger=_powertools.logger, include={"boothai"})
        # After the copy, so the Powertools handler (now on the boothai loggers too) and any
        # standard handler the runtime set up are all covered.
        install_redaction(_powertools.logger.name)
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
    """A request path fit for logs: `/u/<token>` loses its token, written `/u/***` as the
    redaction filter writes it everywhere else (one form to grep for)."""
    return _UPLOAD_PATH.sub("/u/***", path)


# Characters that end or rewrite a line in a log file or a terminal: CR/LF and the other C0
# controls (ESC starts terminal sequences), DEL, C1 controls and the Unicode line breaks
# some viewers honour. Tab is left alone: it cannot start a line.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED_ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100
                                        else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """`text` on one line: CR, LF and other control characters written as escapes."""
    return _CONTROL.sub(_escape, text)


def clean(text: str) -> str:
    """Logged data made safe: redacted, and unable to start a line of its own."""
    return escape_controls(redact(text))


# Attributes every LogRecord has; anything else on a record is an `extra` field (Powertools
# writes those as JSON keys, so they are logged data too).
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}
# uvicorn's colour template of a message (code, not data; coloured with ESC sequences).
_COLOR_TEMPLATE = "color_message"
# Numbers format with %d/%f; everything else is logged as its text, so it is cleaned as text.
_PLAIN_TYPES = (int, float, type(None))


def _clean_arg(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, _PLAIN_TYPES):
        return value
    text = str(value)
    cleaned = clean(text)
    return value if cleaned == text else cleaned


def _clean_message(message: str) -> str:
    """A whole message cleaned, keeping a trailing line break its author wrote on purpose
    (uvicorn's "Exception in ASGI application\n" before the traceback)."""
    body = message.rstrip("\n")
    return clean(body) + message[len(body):]


def _exception_chain(exc: BaseException | None):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _clean_traceback(text: str, exc: BaseException | None) -> str:
    """A traceback keeps its own line breaks, but the exceptions' messages (provider
    answers, URLs) are escaped so they cannot add lines of their own."""
    for link in _exception_chain(exc):
        message = str(link)
        if message and _CONTROL.search(message):
            text = text.replace(message, escape_controls(message))
    return _CONTROL.sub(lambda m: "\n" if m.group() == "\n" else _escape(m), redact(text))


class RedactSecrets(logging.Filter):
    """Scrub secrets, slot tokens and query strings from every part of a record that ends up
    in a line, and escape control characters in logged data.

    The record's structure is kept where formatters depend on it (uvicorn's access formatter
    unpacks its five `args`): each argument is cleaned on its own; only when a secret spans
    template and arguments is the message collapsed into one cleaned string."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._clean(record)
        except Exception:  # a broken record is the caller's bug; never lose the line for it
            record.msg, record.args = clean(repr(record.msg)), ()
        return True

    def _clean(self, record: logging.LogRecord) -> None:
        self._clean_msg_and_args(record)
        for key, value in list(vars(record).items()):
            if key in _RECORD_ATTRS or key == _COLOR_TEMPLATE or not isinstance(value, str):
                continue
            # "exception" is a traceback set by an earlier pass: it keeps its line breaks.
            setattr(record, key, _clean_traceback(value, None) if key == "exception"
                    else clean(value))
        if record.exc_info and record.exc_info[1] is not None:
            raw = logging.Formatter().formatException(record.exc_info)
            cleaned = _clean_traceback(raw, record.exc_info[1])
            if cleaned != raw:
                # The exception object itself would be formatted again (and Powertools
                # serialises its value): only the cleaned text may travel on.
                name = record.exc_info[0].__name__ if record.exc_info[0] else "Exception"
                record.exc_info, record.exc_text = None, cleaned
                record.exception, record.exception_name = cleaned, name  # Powertools keys
        elif record.exc_text:
            record.exc_text = _clean_traceback(record.exc_text, None)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)

    @staticmethod
    def _clean_msg_and_args(record: logging.LogRecord) -> None:
        if isinstance(record.args, dict):
            record.args = {key: _clean_arg(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_clean_arg(arg) for arg in record.args)
        if isinstance(record.msg, dict):  # Powertools structured message
            record.msg = {key: _clean_arg(value) for key, value in record.msg.items()}
            return
        if not isinstance(record.msg, str):  # log.error(exc): logged as its text
            record.msg = _clean_arg(record.msg)
            if not isinstance(record.msg, str):
                return
        if not record.args:
            record.msg = _clean_message(record.msg)
            return
        # The template is formatted first: redacting it alone would turn "/u/%s" into
        # "/u/***" and break the formatting.
        message = record.getMessage()
        if _clean_message(message) != message:
            record.msg, record.args = _clean_message(message), ()
            record.__dict__.pop(_COLOR_TEMPLATE, None)


# The one filter instance: installing it twice on a handler is a no-op.
REDACTOR = RedactSecrets()
# Loggers whose own records are filtered even before reaching a handler (a handler added
# later, e.g. by a test harness, then sees clean records too).
_ENTRY_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "boothai")


def install_redaction(*logger_names: str) -> None:
    """Put `REDACTOR` on every handler that exists now (the root's, each named logger's,
    logging's last-resort stderr handler) and on the entry loggers themselves. Call it after
    logging is configured (uvicorn configures it when its Config is built)."""
    loggers = [logging.getLogger(name) for name in (*_ENTRY_LOGGERS, *logger_names)]
    loggers += [item for item in logging.root.manager.loggerDict.values()
                if isinstance(item, logging.Logger)]
    handlers = {handler for logger in loggers for handler in logger.handlers}
    if logging.lastResort is not None:
        handlers.add(logging.lastResort)
    for target in (*loggers[:len(_ENTRY_LOGGERS) + len(logger_names)], *handlers):
        if REDACTOR not in target.filters:
            target.addFilter(REDACTOR)


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
