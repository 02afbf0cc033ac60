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
    loaded = list(report.gpu.get("loaded_models", []))  # type: ignore[call-overload]
    body = {
        "status": "ok" if report.healthy else "degraded",
        "storage": report.storage,
        "checks": report.checks,
        "providers": report.providers,
        "gpu": report.gpu,
        "models_loaded": len(loaded),
        "loaded_models": loaded,
    }
    return JSONResponse(body, status_code=200 if report.healthy else 503)
