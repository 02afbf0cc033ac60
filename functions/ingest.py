"""Booth ingest: `POST /u/{slot_token}`, exactly as DSLR Remote Pro sends it.

Multipart `fileToUpload` + text fields (`password`, `time`, `id`, …; unknown ones ignored).
Answers 200 with the processed image bytes, or a short plain-text error the booth can log.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from functions import share
from functions.app import create_function_app
from functions.booth_form import BoothForm, read_booth_form
from functions.deps import Booth, ClientAddress, ReceivedAt, get_booth, get_services, received_at
from functions.errors import PlainTextErrors, status_for
from functions.lambda_entry import make_handler
from shared.domain import reason_code
from shared.errors import BoothaiError
from shared.usecases.booth import BoothIngest
from shared.usecases.share_pages import SharePages


class BoothErrors(PlainTextErrors):
    """The booth's plain text, and a body refused before it was read (over the size limit)
    traced on the link's slot like every other refusal."""

    async def refused_unread(self, request: Request, exc: BoothaiError) -> None:
        booth = await get_booth(await get_services())
        await booth.refused_unread(request.path_params.get("slot_token", ""), exc,
                                   status=self.status(exc),
                                   received_at=await received_at(request))


router = APIRouter(tags=["booth"], route_class=BoothErrors)

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
    booth: Booth,
    client: ClientAddress,
    arrived: ReceivedAt,
) -> Response:
    # Resolve the link before reading the body: an unknown link costs no upload.
    visit = await booth.open(slot_token, received_at=arrived)
    # From here on the request is the slot's: its trace entry shows how it ended, with the
    # booth's fields as far as they had arrived (shared/booth_trace.py).
    form = BoothForm()
    visit.shot.reads(form.fields)
    try:
        # A client that has used up its password failures is refused before the body, too.
        gate = await booth.admission(visit, client)
        # The password is checked the moment its field has arrived: a wrong one stops the
        # read there (when a booth sends it after the photo, the photo is read first,
        # bounded by the body limit).
        await read_booth_form(request, on_password=gate.check, into=form)
        admitted = await gate.admit(form.fields.get("password", ""))
        # The prompt's fields: the form's text fields and the link's query string (survey
        # answers a booth adds to the link); the password is never one (prompt_fields.py).
        answer = await booth.process(admitted, form.photo, form=form.fields,
                                     query=dict(request.query_params),
                                     request_base=str(request.base_url))
    except BoothaiError as exc:
        visit.shot.ended_by(exc, status=status_for(exc))  # the booth's route moves none
        raise
    except Exception as exc:  # a bug: the booth gets a 500, the operator sees it failed
        visit.shot.ended_by(exc, status=500)
        raise
    headers = {"X-Boothai-Job": answer.job.job_id}
    if answer.served_original:
        # Why the original came back, as a code: a header takes Latin-1 only and no line
        # breaks; the provider's own words are the job's detail, shown to the operator.
        # `late`: the window ran out and the job goes on (shared/late_results.py).
        headers["X-Boothai-Original"] = "late" if answer.late else reason_code(answer.job.reason)
    if answer.share_url:  # the page the answer's QR code opens (public, like the print)
        headers["X-Boothai-Share"] = answer.share_url
    return Response(content=answer.image, media_type=answer.mime, headers=headers)


# The share pages too: on AWS the ingest's Function URL is what a booth's QR code points at
# (the console's URL cannot be known to it: the console's names the ingest's).
app = create_function_app(router, share.router)
handler = make_handler(app, "ingest", serves=(BoothIngest, SharePages))
