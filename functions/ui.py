"""The operator UI: static files from frontend/, the page itself behind Basic Auth so the
browser asks for the operator's credentials before anything is shown. Served by the console
function."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse

from functions.deps import CurrentTenant, ServicesDep
from functions.errors import JsonErrors
from shared.errors import NotFound

router = APIRouter(tags=["ui"], route_class=JsonErrors, include_in_schema=False)

# The page loads only its own files: no inline script or style, no other host, no plugins,
# no framing, no form posting anywhere. Images may be blob: URLs (Try it's before/after are
# made in the page from the chosen file and the answer).
UI_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: "
             "data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; "
             "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
          ".png": "image/png", ".ico": "image/x-icon", ".json": "application/json",
          ".html": "text/html"}


@router.get("/", response_class=Response)
async def index(tenant: CurrentTenant, services: ServicesDep) -> Response:
    page = services.settings.frontend_dir / "index.html"
    if not page.is_file():
        raise NotFound("the operator UI is not installed (frontend/index.html is missing)")
    return FileResponse(page, media_type="text/html",
                        headers={"Cache-Control": "no-store", "Content-Security-Policy": UI_POLICY})


@router.get("/static/{path:path}", response_class=Response)
async def static(path: str, services: ServicesDep) -> Response:
    root = (services.settings.frontend_dir / "static").resolve()
    target = (root / path).resolve()
    if root not in target.parents or not target.is_file() or target.suffix not in _TYPES:
        raise NotFound("no such file")
    return FileResponse(target, media_type=_TYPES[target.suffix])

