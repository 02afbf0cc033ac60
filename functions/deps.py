"""Dependencies shared by the functions, as Annotated aliases so signatures read like prose:
`async def booth_upload(token: str, booth: Booth, …)`. Each function depends only on its
own use case, so a Lambda container builds nothing else."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from shared.config import Settings
from shared.domain import Tenant
from shared.errors import Unauthorized
from shared.services import Services, build_services
from shared.usecases.booth import BoothIngest
from shared.usecases.console import OperatorConsole
from shared.usecases.gallery_pages import GalleryPages
from shared.usecases.health import ServiceHealth
from shared.usecases.image_edits import ImageEdits
from shared.usecases.share_pages import SharePages
from shared.usecases.signed_media import SignedMedia
from shared.usecases.vision import Vision
from shared.usecases.webhooks import ProviderWebhooks

_services: Services | None = None


def install_services(services: Services | None) -> None:
    """Set the process-wide services (boothai serve, tests); None forgets them."""
    global _services
    _services = services


async def get_services() -> Services:
    global _services
    if _services is None:
        # A Lambda container: built once from the environment, kept for the container's life.
        _services = build_services(Settings())
    return _services


def built_services() -> Services | None:
    """The services if this process built them already (never builds)."""
    return _services


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _client_address(request: Request) -> str:
    return client_address(request)


async def received_at(request: Request) -> float:
    """Monotonic time the request arrived (set by the app's middleware), for the deadline."""
    return request.scope.get("state", {}).get("received_at", time.monotonic())


# Every dependency is a coroutine, even the trivial ones: FastAPI runs a plain `def`
# dependency on the thread pool, a thread hop (and a GIL hand-off) per request for a
# lookup that takes a microsecond. tests/functions/test_booth_form.py counts the hops.
ServicesDep = Annotated[Services, Depends(get_services)]
ClientAddress = Annotated[str, Depends(_client_address)]
ReceivedAt = Annotated[float, Depends(received_at)]


# -- the use cases --------------------------------------------------------------------------------
async def get_booth(services: ServicesDep) -> BoothIngest:
    return services.booth


async def get_console(services: ServicesDep) -> OperatorConsole:
    return services.console


async def get_health(services: ServicesDep) -> ServiceHealth:
    return services.health


async def get_image_edits(services: ServicesDep) -> ImageEdits:
    return services.image_edits


async def get_vision(services: ServicesDep) -> Vision:
    return services.vision


async def get_webhooks(services: ServicesDep) -> ProviderWebhooks:
    return services.webhooks


async def get_share_pages(services: ServicesDep) -> SharePages:
    return services.share_pages


async def get_gallery_pages(services: ServicesDep) -> GalleryPages:
    return services.gallery_pages


async def get_signed_media(services: ServicesDep) -> SignedMedia:
    return services.signed_media


Booth = Annotated[BoothIngest, Depends(get_booth)]
Console = Annotated[OperatorConsole, Depends(get_console)]
Health = Annotated[ServiceHealth, Depends(get_health)]
Edits = Annotated[ImageEdits, Depends(get_image_edits)]
VisionApi = Annotated[Vision, Depends(get_vision)]
Webhooks = Annotated[ProviderWebhooks, Depends(get_webhooks)]
Media = Annotated[SignedMedia, Depends(get_signed_media)]
Shares = Annotated[SharePages, Depends(get_share_pages)]
PublicGalleries = Annotated[GalleryPages, Depends(get_gallery_pages)]


# -- who is asking ------------------------------------------------------------------------------
_basic = HTTPBasic(auto_error=False, realm="boothai")


# The caller is identified before the body is read (functions/errors.ErrorRoute runs a
# dependency's `before_body` check first) and kept in the request's scope for the dependency.
_CALLER = "boothai.caller"


async def check_operator(request: Request) -> Tenant:
    """The operator, by Basic Auth, from the headers alone (the UI and the admin API)."""
    if _CALLER not in request.scope:
        services = await get_services()
        credentials = await _basic(request)
        if credentials is None:
            raise Unauthorized("log in with your operator name and password")
        request.scope[_CALLER] = await services.auth.operator(
            credentials.username, credentials.password, client_address(request))
    return request.scope[_CALLER]


async def check_api_client(request: Request) -> Tenant:
    """Image-edit and vision API callers: Bearer API key, or Basic (user:api-key or the
    operator's own credentials), from the headers alone."""
    if _CALLER not in request.scope:
        services = await get_services()
        request.scope[_CALLER] = await services.auth.api_client(
            request.headers.get("authorization", ""), client_address(request))
    return request.scope[_CALLER]


async def current_tenant(
    request: Request,
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],  # for the docs
) -> Tenant:
    return await check_operator(request)


async def api_tenant(request: Request) -> Tenant:
    return await check_api_client(request)


current_tenant.before_body = check_operator  # type: ignore[attr-defined]
api_tenant.before_body = check_api_client  # type: ignore[attr-defined]

CurrentTenant = Annotated[Tenant, Depends(current_tenant)]
ApiTenant = Annotated[Tenant, Depends(api_tenant)]
