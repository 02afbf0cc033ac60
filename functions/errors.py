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
    def render(self, exc: e.BoothaiError, status: int) -> Response:  # pragma: no cover
        raise NotImplementedError

    def get_route_handler(self) -> Handler:
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

        return handler


class PlainTextErrors(_ErrorRoute):
    def render(self, exc: e.BoothaiError, status: int) -> Response:
        return PlainTextResponse(message_for(exc) + "\n", status_code=status)


class JsonErrors(_ErrorRoute):
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
