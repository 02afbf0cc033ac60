"""Booth ingest: `POST /u/{slot_token}`, exactly as DSLR Remote Pro sends it.

Multipart `fileToUpload` + text fields (`password`, `time`, `id`, …; unknown ones ignored).
Answers 200 with the processed image bytes, or a short plain-text error the booth can log.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from functions.app import create_function_app
from functions.deps import ClientAddress, ReceivedAt, ServicesDep
from functions.errors import PlainTextErrors
from functions.lambda_entry import make_handler
from shared.domain import JobSource
from shared.errors import InvalidInput, NotFound, StorageUnavailable, UnsupportedMedia

router = APIRouter(tags=["booth"], route_class=PlainTextErrors)

_BOOTH_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["fileToUpload"],
                    "properties": {
                        "fileToUpload": {"type": "string", "format": "binary"},
                        "password": {"type": "string"},
                        "time": {"type": "string"},
                        "id": {"type": "string"},
                        "user_id": {"type": "string"},
                        "name": {"type": "string"},
                        "profile": {"type": "string"},
                        "status": {"type": "string"},
                        "hash": {"type": "string"},
                        "model": {"type": "string"},
                        "version": {"type": "string"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/u/{slot_token}",
    summary="Booth upload (DSLR Remote Pro 'Web based (HTTP POST)' postprocessing)",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "processed photo"},
        401: {"description": "wrong upload password"},
        404: {"description": "unknown upload link"},
        409: {"description": "slot disabled or not configured"},
        413: {"description": "upload too large (bytes or pixels)"},
        415: {"description": "not an image"},
        429: {"description": "too many wrong passwords from this client"},
        502: {"description": "the AI provider failed"},
        504: {"description": "no answer inside the booth window"},
    },
    openapi_extra=_BOOTH_FORM,
)
async def booth_upload(
    slot_token: str,
    request: Request,
    services: ServicesDep,
    client: ClientAddress,
    arrived: ReceivedAt,
) -> Response:
    # Resolve the link before reading the body: an unknown link costs no upload.
    answer_by = arrived + services.settings.answer_budget_seconds
    async with _storage_within(answer_by, "looking up the upload link"):
        slot = await services.repo.slot_by_token(slot_token)
        if slot is None:
            raise NotFound("unknown upload link")
        tenant = await services.repo.get_tenant(slot.tenant)
        if tenant is None:
            raise NotFound("unknown upload link")

    form = await _read_form(request)
    password = form.get("password")
    async with _storage_within(answer_by, "checking the upload password"):
        await services.auth.booth(tenant, password if isinstance(password, str) else "", client)
    upload = form.get("fileToUpload")
    if not isinstance(upload, UploadFile):
        raise InvalidInput("the form has no fileToUpload file", field="fileToUpload")
    data = await upload.read()

    answer = await services.pipeline.process(slot, data, received_at=arrived,
                                             source=JobSource.BOOTH)
    headers = {"X-Boothai-Job": answer.job.job_id}
    if answer.served_original:
        headers["X-Boothai-Original"] = answer.job.reason
    return Response(content=answer.image, media_type=answer.mime, headers=headers)


@asynccontextmanager
async def _storage_within(answer_by: float, what: str):
    """A slow table must not keep the booth past its window: answer 503 in time."""
    try:
        async with asyncio.timeout(max(0.0, answer_by - time.monotonic())):
            yield
    except TimeoutError:
        raise StorageUnavailable(f"storage too slow while {what}") from None


async def _read_form(request: Request):
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise UnsupportedMedia("send the photo as multipart/form-data (field fileToUpload)")
    try:
        # A booth sends one file and about ten fields; anything far beyond is not a booth.
        return await request.form(max_files=4, max_fields=64, max_part_size=64 * 1024)
    except Exception as exc:  # malformed multipart of any kind is the client's problem
        raise InvalidInput(f"malformed multipart body: {exc.__class__.__name__}") from None


app = create_function_app(router)
handler = make_handler(app, "ingest")
