"""`GET /health`: storage reachable, providers and GPU backend up. No secrets, no auth (load
balancers and uptime checks call it). Served by the console function."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from functions.deps import Health

router = APIRouter(tags=["health"])


@router.get("/health", summary="Service health")
async def health(health: Health) -> JSONResponse:
    report = await health.check()
    gpu = {"backend": report.gpu_backend, "ready": report.gpu_ready, "reason": report.gpu_reason,
           "loaded_models": report.loaded_models}
    if report.models_error:
        gpu["models_error"] = report.models_error
    body = {
        "status": "ok" if report.healthy else "degraded",
        "storage": report.storage,
        "checks": report.checks,
        "providers": report.providers,
        "gpu": gpu,
        "models_loaded": len(report.loaded_models),
        "loaded_models": report.loaded_models,
    }
    return JSONResponse(body, status_code=200 if report.healthy else 503)
