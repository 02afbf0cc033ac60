"""Core exceptions → HTTP, in one place.

The status for each exception class is defined once (STATUS). How the body looks depends on
who is asking, so each API surface picks a route class:
  - PlainTextErrors: the booth (DSLR Remote Pro shows nothing; keep it short plain text)
  - JsonErrors: the operator UI / admin API ({"detail": "...", "field": "..."})
Other surfaces (the OpenAI-style images API) add their own renderer on top of STATUS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute

from shared import errors as e

log = logging.getLogger("boothai.http")

STATUS: dict[type[e.BoothaiError], int] = {
    e.InvalidInput: 422,
    e.Unauthorized: 401,
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


def status_for(exc: e.BoothaiError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def headers_for(exc: e.BoothaiError) -> dict[str, str]:
    if isinstance(exc, e.TooManyAttempts):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def message_for(exc: e.BoothaiError) -> str:
    if isinstance(exc, e.ProviderFailed) and exc.reason not in str(exc):
        return f"{exc} ({exc.reason})"
    return str(exc)


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class _ErrorRoute(APIRoute):
    """Catches the core's exceptions (and, where a surface wants its own shape, FastAPI's
    request validation errors and crashes) and lets the subclass render them."""

    def render(self, exc: e.BoothaiError, status: int) -> Response:  # pragma: no cover
        raise NotImplementedError

    def render_invalid(self, field: str | None, message: str) -> Response | None:
        """A request FastAPI could not validate; None keeps FastAPI's own 422 answer."""
        return None

    def render_crash(self) -> Response | None:
        """An unexpected exception; None lets it propagate (the server answers 500)."""
        return None

    def get_route_handler(self) -> Handler:
        from fastapi.exceptions import HTTPException, RequestValidationError

        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except e.BoothaiError as exc:
                status = status_for(exc)
                if status >= 500:
                    log.warning("%s %s → %d: %s", request.method, request.url.path, status,
                                message_for(exc))
                response = self.render(exc, status)
                response.headers.update(headers_for(exc))
                return response
            except RequestValidationError as exc:
                response = self.render_invalid(*_first_problem(exc))
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


def _first_problem(exc) -> tuple[str | None, str]:
    """(field, message) of the first validation error, the field without its location."""
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    return (loc[-1] if loc else None), first.get("msg", "invalid request")


class PlainTextErrors(_ErrorRoute):
    def render(self, exc: e.BoothaiError, status: int) -> Response:
        return PlainTextResponse(message_for(exc) + "\n", status_code=status)


class JsonErrors(_ErrorRoute):
    """Admin API: `{"detail": "...", "field": "..."}`, also for FastAPI's own body validation,
    so the UI shows every refusal next to the field it names."""

    def render_invalid(self, field: str | None, message: str) -> Response:
        return JSONResponse({"detail": f"{field}: {message}" if field else message,
                             "field": field}, status_code=422)

    def render(self, exc: e.BoothaiError, status: int) -> Response:
        body: dict[str, Any] = {"detail": message_for(exc)}
        if isinstance(exc, e.InvalidInput) and exc.field:
            body["field"] = exc.field
        if isinstance(exc, e.ProviderFailed):
            body["reason"] = exc.reason
        response = JSONResponse(body, status_code=status)
        if isinstance(exc, e.Unauthorized):
            response.headers["WWW-Authenticate"] = 'Basic realm="boothai"'
        return response


class OpenAIErrors(_ErrorRoute):
    """The image-edit API (seeds 002/004, OpenAI-compatible): every error is
    `{"detail": {"error": CODE, "message": "..."}}` with CODE one of INVALID_INPUT,
    UNAUTHORIZED, MODEL_NOT_READY, GENERATION_ERROR. Bad input is 400 (the seeds' status,
    not the core's 422/415) except a too-large upload, which stays 413; a provider failure is
    500 and a timeout 504, both GENERATION_ERROR. FastAPI's own request validation errors
    and unexpected crashes on these routes get the same shape."""

    STATUS_OVERRIDES: dict[type[e.BoothaiError], int] = {
        e.InvalidInput: 400,
        e.UnsupportedMedia: 400,
        e.NotFound: 400,
        e.ConditionFailed: 400,
        e.ProviderFailed: 500,
    }

    @staticmethod
    def code_for(exc: e.BoothaiError) -> str:
        if isinstance(exc, e.Unauthorized | e.TooManyAttempts):
            return "UNAUTHORIZED"
        if isinstance(exc, e.ModelNotReady | e.StorageUnavailable):
            return "MODEL_NOT_READY"
        if isinstance(exc, e.ProviderFailed | e.DeadlineExceeded):
            return "GENERATION_ERROR"
        return "INVALID_INPUT"

    @staticmethod
    def body(code: str, message: str, status: int, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"detail": {"error": code, "message": message}},
                            status_code=status, headers=headers)

    def render(self, exc: e.BoothaiError, status: int) -> Response:
        for cls in type(exc).__mro__:
            if cls in self.STATUS_OVERRIDES:
                status = self.STATUS_OVERRIDES[cls]
                break
        code = self.code_for(exc)
        message = str(exc)
        if code == "GENERATION_ERROR":
            message = f"Image generation failed: {exc}"
        response = self.body(code, message, status)
        if isinstance(exc, e.Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="boothai", Basic realm="boothai"'
        return response

    def render_invalid(self, field: str | None, message: str) -> Response:
        return self.body("INVALID_INPUT", f"{field or 'request'}: {message}", 400)

    def render_crash(self) -> Response:  # nothing internal leaks
        return self.body("GENERATION_ERROR", "Image generation failed: internal error", 500)
