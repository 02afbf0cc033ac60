"""App factories. `create_app` mounts every function in one FastAPI app (boothai serve);
`create_function_app` wraps a single router for its own Lambda function."""

from __future__ import annotations

import importlib
import logging
import time
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from functions.body_limits import BodyLimit
from functions.deps import install_services
from functions.same_origin import SameOriginWrites
from shared.config import Settings
from shared.services import Services, build_services

log = logging.getLogger("boothai")

# The functions `boothai serve` mounts, in order. A module missing from this build is skipped.
FUNCTION_MODULES = ("health", "ingest", "admin", "media", "webhooks", "images", "vision", "docs",
                    "share", "gallery", "ui")


class ArrivalTime:
    """Stamp each request with its monotonic arrival time: the booth deadline counts from
    here, before the body is read (a 12 MB upload on venue Wi-Fi takes seconds)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {}).setdefault("received_at", time.monotonic())
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Headers on every answer:
    - `X-Content-Type-Options: nosniff`: stored uploads are served back (job originals,
      references), and a JPEG that is also HTML must never be rendered as a page;
    - `X-Frame-Options: DENY` and, unless the answer has its own policy, a CSP of
      `frame-ancestors 'none'`: no other site may frame the operator UI and trick a click
      on "Rotate" (the UI's own policy, functions/ui.py, says the same and more);
    - `Referrer-Policy: no-referrer`: media links carry their signature in the query."""

    HEADERS = ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
               (b"referrer-policy", b"no-referrer"))
    FRAMING = (b"content-security-policy", b"frame-ancestors 'none'")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *self.HEADERS]
                if not any(name.lower() == self.FRAMING[0] for name, _ in headers):
                    headers.append(self.FRAMING)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _limits(app: FastAPI, settings: Settings) -> ASGIApp:
    return ArrivalTime(SecurityHeaders(SameOriginWrites(BodyLimit(app, settings), settings)))


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
        services.start_gpu_preload()  # inprocess GPU: the booth tabs' models, in the background
        yield
        if owned:
            await services.aclose()

    install_services(services)
    app = FastAPI(
        title="boothai",
        version="0.1.0",
        summary="Photobooth AI relay, image-edit and vision APIs",
        lifespan=lifespan,
        docs_url=None, redoc_url=None,  # their pages load from CDNs: functions/docs.py serves /docs
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
    app = FastAPI(title="boothai", version="0.1.0", docs_url=None, redoc_url=None)
    for router in routers:
        app.include_router(router)
    return _limits(app, settings)
