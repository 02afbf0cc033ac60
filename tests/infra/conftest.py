"""Fixtures for the Lambda/infra tests: a moto server on loopback speaking real S3,
DynamoDB and Secrets Manager, the environment a deployed function gets from template.yaml,
real Function URL events from tests/events/, and a Lambda context."""

from __future__ import annotations

import base64
import copy
import io
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from functions import deps
from shared import observability
from shared.storage.dynamodb_tables import DynamoDBTables
from shared.storage.s3_store import S3Store

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "tests" / "events"
TEMPLATE = REPO / "template.yaml"
SAM = REPO / ".venv-sam" / "bin" / "sam"
SIGNING_KEY = "test-signing-key-0123456789abcdef"
_counter = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def linters() -> Iterator[dict[str, subprocess.Popen]]:
    """cfn-lint and `sam validate --lint` on template.yaml, started when the session starts
    so they run while the handler tests do (each takes seconds); test_template reads them."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing"}
    commands = {"cfn-lint": [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)]}
    if SAM.exists():
        commands["sam"] = [str(SAM), "validate", "--lint", "--region", "us-east-1",
                           "-t", str(TEMPLATE)]
    processes = {name: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=env, cwd=REPO)
                 for name, cmd in commands.items()}
    yield processes
    for process in processes.values():
        if process.poll() is None:
            process.kill()
        process.communicate()


@dataclass
class AwsStack:
    endpoint: str
    prefix: str
    bucket: str
    tables: DynamoDBTables
    store: S3Store


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsStack]:
    """Fresh tables and bucket per test, and the environment template.yaml gives a function
    (minus the secrets, which arrive as plain variables here)."""
    n = next(_counter)
    prefix, bucket = f"t{n}-boothai-", f"boothai-test-{n}-{uuid.uuid4().hex[:8]}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_endpoint,
        "BOOTHAI_STORAGE": "aws",
        "BOOTHAI_DYNAMODB_ENDPOINT_URL": moto_endpoint,
        "BOOTHAI_S3_ENDPOINT_URL": moto_endpoint,
        "BOOTHAI_S3_BUCKET": bucket,
        "BOOTHAI_TABLE_PREFIX": prefix,
        "BOOTHAI_SIGNING_KEY": SIGNING_KEY,
        "BOOTHAI_BOOTH_WINDOW_SECONDS": "50",
        "BOOTHAI_ENABLED_PROVIDERS": "local",
        "BOOTHAI_GPU_BACKEND": "off",
        "BOOTHAI_SECRET_IDS": "",
        "POWERTOOLS_SERVICE_NAME": "boothai",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "boothai",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("BOOTHAI_PUBLIC_BASE_URL", "BOOTHAI_UPLOAD_BASE_URL", "GEMINI_API_KEY",
                "TURBOTEXT_API_KEY", "BOOTHAI_DATA_DIR"):
        monkeypatch.delenv(key, raising=False)
    tables = DynamoDBTables(prefix=prefix, endpoint_url=moto_endpoint)
    tables.create_tables()
    store = S3Store(bucket=bucket, endpoint_url=moto_endpoint)
    store.create_bucket()
    deps.install_services(None)
    yield AwsStack(moto_endpoint, prefix, bucket, tables, store)
    deps.install_services(None)
    observability.use_plain_logging()


class LambdaContext:
    """The attributes of the Python runtime's context object that Powertools reads."""

    def __init__(self, function_name: str = "boothai-IngestFunction-AbC123",
                 timeout_s: float = 60.0) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1769
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/11/21/[$LATEST]0123456789abcdef"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def lambda_output(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Everything a function writes to its log stream in this test: Powertools JSON log
    lines and EMF metric blobs. Returns a callable giving the text so far."""
    handler = observability.use_powertools().registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield lambda: buffer.getvalue() + capsys.readouterr().out
    handler.setStream(previous)


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def _stamp(event: dict[str, Any], path: str, query: str = "") -> dict[str, Any]:
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["rawQueryString"] = query
    event["requestContext"]["timeEpoch"] = int(time.time() * 1000)
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    return event


def booth_event(token: str, photo: bytes, password: str, *, ip: str = "203.0.113.7",
                filename: str = "IMG_0003.JPG") -> dict[str, Any]:
    """DSLR Remote Pro's multipart POST as a Function URL delivers it (base64 body)."""
    event = _stamp(copy.deepcopy(load_event("function_url_booth_upload.json")), f"/u/{token}")
    boundary = event["headers"]["content-type"].split("boundary=")[1]
    fields = {"time": "1758217512", "user_id": "Acer", "id": "CY04N068111304S2L_00000001.",
              "hash": "7b6c683e1d3fd29c8701791c54e3c12a236f5a5b", "name": "DESKTOP-K968T3F",
              "model": "Windows", "version": "3.30.2", "password": password}
    body = b""
    for key, value in fields.items():
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n"
                 f"{value}\r\n").encode()
    body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"fileToUpload\"; "
             f"filename=\"{filename}\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    body += photo + f"\r\n--{boundary}--\r\n".encode()
    event["headers"]["content-length"] = str(len(body))
    event["body"] = base64.b64encode(body).decode()
    event["requestContext"]["http"]["sourceIp"] = ip
    event["headers"]["x-forwarded-for"] = ip
    return event


def console_event(method: str, path: str, user: str, password: str, *,
                  body: bytes | None = None, content_type: str | None = None) -> dict[str, Any]:
    event = _stamp(copy.deepcopy(load_event("function_url_console_get.json")), path)
    event["requestContext"]["http"]["method"] = method
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    event["headers"]["authorization"] = f"Basic {credentials}"
    if body is not None:
        event["body"] = base64.b64encode(body).decode()
        event["isBase64Encoded"] = True
        event["headers"]["content-type"] = content_type or "application/json"
        event["headers"]["content-length"] = str(len(body))
    return event


def webhook_event(job_id: str, token: str, payload: dict[str, Any]) -> dict[str, Any]:
    event = _stamp(copy.deepcopy(load_event("function_url_turbotext_webhook.json")),
                   f"/hooks/turbotext/{job_id}", f"t={token}")
    event["queryStringParameters"] = {"t": token}
    event["body"] = json.dumps(payload)
    return event


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def green_screen_photo(size: tuple[int, int] = (480, 640)) -> bytes:
    """A 'guest' (a grey block) in front of a chroma-green screen."""
    img = Image.new("RGB", size, (20, 200, 40))
    w, h = size
    img.paste((150, 120, 110), (w // 3, h // 4, 2 * w // 3, h))
    return jpeg(img)


def background_image(size: tuple[int, int] = (640, 480)) -> bytes:
    return jpeg(Image.new("RGB", size, (200, 40, 60)))
