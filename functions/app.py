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
from shared.config import Settings
from shared.services import Services, build_services

log = logging.getLogger("boothai")

# The functions `boothai serve` mounts, in order. A module missing from this build is skipped.
FUNCTION_MODULES = ("health", "ingest", "admin", "media", "webhooks", "images", "vision", "ui")


class ArrivalTime:
    """Stamp each request with its monotonic arrival time: the booth deadline counts from
    here, before the body is read (a 12 MB upload on venue Wi-Fi takes seconds)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {}).setdefault("received_at", time.monotonic())
        await self.app(scope, receive, send)


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
    return ArrivalTime(NoSniff(BodyLimit(app, settings)))


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
