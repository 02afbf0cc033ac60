"""`GET /health`: is the store reachable, which providers and GPU backend are up. No secrets,
no auth (load balancers and uptime checks call it)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from mangum import Mangum

from functions.app import create_function_app
from functions.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Service health")
async def health(services: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, port in (("tables", services.tables), ("objects", services.store)):
        try:
            with anyio.fail_after(3):
                await anyio.to_thread.run_sync(port.ping)
            checks[name] = "ok"
        except Exception as exc:  # health reports, it never raises
            checks[name] = f"unavailable ({exc.__class__.__name__})"
    gpu: dict = {"backend": services.settings.gpu_backend}
    if services.gpu is not None:
        ready, reason = await services.gpu.ready()
        gpu.update(ready=ready, reason=reason)
    healthy = all(v == "ok" for v in checks.values())
    body = {
        "status": "ok" if healthy else "degraded",
        "storage": services.settings.storage,
        "checks": checks,
        "providers": {
            **{str(n): "ok" for n in services.providers.providers},
            **{str(n): f"unavailable: {r}" for n, r in services.providers.unavailable.items()},
        },
        "gpu": gpu,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


app = create_function_app(router)
handler = Mangum(app, lifespan="off")
