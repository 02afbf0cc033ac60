"""Late results on the AWS stack: the ingest function hands a late slot's job to the
finisher queue (SQS on the moto server) and answers the booth at the window's cut; the
finisher function, fed the queue's message as Lambda's event source delivers it, runs the
job to its end after the ingest invocation has returned. Gemini is the fake server (the
real google-genai client), taking as long as each test says."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import threading
import time
from urllib.parse import urlsplit

import boto3
import pytest

from functions import deps
from functions.console import handler as console_handler
from functions.finisher import handler as finisher_handler
from functions.lambda_entry import make_handler
from shared.usecases.booth import BoothIngest
from shared.usecases.share_pages import SharePages
from tests.fakes.gemini_server import Behaviour, FakeGemini
from tests.fakes.server import run_app_in_thread
from tests.helpers import photos
from tests.helpers.qr import decode_qr  # a standard reader (zxing-cpp)
from tests.infra.conftest import LambdaContext, _stamp, booth_event, console_event, load_event

OPERATOR, OPERATOR_PASSWORD = "acme", "correct horse battery"
GEMINI_KEY = "test-gemini-key"


def _ingest():
    from functions import ingest

    return make_handler(ingest.app, "ingest", serves=(BoothIngest, SharePages))


@pytest.fixture
def gemini():
    fake = FakeGemini(GEMINI_KEY)
    base, stop = run_app_in_thread(fake.app)
    fake.base_url = base
    yield fake
    stop()


@pytest.fixture
def queue(aws, monkeypatch):
    """The finisher queue as template.yaml declares it, and the ingest's environment for it."""
    sqs = boto3.client("sqs", endpoint_url=aws.endpoint, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"{aws.prefix}finisher",
                           Attributes={"VisibilityTimeout": "720"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    monkeypatch.setenv("BOOTHAI_FINISHER_QUEUE_URL", url)
    monkeypatch.setenv("BOOTHAI_SQS_ENDPOINT_URL", aws.endpoint)
    return {"sqs": sqs, "url": url, "arn": arn}


@pytest.fixture
def late_slot(aws, queue, gemini, monkeypatch, context):
    """Gemini slot 1 (prompt), late answers with a QR code, share pages on; a 10 s window."""
    monkeypatch.setenv("BOOTHAI_ENABLED_PROVIDERS", "gemini")
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI_KEY)
    monkeypatch.setenv("BOOTHAI_GEMINI_BASE_URL", gemini.base_url)
    monkeypatch.setenv("BOOTHAI_BOOTH_WINDOW_SECONDS", "10")
    monkeypatch.setenv("BOOTHAI_BOOTH_SAFETY_MARGIN_SECONDS", "1")
    from shared.config import Settings
    from shared.services import build_services

    async def create() -> str:
        services = build_services(Settings())
        try:
            created, _ = await services.create_tenant(OPERATOR, OPERATOR_PASSWORD)
            return created.upload_password
        finally:
            await services.aclose()

    password = asyncio.run(create())
    preset = json.dumps({"type": "prompt", "prompt": "a sunny beach", "enabled": True,
                         "share_pages": True, "when_late": "original_qr"}).encode()
    response = console_handler(console_event("PUT", "/api/slots/gemini/1", OPERATOR,
                                             OPERATOR_PASSWORD, body=preset), context)
    assert response["statusCode"] == 200, response["body"]
    token = json.loads(response["body"])["upload_url"].rsplit("/u/", 1)[1]
    deps.install_services(None)  # each function's container builds its own services
    return token, password


def sqs_event(message: dict, arn: str) -> dict:
    """One message as Lambda's SQS event source hands it to the function."""
    return {"Records": [{
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"], "md5OfBody": message["MD5OfBody"],
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000)),
                       "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp":
                       str(int(time.time() * 1000))},
        "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": arn,
        "awsRegion": "us-east-1"}]}


def receive(queue: dict, wait: int = 1) -> list[dict]:
    return queue["sqs"].receive_message(QueueUrl=queue["url"], MaxNumberOfMessages=10,
                                        WaitTimeSeconds=wait).get("Messages", [])


def get_event(path: str) -> dict:
    event = _stamp(copy.deepcopy(load_event("function_url_console_get.json")), path)
    event["headers"].pop("authorization", None)
    return event


def body_of(response: dict) -> bytes:
    body = response["body"]
    return base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()


def test_the_finisher_completes_the_job_after_the_ingest_has_returned(aws, queue, late_slot,
                                                                       gemini, context):
    token, password = late_slot
    gemini.script(Behaviour.slow(15.0))
    guest = photos.green_screen(1800, 1200)
    started = time.monotonic()
    response = _ingest()(booth_event(token, guest, password), context)
    took = time.monotonic() - started

    # 1. In time, the original stamped with the share page's QR code.
    assert response["statusCode"] == 200, response["body"]
    assert took < 10 - 0.5
    headers = response["headers"]
    assert headers["x-boothai-original"] == "late"
    stamped = body_of(response)
    assert stamped != guest
    share = headers["x-boothai-share"]
    assert decode_qr(stamped) == share
    job_id = headers["x-boothai-job"]
    assert aws.tables.get("jobs", OPERATOR, job_id)["status"] == "running"

    # 2. The job waits in the queue; the provider has not been called by the ingest.
    (message,) = receive(queue)
    order = json.loads(message["Body"])
    assert order["job_id"] == job_id and order["tenant"] == OPERATOR
    for secret in (token, password, OPERATOR_PASSWORD, GEMINI_KEY):
        assert secret not in message["Body"]
    assert gemini.requests == []

    # 3. The share page, from the ingest's own origin (where the QR points): still working.
    path = urlsplit(share).path
    page = _ingest()(get_event(path), context)
    assert page["statusCode"] == 200
    assert 'http-equiv="refresh"' in body_of(page).decode()

    # 4. The finisher function, a fresh container, after the ingest invocation returned.
    deps.install_services(None)
    result = finisher_handler(sqs_event(message, queue["arn"]),
                              LambdaContext("boothai-FinisherFunction-XyZ", timeout_s=660))
    assert result == {"batchItemFailures": []}
    job = aws.tables.get("jobs", OPERATOR, job_id)
    assert job["status"] == "done" and job["late"] is True
    assert len(gemini.requests) == 1
    stored = aws.store.get(job["result_key"])
    stats = aws.tables.get("stats", OPERATOR, "total#gemini")
    assert (int(stats["done"]), int(stats["late"])) == (1, 1)

    # 5. The page now shows the AI result with its download.
    deps.install_services(None)
    page = _ingest()(get_event(path), context)
    assert "refresh" not in body_of(page).decode()
    image = _ingest()(get_event(f"{path}/result"), context)
    assert image["statusCode"] == 200 and body_of(image) == stored

    # 6. The queue delivers at least once: the same order again changes nothing.
    deps.install_services(None)
    assert finisher_handler(sqs_event(message, queue["arn"]), context) == {"batchItemFailures": []}
    assert len(gemini.requests) == 1
    assert aws.tables.get("jobs", OPERATOR, job_id)["finished_at"] == job["finished_at"]


def test_a_job_the_finisher_ends_in_time_is_answered_by_the_ingest(aws, queue, late_slot,
                                                                    gemini, context):
    """The usual case: Lambda's event source starts the finisher at once, the provider is
    quick, and the booth waiting in the ingest gets the AI result from the job's row."""
    token, password = late_slot
    gemini.script(Behaviour.slow(0.5))
    from shared.config import Settings
    from shared.late_results import LateOrder
    from shared.services import build_services

    finished = threading.Event()

    def event_source() -> None:  # another container: its own services and event loop
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            messages = receive(queue, wait=1)
            if messages:
                services = build_services(Settings())
                try:
                    asyncio.run(services.late_jobs.run(LateOrder.from_message(messages[0]["Body"])))
                finally:
                    asyncio.run(services.aclose())
                finished.set()
                return

    thread = threading.Thread(target=event_source)
    thread.start()
    response = _ingest()(booth_event(token, photos.green_screen(800, 600), password), context)
    thread.join()
    assert finished.is_set()
    assert response["statusCode"] == 200, response["body"]
    assert "x-boothai-original" not in response["headers"]
    job = aws.tables.get("jobs", OPERATOR, response["headers"]["x-boothai-job"])
    assert job["status"] == "done" and job["late"] is False
    assert body_of(response) == aws.store.get(job["result_key"])


def test_a_message_that_is_not_an_order_is_dropped(aws, queue, context):
    deps.install_services(None)
    message = {"MessageId": "m-1", "ReceiptHandle": "r", "Body": "{\"hello\": 1}",
               "MD5OfBody": "x"}
    assert finisher_handler(sqs_event(message, queue["arn"]), context) == {"batchItemFailures": []}
