"""Dependencies shared by the functions, as Annotated aliases so signatures read like prose."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from shared.config import Settings
from shared.domain import Tenant
from shared.services import Services, build_services

_services: Services | None = None


def install_services(services: Services | None) -> None:
    """Set the process-wide services (boothai serve, tests); None forgets them."""
    global _services
    _services = services


def get_services() -> Services:
    global _services
    if _services is None:
        # A Lambda container: build once from the environment, keep for the container's life.
        _services = build_services(Settings())
    return _services


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def received_at(request: Request) -> float:
    """Monotonic time the request arrived (set by the app's middleware), for the deadline."""
    return request.scope.get("state", {}).get("received_at", time.monotonic())


_basic = HTTPBasic(auto_error=False, realm="boothai")


async def current_tenant(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> Tenant:
    from shared.errors import Unauthorized

    if credentials is None:
        raise Unauthorized("log in with your operator name and password")
    return await services.auth.operator(
        credentials.username, credentials.password, client_address(request)
    )


async def api_tenant(
    request: Request, services: Annotated[Services, Depends(get_services)]
) -> Tenant:
    """Image-edit and vision API callers: Bearer API key, or Basic (user:api-key or the
    operator's own credentials)."""
    return await services.auth.api_client(
        request.headers.get("authorization", ""), client_address(request)
    )


ServicesDep = Annotated[Services, Depends(get_services)]
ApiTenant = Annotated[Tenant, Depends(api_tenant)]
CurrentTenant = Annotated[Tenant, Depends(current_tenant)]
ClientAddress = Annotated[str, Depends(client_address)]
ReceivedAt = Annotated[float, Depends(received_at)]
