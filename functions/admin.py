"""Admin JSON API for the operator UI (Basic Auth; a tenant sees only its own data)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile
from pydantic import BaseModel, Field

from functions.app import create_function_app
from functions.deps import CurrentTenant, ReceivedAt, ServicesDep
from functions.errors import JsonErrors
from functions.lambda_entry import make_handler
from shared.domain import (
    SLOTS_PER_PROVIDER,
    Job,
    JobSource,
    ProcessingType,
    ProviderName,
    Slot,
    slot_problem,
)
from shared.errors import InvalidInput, NotFound
from shared.services import Services

router = APIRouter(prefix="/api", tags=["admin"], route_class=JsonErrors)

MAX_PROMPT = 2000


class SlotUpdate(BaseModel):
    type: ProcessingType | None = None
    prompt: str = Field(default="", max_length=MAX_PROMPT)
    enabled: bool = False
    fallback_to_original: bool = False
    fallback_provider: ProviderName | None = None
    model: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9._:/-]*$")


# -- shaping --------------------------------------------------------------------------------------
def _base_url(services: Services, request: Request) -> str:
    settings = services.settings
    return settings.upload_base_url or settings.public_base_url or str(request.base_url).rstrip("/")


def slot_json(slot: Slot, base_url: str) -> dict:
    api = f"/api/slots/{slot.provider}/{slot.index}"
    return {
        "provider": slot.provider,
        "index": slot.index,
        "type": slot.type,
        "prompt": slot.prompt,
        "enabled": slot.enabled,
        "fallback_to_original": slot.fallback_to_original,
        "fallback_provider": slot.fallback_provider,
        "model": slot.model,
        "has_reference": bool(slot.reference_key),
        "reference_url": f"{api}/reference" if slot.reference_key else None,
        "upload_url": f"{base_url}/u/{slot.upload_token}",
        "problem": slot_problem(slot),
        "updated_at": slot.updated_at,
    }


def job_json(job: Job) -> dict:
    api = f"/api/jobs/{job.job_id}"
    return {
        "job_id": job.job_id,
        "provider": job.provider,
        "slot_index": job.slot_index,
        "source": job.source,
        "type": job.type,
        "status": job.status,
        "reason": job.reason,
        "created_at": job.created_at,
        "provider_ms": job.provider_ms,
        "total_ms": job.total_ms,
        "attempts": job.attempts,
        "original_url": f"{api}/original" if job.original_key else None,
        "result_url": f"{api}/result" if job.result_key else None,
    }


def _tab(services: Services, name: ProviderName) -> dict:
    provider = services.providers.get(name)
    if provider is None:
        return {"provider": name, "label": name.capitalize(), "types": [],
                "types_note": None, "available": False,
                "unavailable_reason": services.providers.unavailable.get(name, "not enabled")}
    problem = _setup_problem(provider, name)
    return {"provider": name, "label": provider.label,
            "types": sorted(provider.types), "types_note": provider.types_note,
            "available": problem is None, "unavailable_reason": problem}


def _setup_problem(provider, name: ProviderName) -> str | None:
    """What this deployment lacks for the provider (an API key, a GPU backend, a public
    URL): the same check that refuses saving its slots, asked once with an empty slot."""
    probe = Slot(tenant="-", provider=name, index=1, upload_token="-")
    try:
        provider.check_slot(probe)
    except InvalidInput as exc:
        return str(exc)
    return None


def _provider_name(value: str) -> ProviderName:
    try:
        return ProviderName(value)
    except ValueError:
        raise NotFound(f"no provider tab {value!r}") from None


async def _slot(services: Services, tenant: str, provider: str, index: int) -> Slot:
    name = _provider_name(provider)
    if name not in services.settings.enabled_providers:
        raise NotFound(f"the {name} tab is not enabled on this server")
    return await services.repo.get_slot(tenant, name, index)


# -- slots ----------------------------------------------------------------------------------------
@router.get("/slots", summary="Every tab with its 20 slots and their upload links")
async def list_slots(tenant: CurrentTenant, services: ServicesDep, request: Request) -> dict:
    enabled = list(services.settings.enabled_providers)
    slots = await services.repo.list_slots(tenant.name)
    if len(slots) < len(enabled) * SLOTS_PER_PROVIDER:  # a tab enabled after sign-up
        await services.repo.ensure_slots(tenant.name, enabled)
        slots = await services.repo.list_slots(tenant.name)
    base = _base_url(services, request)
    by_provider: dict[ProviderName, list[dict]] = {name: [] for name in enabled}
    for slot in slots:
        if slot.provider in by_provider:
            by_provider[slot.provider].append(slot_json(slot, base))
    return {
        "tenant": tenant.name,
        "tabs": [{**_tab(services, name), "slots": by_provider[name]} for name in enabled],
    }


@router.put("/slots/{provider}/{index}", summary="Save a slot's preset")
async def save_slot(
    provider: str, index: int, update: SlotUpdate, tenant: CurrentTenant,
    services: ServicesDep, request: Request,
) -> dict:
    slot = await _slot(services, tenant.name, provider, index)
    impl = services.providers.get(slot.provider)
    if impl is None:
        raise InvalidInput(
            f"the {slot.provider} provider is unavailable: "
            f"{services.providers.unavailable.get(slot.provider, 'not enabled')}",
            field="type",
        )
    if update.type is not None and update.type not in impl.types:
        supported = ", ".join(sorted(impl.types)) or "nothing"
        note = f" ({impl.types_note})" if impl.types_note else ""
        raise InvalidInput(f"{impl.label} does {supported}, not {update.type}{note}", field="type")
    if update.fallback_provider is not None:
        _check_fallback(services, slot.provider, update)

    slot.type = update.type
    slot.prompt = update.prompt.strip()
    slot.enabled = update.enabled
    slot.fallback_to_original = update.fallback_to_original
    slot.fallback_provider = update.fallback_provider
    slot.model = update.model or None
    if slot.enabled:
        problem = slot_problem(slot)
        if problem:
            field = "type" if slot.type is None else "prompt" if "prompt" in problem else "reference"
            raise InvalidInput(f"cannot enable: {problem}", field=field)
    if slot.type is not None:
        impl.check_slot(slot)
    await services.repo.save_slot(slot)
    return slot_json(slot, _base_url(services, request))


def _check_fallback(services: Services, own: ProviderName, update: SlotUpdate) -> None:
    name = update.fallback_provider
    fallback = services.providers.get(name)
    if name == own:
        raise InvalidInput("the fallback must be another provider", field="fallback_provider")
    if fallback is None:
        raise InvalidInput(f"the {name} provider is not available", field="fallback_provider")
    if update.type is not None and update.type not in fallback.types:
        raise InvalidInput(f"{fallback.label} cannot do {update.type}", field="fallback_provider")


@router.put("/slots/{provider}/{index}/reference", summary="Upload the slot's reference image")
async def put_reference(
    provider: str, index: int, tenant: CurrentTenant, services: ServicesDep, request: Request,
    file: Annotated[UploadFile, File(description="JPEG or PNG")],
) -> dict:
    slot = await _slot(services, tenant.name, provider, index)
    slot = await services.media.set_reference(slot, await file.read())
    return slot_json(slot, _base_url(services, request))


@router.delete("/slots/{provider}/{index}/reference", summary="Remove the slot's reference image")
async def delete_reference(
    provider: str, index: int, tenant: CurrentTenant, services: ServicesDep, request: Request
) -> dict:
    slot = await services.media.remove_reference(
        await _slot(services, tenant.name, provider, index))
    return slot_json(slot, _base_url(services, request))


@router.get("/slots/{provider}/{index}/reference", summary="The slot's reference image",
            response_class=Response)
async def get_reference(
    provider: str, index: int, tenant: CurrentTenant, services: ServicesDep, thumb: bool = False
) -> Response:
    slot = await _slot(services, tenant.name, provider, index)
    if not slot.reference_key:
        raise NotFound("this slot has no reference image")
    return await _image_response(services, slot.reference_key, slot.reference_mime, thumb)


@router.post(
    "/slots/{provider}/{index}/test",
    summary="Try the slot: run a photo through the same pipeline as a booth",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
async def try_slot(
    provider: str, index: int, tenant: CurrentTenant, services: ServicesDep,
    arrived: ReceivedAt, file: Annotated[UploadFile, File(description="a guest photo")],
) -> Response:
    slot = await _slot(services, tenant.name, provider, index)
    data = await file.read()
    answer = await services.pipeline.process(slot, data, received_at=arrived,
                                             source=JobSource.TEST)
    headers = {"X-Boothai-Job": answer.job.job_id,
               "X-Boothai-Duration-Ms": str(answer.job.total_ms or 0)}
    if answer.served_original:
        headers["X-Boothai-Original"] = answer.job.reason
    return Response(answer.image, media_type=answer.mime, headers=headers)


# -- statistics and jobs --------------------------------------------------------------------------
def _counts(c) -> dict:
    return {"done": c.done, "failed": c.failed, "average_ms": c.average_ms}


@router.get("/stats", summary="Upload password, per-provider counts, the last 50 jobs")
async def stats(tenant: CurrentTenant, services: ServicesDep) -> dict:
    from shared.domain import ProviderCounts

    counts = await services.repo.read_stats(tenant.name)
    jobs = await services.repo.recent_jobs(tenant.name, limit=50)
    providers = []
    for name in services.settings.enabled_providers:
        periods = counts.get(name, {})
        providers.append({
            "provider": name,
            "label": _tab(services, name)["label"],
            "today": _counts(periods.get("today", ProviderCounts())),
            "total": _counts(periods.get("total", ProviderCounts())),
        })
    return {
        "tenant": tenant.name,
        "upload_password": tenant.upload_password,
        "providers": providers,
        "recent_jobs": [job_json(j) for j in jobs],
    }


# -- API keys (for /v1/images/edits and the vision API) ---------------------------------------
class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)


def _api_key_json(key) -> dict:
    return {"key_id": key.key_id, "name": key.name, "prefix": key.prefix,
            "created_at": key.created_at}


@router.get("/keys", summary="The tenant's API keys (names and prefixes; never the keys)")
async def list_api_keys(tenant: CurrentTenant, services: ServicesDep) -> dict:
    from shared.apikeys import ApiKeys

    keys = await ApiKeys(services.tables).list(tenant.name)
    return {"keys": [_api_key_json(k) for k in sorted(keys, key=lambda k: k.created_at)]}


@router.post("/keys", status_code=201, summary="Create an API key (the key is shown only here)")
async def create_api_key(body: ApiKeyCreate, tenant: CurrentTenant, services: ServicesDep) -> dict:
    from shared.apikeys import ApiKeys

    record, secret = await ApiKeys(services.tables).create(tenant.name, body.name)
    return {**_api_key_json(record), "key": secret}


@router.delete("/keys/{key_id}", status_code=204, response_class=Response,
               summary="Revoke an API key")
async def revoke_api_key(key_id: str, tenant: CurrentTenant, services: ServicesDep) -> Response:
    from shared.apikeys import ApiKeys

    if not key_id.isalnum() or len(key_id) > 40:
        raise NotFound(f"no API key {key_id}")
    await ApiKeys(services.tables).revoke(tenant.name, key_id)
    return Response(status_code=204)


@router.post("/upload-password/rotate", summary="Issue a new upload password")
async def rotate_upload_password(tenant: CurrentTenant, services: ServicesDep) -> dict:
    return {"upload_password": await services.repo.rotate_upload_password(tenant.name)}


@router.get("/jobs/{job_id}/{which}", summary="A job's original or result image",
            response_class=Response)
async def job_image(
    job_id: str, which: str, tenant: CurrentTenant, services: ServicesDep, thumb: bool = False
) -> Response:
    if which not in ("original", "result") or not job_id.isalnum() or len(job_id) > 40:
        raise NotFound("no such image")
    job = await services.repo.get_job(tenant.name, job_id)
    key = (job.original_key if which == "original" else job.result_key) if job else None
    if not key:
        raise NotFound("no such image")
    return await _image_response(services, key, None, thumb)


async def _image_response(services: Services, key: str, mime: str | None, thumb: bool) -> Response:
    data, sniffed = await services.media.read(key, thumb=thumb)
    return Response(data, media_type=sniffed if thumb else (mime or sniffed),
                    headers={"Cache-Control": "private, max-age=60"})


app = create_function_app(router)
handler = make_handler(app, "admin")
