"""Core exceptions → HTTP, in one place.

The status of each exception class is defined once (STATUS). How the body looks depends on
who is asking, so each API surface picks a route class — a renderer of the same mapping:

  PlainTextErrors  the booth: DSLR Remote Pro logs a short line of plain text
  JsonErrors       the admin API and webhooks: {"detail": "...", "field": "..."}
  OpenAIErrors     /v1/images/edits: {"detail": {"error": CODE, "message": "..."}} (seeds 002/004)
  EnvelopeErrors   the vision comparison: {"success": false, "result": null, "error": "...", …} (seed 000)
  DetailErrors     the other vision routes: {"detail": "..."} (seed 001)

A renderer may move a status (`status_overrides`: the API seeds answer bad input with 400,
not 422), and may take over FastAPI's own validation errors and unexpected crashes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.params import Form
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute

from shared import errors as e
from shared.concurrency import run_cpu
from shared.failure_causes import cause_of

log = logging.getLogger("boothai.http")

# Scope key set by a middleware that refused the request before routing, unread: by its
# body's size (functions/body_limits.py, a PayloadTooLarge) or as a cross-site write
# (functions/same_origin.py, a Forbidden). The route renders it before parsing or
# authenticating anything, in its surface's shape.
REFUSED = "boothai.refused"

STATUS: dict[type[e.BoothaiError], int] = {
    e.InvalidInput: 422,
    e.Unauthorized: 401,
    e.Forbidden: 403,
    e.NotFound: 404,
    e.SlotNotReady: 409,
    e.PayloadTooLarge: 413,
    e.UnsupportedMedia: 415,
    e.TooManyAttempts: 429,
    e.ProviderFailed: 502,
    e.StorageUnavailable: 503,
    e.ModelNotReady: 503,
    e.DeadlineExceeded: 504,
    e.ConditionFailed: 409,
}

# API clients (images, vision) may authenticate either way.
API_CHALLENGE = 'Bearer realm="boothai", Basic realm="boothai"'
OPERATOR_CHALLENGE = 'Basic realm="boothai"'


def _lookup(table: dict[type[e.BoothaiError], int], exc: e.BoothaiError) -> int | None:
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return None


def status_for(exc: e.BoothaiError) -> int:
    return _lookup(STATUS, exc) or 500


def validation_problem(exc: RequestValidationError) -> tuple[str | None, str]:
    """(field, one line a caller can act on) for FastAPI's first validation error."""
    errors = list(exc.errors())
    if not errors:
        return None, "invalid request"
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header",
                                                            "form")]
    field = loc[-1] if loc else None
    if first.get("type") == "json_invalid":
        return None, "the request body is not valid JSON"
    if first.get("type") == "missing":
        return field, f"{'.'.join(loc) or 'a field'} is required"
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return field, (f"{'.'.join(loc)}: {message}" if loc else message)


Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# A dependency that identifies the caller names, as this attribute, a check that needs only
# the request's headers: the route runs it before the body is read (see ErrorRoute).
BEFORE_BODY = "before_body"


def _before_body_check(dependant: Dependant) -> Callable[[Request], Coroutine] | None:
    for dependency in dependant.dependencies:
        check = getattr(dependency.call, BEFORE_BODY, None) or _before_body_check(dependency)
        if check is not None:
            return check
    return None


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return bool(length and length != "0") or "transfer-encoding" in request.headers


class ErrorRoute(APIRoute):
    """Catches the core's exceptions (and, where a surface wants its own shape, FastAPI's
    request validation errors and crashes) and lets the subclass render them.

    It also orders the work of a request so that nothing is spent on a stranger. FastAPI
    reads and parses the whole body before it resolves any dependency, authentication
    included: an unauthenticated 100 MB JSON body was read, parsed on the event loop (seconds
    of a stalled server) and validated before its 401. Here the route's authentication runs
    first, from the headers alone (the dependency's `before_body` check), and a refused
    request's body is never read; a JSON body is then parsed on a worker thread, and only
    then does FastAPI take over (it finds the parsed body where Starlette's Request.json()
    keeps it). The body's size is bounded per route while it streams
    (functions/body_limits.py)."""

    status_overrides: ClassVar[dict[type[e.BoothaiError], int]] = {}
    challenge: ClassVar[str | None] = None  # WWW-Authenticate on 401

    def status(self, exc: e.BoothaiError) -> int:
        return _lookup(self.status_overrides, exc) or status_for(exc)

    def render(self, exc: e.BoothaiError, status: int) -> Response:  # pragma: no cover
        raise NotImplementedError

    def render_invalid(self, field: str | None, message: str) -> Response | None:
        """A request FastAPI could not validate; None keeps FastAPI's own 422 answer."""
        return None

    def render_crash(self) -> Response | None:
        """An unexpected exception; None lets it propagate (the server answers 500)."""
        return None

    async def refused_unread(self, request: Request, exc: e.BoothaiError) -> None:
        """A middleware refused this request before its body was read (REFUSED): a surface
        that keeps a trace of its requests records it here (the booth's)."""

    def answer(self, request: Request, exc: e.BoothaiError) -> Response:
        """This surface's answer to `exc` (also used for a body refused before routing)."""
        status = self.status(exc)
        if status >= 500:
            log.warning("%s %s → %d: %s", request.method, request.url.path, status,
                        e.describe(exc))
        response = self.render(exc, status)
        if isinstance(exc, e.TooManyAttempts):
            response.headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, e.Unauthorized) and self.challenge:
            response.headers["WWW-Authenticate"] = self.challenge
        return response

    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()
        check_caller = _before_body_check(self.dependant)
        json_body = self.body_field is not None and not isinstance(self.body_field.field_info,
                                                                   Form)

        async def handler(request: Request) -> Response:
            refused = request.scope.get(REFUSED)
            if isinstance(refused, e.BoothaiError):
                await self.refused_unread(request, refused)
                return self.answer(request, refused)
            if check_caller is not None:
                try:
                    await check_caller(request)
                except e.BoothaiError as exc:
                    response = self.answer(request, exc)
                    if _has_body(request):  # unread: the connection cannot carry another
                        response.headers["Connection"] = "close"
                    return response
            try:
                if json_body:
                    await _parse_json_off_loop(request)
                return await inner(request)
            except e.BoothaiError as exc:
                return self.answer(request, exc)
            except RequestValidationError as exc:
                response = self.render_invalid(*validation_problem(exc))
                if response is None:
                    raise
                return response
            except HTTPException:
                raise
            except Exception:
                response = self.render_crash()
                if response is None:
                    raise
                log.exception("%s %s crashed", request.method, request.url.path)
                return response

        return handler


async def _parse_json_off_loop(request: Request) -> None:
    """Parse a JSON body on a worker thread into the attribute Starlette's Request.json()
    caches it in, so FastAPI's own `await request.json()` takes it from there. Bodies that
    are not JSON (or not valid JSON) are left to FastAPI, which answers them as before."""
    content_type = request.headers.get("content-type", "")
    if not content_type.split(";")[0].strip().lower().endswith("json"):
        return
    body = await request.body()
    if not body:
        return
    try:
        parsed = await run_cpu(lambda: json.loads(body))
    except ValueError:  # JSONDecodeError, or undecodable bytes: FastAPI's 422/400 as before
        return
    request._json = parsed  # Starlette's cache of request.json()


class PlainTextErrors(ErrorRoute):
    def render(self, exc: e.BoothaiError, status: int) -> Response:
        return PlainTextResponse(e.describe(exc) + "\n", status_code=status)


class JsonErrors(ErrorRoute):
    """Admin API: `{"detail": "...", "field": "..."}`, also for FastAPI's own body validation,
    so the UI shows every refusal next to the field it names."""

    challenge = OPERATOR_CHALLENGE

    def render_invalid(self, field: str | None, message: str) -> Response:
        return JSONResponse({"detail": message, "field": field, "code": "invalid_input"},
                            status_code=422)

    def render(self, exc: e.BoothaiError, status: int) -> Response:
        body: dict[str, Any] = {"detail": e.describe(exc), "code": exc.code}
        if isinstance(exc, e.InvalidInput) and exc.field:
            body["field"] = exc.field
        if isinstance(exc, e.ProviderFailed):
            body["reason"] = exc.reason
            body["cause"] = cause_of(exc.reason)  # what the operator can do about it
        return JSONResponse(body, status_code=status)


class WebhookErrors(JsonErrors):
    """Provider callbacks: a body that is not a JSON object is a plain 400."""

    status_overrides = {e.InvalidInput: 400}


class OpenAIErrors(ErrorRoute):
    """The image-edit API (seeds 002/004, OpenAI-compatible). Every error carries the seeds'
    `{"detail": {"error": CODE, "message": "..."}}` with CODE one of INVALID_INPUT,
    UNAUTHORIZED, MODEL_NOT_READY, GENERATION_ERROR, and beside it the OpenAI error object
    `{"error": {"message", "type", "code", "param"}}` the official client reads into
    `e.code`, `e.type`, `e.param` (it ignores `detail`). Bad input is 400 (the seeds' status,
    not the core's 422/415) except a too-large upload, which stays 413; a provider failure is
    500 and a timeout 504, both GENERATION_ERROR. FastAPI's own request validation errors
    and unexpected crashes on these routes get the same shape.

    The openai client retries 408/409/429/5xx twice by itself: a failed 600 s generation
    would run three times on the GPU. Every error but a not-ready backend (503: the model may
    be loading, and a retry costs no GPU run) says `x-should-retry: false`, which the client
    obeys before its own rules."""

    status_overrides = {
        e.InvalidInput: 400,
        e.UnsupportedMedia: 400,
        e.NotFound: 400,
        e.ConditionFailed: 400,
        e.ProviderFailed: 500,
    }
    challenge = API_CHALLENGE
    # OpenAI's error types, by our code.
    TYPES = {"INVALID_INPUT": "invalid_request_error", "UNAUTHORIZED": "authentication_error",
             "MODEL_NOT_READY": "server_error", "GENERATION_ERROR": "server_error"}

    @staticmethod
    def code_for(exc: e.BoothaiError) -> str:
        if isinstance(exc, e.Unauthorized | e.TooManyAttempts):
            return "UNAUTHORIZED"
        if isinstance(exc, e.ModelNotReady | e.StorageUnavailable):
            return "MODEL_NOT_READY"
        if isinstance(exc, e.ProviderFailed | e.DeadlineExceeded):
            return "GENERATION_ERROR"
        return "INVALID_INPUT"

    @classmethod
    def body(cls, code: str, message: str, status: int, param: str | None = None) -> JSONResponse:
        headers = {} if status in (429, 503) else {"x-should-retry": "false"}
        return JSONResponse(
            {"detail": {"error": code, "message": message},
             "error": {"message": message, "type": cls.TYPES[code], "code": code,
                       "param": param}},
            status_code=status, headers=headers)

    def render(self, exc: e.BoothaiError, status: int) -> Response:
        code = self.code_for(exc)
        message = f"Image generation failed: {exc}" if code == "GENERATION_ERROR" else str(exc)
        param = getattr(exc, "field", None)
        return self.body(code, message, status, param)

    def render_invalid(self, field: str | None, message: str) -> Response:
        return self.body("INVALID_INPUT", message, 400, field)

    def render_crash(self) -> Response:  # nothing internal leaks
        return self.body("GENERATION_ERROR", "Image generation failed: internal error", 500)


def envelope(*, success: bool, result: Any = None, error: str | None = None,
             metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Seed 000's answer shape, for results and errors alike."""
    return {"success": success, "result": result, "error": error, "metadata": metadata}


class _VisionErrors(ErrorRoute):
    """Seed 001's table: a bad request is 400 here, not 422."""

    status_overrides = {e.InvalidInput: 400}
    challenge = API_CHALLENGE

    def message(self, message: str, status: int) -> Response:  # pragma: no cover
        raise NotImplementedError

    def render(self, exc: e.BoothaiError, status: int) -> Response:
        return self.message(e.describe(exc), status)

    def render_invalid(self, field: str | None, message: str) -> Response:
        return self.message(message, 400)


class EnvelopeErrors(_VisionErrors):
    """Seed 000: {"success": false, "result": null, "error": "...", "metadata": null}."""

    def message(self, message: str, status: int) -> Response:
        return JSONResponse(envelope(success=False, error=message), status_code=status)


class DetailErrors(_VisionErrors):
    """Seed 001: {"detail": "..."}."""

    def message(self, message: str, status: int) -> Response:
        return JSONResponse({"detail": message}, status_code=status)
