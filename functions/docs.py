"""`GET /docs`: the API's Swagger UI, every file from this server. FastAPI's built-in page
loads its script and stylesheet from a CDN and its icon from fastapi.tiangolo.com: each docs
visit would tell those hosts about this deployment, and whoever serves that script runs code
in the page that holds the visitor's API key. So the app is built with docs_url=None (and
redoc_url=None: ReDoc loads from a CDN too) and this router serves the page with the
Swagger UI files vendored in functions/swagger_ui/. Only `boothai serve` mounts it."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse

from functions.errors import PlainTextErrors
from shared.errors import NotFound

router = APIRouter(tags=["docs"], route_class=PlainTextErrors, include_in_schema=False)

SWAGGER_UI_VERSION = "5.35.0"  # swagger-ui-dist, as vendored (functions/swagger_ui/README.md)
_ASSETS_DIR = Path(__file__).parent / "swagger_ui"
# The only files served: name → media type. The version is in the URL, so a browser may
# keep them for a long time and an update is fetched at once.
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
_ASSET_PATH = f"/docs/assets/{SWAGGER_UI_VERSION}"
# The page runs one inline script (Swagger UI's start-up, written by FastAPI); everything
# else it may load comes from this origin. The spec validator badge is off: it would send
# the spec's URL to validator.swagger.io.
_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
        "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'")


@router.get("/docs", response_class=Response)
async def swagger_ui(request: Request) -> Response:
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=root + (request.app.openapi_url or "/openapi.json"),
        title=f"{request.app.title} API",
        swagger_js_url=f"{root}{_ASSET_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{_ASSET_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{_ASSET_PATH}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},
    )
    page.headers["Content-Security-Policy"] = _CSP
    page.headers["Cache-Control"] = "no-store"
    return page


@router.get(f"{_ASSET_PATH}/{{name}}", response_class=Response)
async def swagger_asset(name: str) -> Response:
    if name not in _ASSETS:
        raise NotFound("no such file")
    return FileResponse(_ASSETS_DIR / name, media_type=_ASSETS[name],
                        headers={"Cache-Control": "public, max-age=604800, immutable"})
