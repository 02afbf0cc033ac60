"""App factories. `create_app` mounts every function in one FastAPI app (boothai serve);
`create_function_app` wraps a single router for its own Lambda function."""

from __future__ import annotations

import importlib
import logging
import time
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from functions.deps import install_services
from shared.config import Settings
from shared.services import Services, build_services

log = logging.getLogger("boothai")

# The functions `boothai serve` mounts, in order. A module missing from this build is skipped.
FUNCTION_MODULES = ("health", "ingest", "admin", "media", "webhooks", "images", "vision", "ui")


# Routes whose specs allow several 10 MB files (or base64 images) in one request.
API_UPLOAD_PREFIXES = ("/v1/images/edits", "/batch/ocr", "/api/v1/image/comparison")


class ArrivalTime:
    """Stamp each request with its monotonic arrival time: the booth deadline counts from
    here, before the body is read (a 12 MB upload on venue Wi-Fi takes seconds)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {}).setdefault("received_at", time.monotonic())
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse bodies over the limit before they are read: by Content-Length at once, and by
    counting for chunked uploads that do not declare one."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = larger or {}  # path prefix → its own limit (multi-file APIs)

    def _limit(self, path: str) -> int:
        for prefix, limit in self.larger.items():
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self._limit(scope.get("path", ""))
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await self._too_large(scope, receive, send, limit)
        seen = 0

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge:
            await self._too_large(scope, receive, send, limit)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        limit_mb = limit / 1024 / 1024
        response = PlainTextResponse(
            f"upload too large; the limit is {limit_mb:.0f} MB\n", status_code=413,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class _BodyTooLarge(BaseException):
    """BaseException, so no handler that catches Exception (a form parser's "malformed body"
    → 422) can turn an oversize body into anything but 413."""


class NoSniff:
    """`X-Content-Type-Options: nosniff` on every answer: stored uploads are served back (job
    originals, references), and a JPEG that is also HTML must never be rendered as a page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_nosniff(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"x-content-type-options", b"nosniff")]
            await send(message)

        await self.app(scope, receive, send_nosniff)


def _limits(app: FastAPI, settings: Settings) -> ASGIApp:
    # Multipart framing adds a little over the file itself.
    api_limit = int(settings.max_api_request_mb * 1024 * 1024)
    larger = {prefix: api_limit for prefix in API_UPLOAD_PREFIXES}
    return ArrivalTime(NoSniff(BodyLimit(app, settings.max_upload_bytes + 64 * 1024, larger)))


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    extra_routers: tuple[APIRouter, ...] = (),
) -> ASGIApp:
    """Every function in one app. `extra_routers` are mounted too, inside the same limits
    (benchmarks add a baseline route this way)."""
    settings = settings or (services.settings if services else Settings())

    owned = services is None  # close on shutdown only what this app built
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if owned:
            await services.aclose()

    install_services(services)
    app = FastAPI(
        title="boothai",
        version="0.1.0",
        summary="Photobooth AI relay, image-edit and vision APIs",
        lifespan=lifespan,
    )
    for name in FUNCTION_MODULES:
        try:
            module = importlib.import_module(f"functions.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"functions.{name}":
                raise
            continue
        app.include_router(module.router)
    for router in extra_routers:
        app.include_router(router)
    app.state.services = services
    return _limits(app, settings)


def create_function_app(*routers: APIRouter) -> ASGIApp:
    """One Lambda function's app: only its own routers; services built at import."""
    settings = Settings()
    app = FastAPI(title="boothai", version="0.1.0")
    for router in routers:
        app.include_router(router)
    return _limits(app, settings)
