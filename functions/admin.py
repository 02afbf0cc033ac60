"""Admin JSON API for the operator UI (Basic Auth; a tenant sees only its own data).
Served by the console function (functions/console.py) together with the UI and /health."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from pydantic import BaseModel, Field

from functions.deps import Console, CurrentTenant, ReceivedAt
from functions.errors import JsonErrors
from shared import object_keys
from shared.apikeys import ApiKey
from shared.booth_trace import TraceEntry
from shared.domain import MAX_LATE_TEXT_CHARS, Job, ProviderCounts, reason_code, slot_key
from shared.images import extension_for
from shared.media import StoredImage
from shared.pipeline import BoothAnswer
from shared.provider_keys import MAX_KEY_CHARS, KeyCheck, KeyInEffect
from shared.providers.local import NO_SCREEN, KeyPreview
from shared.slot_rules import as_data
from shared.usecases.console import (
    GallerySettings,
    GalleryView,
    ShareState,
    SlotSettings,
    SlotView,
    Tab,
)

router = APIRouter(prefix="/api", tags=["admin"], route_class=JsonErrors)


# -- shaping --------------------------------------------------------------------------------------
def slot_json(view: SlotView) -> dict[str, Any]:
    slot, problem = view.slot, view.problem
    api = f"/api/slots/{slot.provider}/{slot.index}"
    return {
        "provider": slot.provider,
        "index": slot.index,
        "name": slot.name,
        "type": slot.type,
        "prompt": slot.prompt,
        "prompt_fields": list(slot.prompt_fields),
        "enabled": slot.enabled,
        "fallback_to_original": slot.fallback_to_original,
        "fallback_provider": slot.fallback_provider,
        "model": slot.model,
        "image_size": slot.image_size,
        "key_tolerance": slot.key_tolerance,
        # Public share pages for its jobs (off by default), and a new link's life in days.
        "share_pages": slot.share_pages,
        "share_days": slot.share_days,
        # When the window runs out: "error", "original" or "original_qr" (shared/late_results.py).
        "when_late": slot.when_late,
        "late_limit_seconds": slot.late_limit_seconds,
        "late_text": slot.late_text,
        "qr_on_results": slot.qr_on_results,
        # The output sizes the operator may pick for this slot's model, and what an unset
        # slot gets; no choices: the UI shows no picker (every tab but Gemini's).
        "image_sizes": list(view.sizes.choices),
        "image_size_default": view.sizes.default,
        "has_reference": bool(slot.reference_key),
        "reference_url": f"{api}/reference" if slot.reference_key else None,
        "upload_url": view.upload_url,
        "problem": problem.message if problem else None,
        # What kind of problem: the UI words "no_key" itself (with the tab's key bar above).
        "problem_code": problem.code if problem else None,
        "updated_at": slot.updated_at,
    }


def tab_json(tab: Tab) -> dict[str, Any]:
    return {"provider": tab.provider, "label": tab.label, "types": sorted(tab.capabilities),
            "requirements": as_data(tab.capabilities), "types_note": tab.types_note,
            "available": tab.available, "unavailable_reason": tab.unavailable_reason,
            # "no_key" / "setup" / "unavailable"; a tab that is not available may still be
            # editable: its slots are prepared ahead and run once the key is there.
            "unavailable_code": tab.unavailable_code, "editable": tab.editable}


def job_json(job: Job) -> dict[str, Any]:
    api = f"/api/jobs/{job.job_id}"
    return {
        "job_id": job.job_id,
        "provider": job.provider,
        "slot_index": job.slot_index,
        "slot_name": job.slot_name,
        "source": job.source,
        "type": job.type,
        # The prompt the provider received, its booth fields filled (shared/prompt_fields.py).
        "prompt": job.prompt,
        "status": job.status,
        "reason": job.reason,
        "detail": job.detail,
        # A failed job's cause (shared/failure_causes.py), for the UI to say in words.
        "cause": job.cause or None,
        "created_at": job.created_at,
        "provider_ms": job.provider_ms,
        "total_ms": job.total_ms,
        # It ended after its booth had the original (the window ran out; shared/late_results.py).
        "late": job.late,
        "attempts": [_attempt_json(a) for a in job.attempts],
        "original_url": f"{api}/original" if job.original_key else None,
        "result_url": f"{api}/result" if job.result_key else None,
    }


def job_detail_json(job: Job) -> dict[str, Any]:
    """The job viewer's: the list's fields, when it ran, download links, where the original is."""
    out = job_json(job)
    for which in ("original", "result"):
        url = out[f"{which}_url"]
        out[f"{which}_download_url"] = f"{url}?download=1" if url else None
    # A failed job's original is kept in trash/ (expires sooner): still shown and downloadable.
    out["original_in_trash"] = bool(job.original_key
                                    and job.original_key.startswith(object_keys.TRASH))
    out["started_at"] = job.started_at
    out["finished_at"] = job.finished_at
    return out


def _attempt_json(attempt: dict) -> dict[str, Any]:
    """One provider tried: its outcome ("done" or a failure code) and how long it took. Jobs
    recorded before the wall-clock times were kept have none (null)."""
    ms = attempt.get("ms")
    return {"provider": attempt.get("provider"), "outcome": attempt.get("outcome"),
            "ms": int(ms) if ms is not None else None,
            "started_at": attempt.get("started_at"), "finished_at": attempt.get("finished_at")}


def _counts(c: ProviderCounts) -> dict[str, Any]:
    return {"done": c.done, "failed": c.failed, "average_ms": c.average_ms,
            "refused": c.refused, "tried": c.tried, "late": c.late}


def trace_json(entry: TraceEntry) -> dict[str, Any]:
    return {"at": entry.at, "outcome": entry.outcome, "status": entry.status,
            "reason": entry.reason, "message": entry.message, "booth": entry.booth,
            "job_id": entry.job_id, "cause": entry.cause}


def _key_json(key: ApiKey) -> dict[str, Any]:
    return {"key_id": key.key_id, "name": key.name, "prefix": key.prefix,
            "created_at": key.created_at}


def _image(image: StoredImage, *, download_as: str | None = None) -> Response:
    """The image; with `download_as` (an ASCII name without extension) as an attachment whose
    extension follows the bytes' real type."""
    headers = {"Cache-Control": "private, max-age=60"}
    if download_as is not None:
        headers["Content-Disposition"] = (f'attachment; filename="{download_as}.'
                                          f'{extension_for(image.mime)}"')
    return Response(image.data, media_type=image.mime, headers=headers)


def _photo(answer: BoothAnswer) -> Response:
    headers = {"X-Boothai-Job": answer.job.job_id,
               "X-Boothai-Duration-Ms": str(answer.job.total_ms or 0)}
    if answer.served_original:
        headers["X-Boothai-Original"] = reason_code(answer.job.reason)
    return Response(answer.image, media_type=answer.mime, headers=headers)


def _base(request: Request) -> str:
    return str(request.base_url)


# -- slots ----------------------------------------------------------------------------------------
@router.get("/slots", summary="Every tab with its 20 slots and their upload links")
async def list_slots(tenant: CurrentTenant, console: Console, request: Request) -> dict:
    tabs = await console.tabs(tenant.name, _base(request), own_keys=tenant.own_keys)
    links = console.link_base(_base(request))
    return {"tenant": tenant.name,
            "links": {"base": links.url, "source": links.source, "warning": links.warning},
            "tabs": [{**tab_json(t.tab), "slots": [slot_json(v) for v in t.slots]} for t in tabs]}


@router.put("/slots/{provider}/{index}", summary="Save a slot's preset")
async def save_slot(provider: str, index: int, settings: SlotSettings, tenant: CurrentTenant,
                    console: Console, request: Request) -> dict:
    slot = await console.save_slot(tenant.name, provider, index, settings)
    return slot_json(console.view(slot, _base(request), tenant.own_keys))


@router.put("/slots/{provider}/{index}/reference", summary="Upload the slot's reference image")
async def put_reference(
    provider: str, index: int, tenant: CurrentTenant, console: Console, request: Request,
    file: Annotated[UploadFile, File(description="JPEG or PNG")],
) -> dict:
    slot = await console.set_reference(tenant.name, provider, index, await file.read())
    return slot_json(console.view(slot, _base(request), tenant.own_keys))


@router.delete("/slots/{provider}/{index}/reference", summary="Remove the slot's reference image")
async def delete_reference(provider: str, index: int, tenant: CurrentTenant, console: Console,
                           request: Request) -> dict:
    slot = await console.remove_reference(tenant.name, provider, index)
    return slot_json(console.view(slot, _base(request), tenant.own_keys))


@router.get("/slots/{provider}/{index}/reference", summary="The slot's reference image",
            response_class=Response)
async def get_reference(provider: str, index: int, tenant: CurrentTenant, console: Console,
                        thumb: bool = False) -> Response:
    return _image(await console.reference(tenant.name, provider, index, thumb=thumb))


@router.post(
    "/slots/{provider}/{index}/test",
    summary="Try the slot: run a photo through the same pipeline as a booth",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
async def try_slot(
    provider: str, index: int, tenant: CurrentTenant, console: Console, arrived: ReceivedAt,
    request: Request, file: Annotated[UploadFile, File(description="a guest photo")],
) -> Response:
    # Any other text field is a sample value for the prompt's fields, as a booth's form
    # would carry it (`name`, `team`, …); the form is the one FastAPI has already parsed.
    form = await request.form()
    samples = {k: v for k, v in form.multi_items() if k != "file" and isinstance(v, str)}
    answer = await console.try_slot(tenant.name, provider, index, await file.read(),
                                    received_at=arrived, own_keys=tenant.own_keys,
                                    samples=samples)
    response = _photo(answer)
    # The filled prompt, for the card to show beside the result: percent-encoded UTF-8 (a
    # header carries Latin-1 only); the job records it too.
    response.headers["X-Boothai-Prompt"] = quote(answer.job.prompt, safe="")
    return response


@router.post(
    "/slots/local/{index}/preview",
    summary="Preview a Local slot's chroma key at a tolerance (no job, nothing stored)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def preview_key(
    index: int, tenant: CurrentTenant, console: Console,
    file: Annotated[UploadFile, File(description="a sample guest photo")],
    tolerance: Annotated[int, Form(description="key tolerance, 0..100")],
) -> Response:
    return _preview(await console.preview_key(tenant.name, index, await file.read(), tolerance))


@router.post(
    "/slots/{provider}/{index}/late-preview",
    summary="Preview the print of a late answer with a QR code (no job, nothing stored)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
async def preview_late(
    provider: str, index: int, request: Request, tenant: CurrentTenant, console: Console,
    file: Annotated[UploadFile, File(description="a sample guest photo")],
    text: Annotated[str | None, Form(max_length=MAX_LATE_TEXT_CHARS,
                                     description="the line under the code; unset: the slot's")] = None,
) -> Response:
    preview = await console.preview_late(tenant.name, provider, index, await file.read(), text,
                                         str(request.base_url))
    # The line as printed (percent-encoded UTF-8: a header carries Latin-1 only), and
    # whether it is not the whole line, for the card to say so.
    return Response(preview.data, media_type=preview.mime, headers={
        "Cache-Control": "no-store", "X-Boothai-Printed-Text": quote(preview.printed_text, safe=""),
        "X-Boothai-Text-Cut": "1" if preview.cut else "0"})


def _preview(preview: KeyPreview) -> Response:
    # The share keyed out, and what a booth would get: the picture when a screen was found,
    # else the local_no_screen failure (the composite is still shown, to tune the slider by).
    headers = {"Cache-Control": "no-store",
               "X-Boothai-Keyed-Percent": f"{preview.keyed_share * 100:.1f}"}
    if not preview.screen_found:
        headers["X-Boothai-Problem"] = NO_SCREEN
    return Response(preview.data, media_type="image/jpeg", headers=headers)


@router.get("/slots/{provider}/{index}/trace",
            summary="The slot's latest booth requests, accepted or refused, newest first")
async def slot_trace(provider: str, index: int, tenant: CurrentTenant, console: Console,
                     limit: int = 50) -> dict:
    entries = await console.trace(tenant.name, provider, index, limit=limit)
    return {"entries": [trace_json(e) for e in entries]}


# -- statistics and jobs --------------------------------------------------------------------------
@router.get("/stats", summary="Upload password, per-provider counts, the last 50 jobs")
async def stats(tenant: CurrentTenant, console: Console) -> dict:
    result = await console.stats(tenant)
    return {
        "tenant": tenant.name,
        "upload_password": result.upload_password,
        "upload_password_problem": result.upload_password_problem,
        "providers": [{"provider": p.provider, "label": p.label, "today": _counts(p.today),
                       "total": _counts(p.total)} for p in result.providers],
        "recent_jobs": [job_json(j) for j in result.recent_jobs],
    }


@router.get("/jobs/{job_id}", summary="One job: status, reason, timings, attempts, image links")
async def job_detail(job_id: str, tenant: CurrentTenant, console: Console) -> dict:
    return job_detail_json(await console.job(tenant.name, job_id))


def share_json(state: ShareState) -> dict[str, Any]:
    link = state.link
    return {"allowed": state.allowed, "days": state.days, "url": state.url,
            "created_at": link.created_at if link else None,
            "expires_at": link.expires_at if link else None}


# Declared before /jobs/{job_id}/{which}, which would take "share" for an image's name.
@router.get("/jobs/{job_id}/share", summary="The job's public share page: allowed, its link")
async def job_share(job_id: str, tenant: CurrentTenant, console: Console,
                    request: Request) -> dict:
    return share_json(await console.share_state(tenant.name, job_id, _base(request)))


@router.post("/jobs/{job_id}/share",
             summary="Make the job's public share link (the live one if it has one)")
async def make_job_share(job_id: str, tenant: CurrentTenant, console: Console,
                         request: Request) -> dict:
    return share_json(await console.share_link(tenant.name, job_id, _base(request)))


@router.delete("/jobs/{job_id}/share", status_code=204, response_class=Response,
               summary="Revoke the job's share link: its page answers 404 from now on")
async def revoke_job_share(job_id: str, tenant: CurrentTenant, console: Console) -> Response:
    await console.revoke_share(tenant.name, job_id)
    return Response(status_code=204)


# -- event galleries (shared/galleries.py; the public page is functions/gallery.py) ---------------
def gallery_json(view: GalleryView) -> dict[str, Any]:
    g = view.gallery
    return {"gallery_id": g.gallery_id, "name": g.name, "slots": list(g.slots),
            "since": g.since, "until": g.until, "created_at": g.created_at,
            "expires_at": g.expires_at, "url": view.url}


def gallery_photo_json(job: Job) -> dict[str, Any]:
    """One photo for "download all": the console's own authenticated link to the result."""
    return {"job_id": job.job_id, "slot": slot_key(job.provider, job.slot_index),
            "provider": job.provider, "slot_index": job.slot_index, "slot_name": job.slot_name,
            "created_at": job.created_at,
            "download_url": f"/api/jobs/{job.job_id}/result?download=1"}


@router.get("/galleries", summary="The account's live event galleries, newest first")
async def list_galleries(tenant: CurrentTenant, console: Console, request: Request) -> dict:
    views = await console.gallery_list(tenant.name, _base(request))
    return {"galleries": [gallery_json(v) for v in views]}


@router.post("/galleries", status_code=201,
             summary="Make an event gallery: a public page of some of the account's slots' "
                     "photos")
async def make_gallery(body: GallerySettings, tenant: CurrentTenant, console: Console,
                       request: Request) -> dict:
    return gallery_json(await console.make_gallery(tenant.name, body, _base(request)))


@router.delete("/galleries/{gallery_id}", status_code=204, response_class=Response,
               summary="Revoke a gallery: its page answers 404 from now on")
async def revoke_gallery(gallery_id: str, tenant: CurrentTenant, console: Console) -> Response:
    await console.revoke_gallery(tenant.name, gallery_id)
    return Response(status_code=204)


@router.get("/galleries/{gallery_id}/photos",
            summary="The gallery's photos with download links, newest first, a page at a time")
async def gallery_photos(gallery_id: str, tenant: CurrentTenant, console: Console,
                         before: str | None = None) -> dict:
    page = await console.gallery_photo_list(tenant.name, gallery_id, before=before)
    # `next`: pass it back as `before` for the following page; null once there is no more.
    return {"photos": [gallery_photo_json(j) for j in page.jobs], "next": page.older}


@router.get("/jobs/{job_id}/{which}", summary="A job's original or result image",
            response_class=Response)
async def job_image(job_id: str, which: str, tenant: CurrentTenant, console: Console,
                    thumb: bool = False, download: bool = False) -> Response:
    image = await console.job_image(tenant.name, job_id, which, thumb=thumb)
    # job_image accepted the id only as letters and digits: safe inside the quoted name.
    name = f"{job_id}-{which}{'-thumb' if thumb else ''}" if download else None
    return _image(image, download_as=name)


@router.post("/upload-password/rotate", summary="Issue a new upload password")
async def rotate_upload_password(tenant: CurrentTenant, console: Console) -> dict:
    return {"upload_password": await console.rotate_upload_password(tenant.name)}


# -- API keys (for /v1/images/edits and the vision API) ---------------------------------------
class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)


@router.get("/keys", summary="The tenant's API keys (names and prefixes; never the keys)")
async def list_api_keys(tenant: CurrentTenant, console: Console) -> dict:
    return {"keys": [_key_json(k) for k in await console.api_keys_of(tenant.name)]}


@router.post("/keys", status_code=201, summary="Create an API key (the key is shown only here)")
async def create_api_key(body: ApiKeyCreate, tenant: CurrentTenant, console: Console) -> dict:
    record, secret = await console.create_api_key(tenant.name, body.name)
    return {**_key_json(record), "key": secret}


@router.delete("/keys/{key_id}", status_code=204, response_class=Response,
               summary="Revoke an API key")
async def revoke_api_key(key_id: str, tenant: CurrentTenant, console: Console) -> Response:
    await console.revoke_api_key(tenant.name, key_id)
    return Response(status_code=204)


# -- the account's own provider keys (Gemini, Turbotext) ----------------------------------------
# Under /api/provider-keys: /api/keys already names the API keys of the two APIs above.
def provider_key_json(key: KeyInEffect) -> dict[str, Any]:
    """Whether a key is in effect and whose; never the key, never any of the deployment's."""
    return {"provider": key.provider, "set": key.set, "last4": key.last4,
            "source": key.source, "updated_at": key.updated_at}


class ProviderKeyBody(BaseModel):
    # The rules (no spaces or control characters) are the core's: check_key_text.
    key: str = Field(max_length=MAX_KEY_CHARS + 64)


@router.get("/provider-keys", summary="The account's provider keys: set or not, last four "
                                      "characters, whose (never the key)")
async def list_provider_keys(tenant: CurrentTenant, console: Console) -> dict:
    return {"keys": [provider_key_json(k) for k in console.provider_keys(tenant)]}


@router.put("/provider-keys/{provider}", summary="Store the account's own key (sealed at rest)")
async def put_provider_key(provider: str, body: ProviderKeyBody, tenant: CurrentTenant,
                           console: Console) -> dict:
    return provider_key_json(await console.set_provider_key(tenant, provider, body.key))


@router.delete("/provider-keys/{provider}",
               summary="Remove the account's key (the deployment's, if any, is used again)")
async def delete_provider_key(provider: str, tenant: CurrentTenant, console: Console) -> dict:
    return provider_key_json(await console.remove_provider_key(tenant, provider))


def _check_json(check: KeyCheck) -> dict[str, Any]:
    return {"ok": check.ok, "code": check.code, "detail": check.detail}


@router.post("/provider-keys/{provider}/check",
             summary="The provider's cheapest real call with the key in effect (throttled)")
async def check_provider_key(provider: str, tenant: CurrentTenant, console: Console) -> dict:
    return _check_json(await console.check_provider_key(tenant, provider))
