"""`GET /health`: is the store reachable, which providers and GPU backend are up. No secrets,
no auth (load balancers and uptime checks call it)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from functions.app import create_function_app
from functions.deps import ServicesDep
from functions.lambda_entry import make_handler

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
        try:  # seed 001: which models are in memory now
            gpu["loaded_models"] = list((await services.gpu.models()).get("loaded", []))
        except Exception as exc:  # health reports, it never raises
            gpu["loaded_models"] = []
            gpu["models_error"] = exc.__class__.__name__
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
        "models_loaded": len(gpu.get("loaded_models", [])),
        "loaded_models": gpu.get("loaded_models", []),
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


app = create_function_app(router)
handler = make_handler(app, "health")
