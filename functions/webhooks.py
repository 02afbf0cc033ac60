"""Webhook entry point: Turbotext POSTs a finished job's result JSON here.

Parse → `ProviderWebhooks.turbotext` (token check, publish) → `{"ok": true}`. A wrong or
missing token gets 403 before the body is read and changes nothing; duplicates and late
callbacks get 200 and change nothing either.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from functions.app import create_function_app
from functions.deps import Webhooks
from functions.errors import WebhookErrors
from functions.lambda_entry import make_handler
from shared.usecases.webhooks import MAX_BODY_BYTES, ProviderWebhooks

router = APIRouter(tags=["webhooks"], route_class=WebhookErrors)


@router.post("/hooks/turbotext/{job_id}")
async def turbotext_hook(
    job_id: str,
    request: Request,
    webhooks: Webhooks,
    t: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, bool]:
    webhooks.check_token(job_id, t)
    body = bytearray()
    async for chunk in request.stream():  # bounded: one byte past the limit says "too large"
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            break
    await webhooks.turbotext(job_id, t, bytes(body))
    return {"ok": True}


app = create_function_app(router)
handler = make_handler(app, "webhooks", serves=(ProviderWebhooks,))
