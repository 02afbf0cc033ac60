"""Every handler invoked in-process with real Function URL events against moto-backed AWS
storage: the booth upload end to end, the operator console, and the webhook reaching a
waiting booth request through DynamoDB alone."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import uuid

import pytest
from PIL import Image

from functions import deps
from functions.console import handler as console_handler
from functions.lambda_entry import make_handler
from shared.usecases.booth import BoothIngest
from shared.usecases.webhooks import ProviderWebhooks
from tests.infra.conftest import (
    background_image,
    booth_event,
    console_event,
    green_screen_photo,
    webhook_event,
)

OPERATOR, OPERATOR_PASSWORD = "acme", "correct horse battery"


def _ingest():
    from functions import ingest

    return make_handler(ingest.app, "ingest", serves=(BoothIngest,))


def _multipart(field: str, filename: str, data: bytes, mime: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: {mime}\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _json(response: dict) -> dict:
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body)
    return json.loads(body)


@pytest.fixture
def tenant(aws) -> str:
    """An operator account created through the core (as `boothai tenant add` does against
    the deployed tables); returns its booth upload password."""
    from shared.config import Settings
    from shared.services import build_services

    async def create() -> str:
        services = build_services(Settings())
        try:
            created, _ = await services.create_tenant(OPERATOR, OPERATOR_PASSWORD)
            return created.upload_password
        finally:
            await services.aclose()

    return asyncio.run(create())


@pytest.fixture
def local_slot(tenant, context) -> tuple[str, str]:
    """Slot 1 of the local tab configured through the console handler (Basic Auth):
    reference upload, then the preset. Returns (slot token, upload password)."""
    body, ctype = _multipart("file", "beach.jpg", background_image(), "image/jpeg")
    response = console_handler(console_event("PUT", "/api/slots/local/1/reference", OPERATOR,
                                             OPERATOR_PASSWORD, body=body, content_type=ctype),
                               context)
    assert response["statusCode"] == 200, response["body"]
    preset = json.dumps({"type": "background", "enabled": True}).encode()
    response = console_handler(console_event("PUT", "/api/slots/local/1", OPERATOR,
                                             OPERATOR_PASSWORD, body=preset), context)
    assert response["statusCode"] == 200, response["body"]
    upload_url = _json(response)["upload_url"]
    return upload_url.rsplit("/u/", 1)[1], tenant


def test_booth_upload_returns_the_processed_jpeg(aws, local_slot, context, lambda_output):
    token, upload_password = local_slot
    lambda_output()  # forget the set-up's output
    deps.install_services(None)  # the ingest container builds its own services
    response = _ingest()(booth_event(token, green_screen_photo(), upload_password), context)

    assert response["statusCode"] == 200, response["body"]
    assert response["isBase64Encoded"] is True
    assert response["headers"]["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(base64.b64decode(response["body"])))
    assert image.format == "JPEG"
    # The green screen is gone: the corner now shows the (red) background.
    r, g, b = image.convert("RGB").getpixel((2, 2))
    assert r > 150 and g < 100

    job_id = response["headers"]["x-boothai-job"]
    job = aws.tables.get("jobs", OPERATOR, job_id)
    assert job["status"] == "done"
    assert aws.store.head(job["original_key"]) is not None
    assert aws.store.head(job["result_key"]) is not None
    stats = aws.tables.get("stats", OPERATOR, "total#local")
    assert stats["done"] == 1  # bookkeeping drained before the handler returned

    # One JSON log line per request with the job id, and nothing secret in any output.
    out = lambda_output()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    request = [line for line in lines if line.get("message") == "request"]
    assert request and request[-1]["job_id"] == job_id and request[-1]["status"] == 200
    assert request[-1]["path"] == "/u/***" and request[-1]["function"] == "ingest"
    metrics = {m["Name"]: line for line in lines if "_aws" in line
               for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert metrics["PhotosProcessed"]["provider"] == "local"
    assert metrics["PhotosProcessed"]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "boothai"
    assert metrics["ProviderLatency"]["provider"] == "local"
    assert metrics["Requests"]["function"] == "ingest"
    for secret in (token, upload_password, OPERATOR_PASSWORD):
        assert secret not in out


def test_booth_upload_errors_are_short_plain_text(aws, local_slot, context):
    token, _ = local_slot
    handler = _ingest()
    wrong = handler(booth_event(token, green_screen_photo(), "not-the-password"), context)
    assert wrong["statusCode"] == 401
    assert wrong["headers"]["content-type"].startswith("text/plain")
    unknown = handler(booth_event("no-such-token", green_screen_photo(), "x"), context)
    assert unknown["statusCode"] == 404
    not_image = handler(booth_event(token, b"GIF89a not really", local_slot[1]), context)
    assert not_image["statusCode"] == 415


def test_console_serves_admin_api_and_health(aws, tenant, context):
    response = console_handler(console_event("GET", "/api/slots", OPERATOR, OPERATOR_PASSWORD),
                               context)
    assert response["statusCode"] == 200
    tabs = _json(response)["tabs"]
    assert [t["provider"] for t in tabs] == ["local"] and len(tabs[0]["slots"]) == 20

    denied = console_handler(console_event("GET", "/api/slots", OPERATOR, "wrong"), context)
    assert denied["statusCode"] == 401

    health = console_event("GET", "/health", OPERATOR, OPERATOR_PASSWORD)
    del health["headers"]["authorization"]
    response = console_handler(health, context)
    assert response["statusCode"] == 200, response["body"]
    assert _json(response)["checks"] == {"tables": "ok", "objects": "ok"}


def test_webhook_reaches_the_waiting_request_through_dynamodb(aws, context):
    """Two invocations that share nothing but the tables: a booth request waiting on its
    own thread and loop with its own services, and the webhooks handler."""
    from functions import webhooks
    from shared import job_signals
    from shared.config import Settings
    from shared.job_signals import JobSignals
    from shared.services import build_services
    from shared.signed_links import LinkSigner, webhook_token
    from tests.infra.conftest import SIGNING_KEY

    deps.install_services(None)
    webhook_handler = make_handler(webhooks.app, "webhooks", serves=(ProviderWebhooks,))
    job_id = f"job{uuid.uuid4().hex[:12]}"
    received: dict = {}
    waiting = threading.Event()

    def booth_container() -> None:
        async def wait() -> None:
            services = build_services(Settings())
            waiting.set()
            received["payload"] = await JobSignals(services.tables).wait(
                job_id, timeout=10, poll_interval=0.1)
        asyncio.run(wait())

    waiter = threading.Thread(target=booth_container)
    waiter.start()
    assert waiting.wait(5)
    # No shared memory: the in-process wake-up registry cannot carry the signal.
    with job_signals._waiters_lock:
        saved = dict(job_signals._waiters)
        job_signals._waiters.clear()
    try:
        token = webhook_token(LinkSigner(SIGNING_KEY.encode()), job_id)
        payload = {"success": True, "data": {"uploaded_image": "https://example.test/r.png"}}
        response = webhook_handler(webhook_event(job_id, token, payload), context)
        assert response["statusCode"] == 200, response["body"]
        waiter.join(10)
    finally:
        with job_signals._waiters_lock:
            job_signals._waiters.update(saved)
    assert received["payload"] == payload

    forged = webhook_handler(webhook_event(job_id, "forged", {}), context)
    assert forged["statusCode"] == 403


def test_a_photo_too_large_for_lambda_gets_the_booth_setting_to_change(aws, local_slot, context,
                                                                       monkeypatch):
    """What the Function URL still delivers (under 6 MB of invocation, base64 body inside)
    but the function refuses: a clear 413 naming DSLR Remote Pro's setting, nothing stored."""
    import os

    from functions import ingest
    from functions.app import create_function_app
    from shared.platform_limits import LAMBDA_BODY_BYTES

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "boothai-IngestFunction")  # as Lambda sets it
    handler = make_handler(create_function_app(ingest.router), "ingest", serves=(BoothIngest,))
    token, upload_password = local_slot
    photo = b"\xff\xd8\xff\xe0" + os.urandom(LAMBDA_BODY_BYTES)
    event = booth_event(token, photo, upload_password)
    assert len(json.dumps(event)) < 6 * 1024 * 1024  # AWS would hand this one to the function
    response = handler(event, context)
    assert response["statusCode"] == 413
    assert response["headers"]["content-type"].startswith("text/plain")
    assert "Max image size" in response["body"] and "2400 pixels" in response["body"]
    assert aws.store.list("originals/") == []


def test_image_edits_too_large_for_a_lambda_answer_come_as_presigned_links(aws, tenant, context,
                                                                          monkeypatch):
    """Three 1024² PNGs are ~9 MB: as base64 JSON they would break Lambda's 6 MB answer. On
    Lambda they come as presigned S3 links under edits/ instead, which download the images
    from S3 (moto); a small answer stays base64."""
    import os

    import httpx

    from functions import images
    from shared.config import Settings
    from shared.services import build_services
    from shared.usecases.image_edits import ImageEdits
    from tests.conftest import run
    from tests.fakes.gpu_backend import RecordingGpu

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "boothai-ImagesFunction")  # as Lambda sets it
    noise = io.BytesIO()
    Image.frombytes("RGB", (1024, 1024), os.urandom(1024 * 1024 * 3)).save(noise, format="PNG")
    big = noise.getvalue()
    gpu = RecordingGpu(edit_image=big)
    services = build_services(Settings(), gpu=gpu)
    deps.install_services(services)
    _, key = run(services.console.create_api_key(OPERATOR, "ci"))
    handler = make_handler(images.app, "images", serves=(ImageEdits,))

    def edit(n: int) -> dict:
        boundary = uuid.uuid4().hex
        body = b""
        for name, value in (("prompt", "make the sky blue"), ("n", str(n))):
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                     f"{value}\r\n").encode()
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
                 f"filename=\"in.png\"\r\nContent-Type: image/png\r\n\r\n").encode()
        body += background_image() + f"\r\n--{boundary}--\r\n".encode()
        event = console_event("POST", "/v1/images/edits", "user", key, body=body,
                              content_type=f"multipart/form-data; boundary={boundary}")
        response = handler(event, context)
        assert response["statusCode"] == 200, response["body"][:500]
        assert len(json.dumps(response)) < 6 * 1024 * 1024  # what Lambda can hand back
        return _json(response)

    answer = edit(3)
    assert 3 * len(big) * 4 / 3 > 6 * 1024 * 1024  # as b64_json it could not have been sent
    urls = [item["url"] for item in answer["data"]]
    assert len(urls) == 3 and all("b64_json" not in item for item in answer["data"])
    keys = aws.store.list("edits/")
    assert len(keys) == 3 and all(k.startswith(f"edits/{OPERATOR}/") for k in keys)
    for url in urls:
        got = httpx.get(url, timeout=30)
        assert got.status_code == 200 and got.content == big

    gpu.edit_image = None  # 16x16: fits
    small = edit(1)
    assert list(small["data"][0]) == ["b64_json"]
    run(services.aclose())
