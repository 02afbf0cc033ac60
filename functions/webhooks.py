"""Webhook entry point: Turbotext POSTs a finished job's result JSON here.

Turbotext signs nothing, so the URL we gave it carries an unguessable per-job token
(`?t=…`, an HMAC of the job id). Parse → check the token → publish the body through
JobSignals, where the waiting booth request (this process or another) picks it up.
A wrong or missing token gets 403 and changes nothing; duplicates and late callbacks get
200 and change nothing either (the first delivery wins).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from functions.app import create_function_app
from functions.deps import ServicesDep
from functions.lambda_entry import make_handler
from shared.providers.turbotext import verify_webhook_token

log = logging.getLogger("boothai.webhooks")

router = APIRouter(tags=["webhooks"])

_JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_BODY_BYTES = 256 * 1024  # a result is a few hundred bytes of JSON with a link


@router.post("/hooks/turbotext/{job_id}")
async def turbotext_hook(
    job_id: str,
    request: Request,
    services: ServicesDep,
    t: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, bool]:
    if not _JOB_ID_RE.match(job_id) or not verify_webhook_token(services.signer, job_id, t):
        raise HTTPException(status_code=403, detail="forbidden")
    payload = _json_object(await request.body())
    first = await services.job_signals.publish(job_id, payload)
    log.info("turbotext webhook for job %s (%s)", job_id, "first" if first else "duplicate")
    return {"ok": True}


def _json_object(raw: bytes) -> dict:
    if len(raw) > MAX_BODY_BYTES:
        raise HTTPException(status_code=413, detail="body too large")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise HTTPException(status_code=400, detail="body is not JSON") from None
    if not isinstance(payload, dict):
        raise HTTPException(status_code=400, detail="body is not a JSON object")
    return payload


# The Lambda function: this router alone in an app with the shared error handling.
app = create_function_app(router)
handler = make_handler(app, "webhooks")
