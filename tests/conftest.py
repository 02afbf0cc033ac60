"""Fixtures shared by the whole suite: settings on temp dirs, a moto server for the AWS
adapters, services, and a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from functions.app import create_app
from functions.deps import install_services
from shared.config import Settings
from shared.services import Services, build_services

TEST_ADMIN_PASSWORD = "operator-pass-1"
LOG_FILE = Path(__file__).resolve().parents[1] / "test-output" / "pytest-log.txt"


def pytest_configure(config) -> None:
    """Tee every log record of the session to test-output/pytest-log.txt: something to read
    after a failure, and what tests/security/test_no_secrets_in_logs.py scans for secrets."""
    LOG_FILE.parent.mkdir(exist_ok=True)
    handler = logging.FileHandler(LOG_FILE, mode="w", encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- AWS: a real moto server over HTTP ----------------------------------------------------------
@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials so boto3 signs requests to moto (and never finds real ones)."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)


_counter = iter(range(1_000_000))


@pytest.fixture
def aws_settings(tmp_path: Path, moto_endpoint: str, aws_env) -> Settings:
    """Settings for AWS storage on moto, with fresh tables and bucket for this test."""
    from shared.storage.dynamodb_tables import DynamoDBTables
    from shared.storage.s3_store import S3Store

    n = next(_counter)
    settings = Settings(storage="aws", s3_bucket=f"boothai-test-{n}",
                        s3_endpoint_url=moto_endpoint, dynamodb_endpoint_url=moto_endpoint,
                        table_prefix=f"t{n}-", signing_key="k" * 32, data_dir=tmp_path,
                        enabled_providers=["local"])
    DynamoDBTables(prefix=settings.table_prefix, endpoint_url=moto_endpoint).create_tables()
    S3Store(bucket=settings.s3_bucket, endpoint_url=moto_endpoint).create_bucket()
    return settings


# -- embedded ------------------------------------------------------------------------------------
@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", enabled_providers=["local"])


def make_services(settings: Settings) -> Services:
    return build_services(settings)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = build_services(settings)
    yield svc
    asyncio.run(svc.aclose())
    install_services(None)


# -- a real server -------------------------------------------------------------------------------
class LiveServer:
    def __init__(self, services: Services, port: int | None = None) -> None:
        self.services = services
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(services=services)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_keep_alive=75)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/health", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server_factory() -> Iterator[Callable[[Services], LiveServer]]:
    started: list[LiveServer] = []

    def start(services: Services, port: int | None = None) -> LiveServer:
        server = LiveServer(services, port).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    install_services(None)


@pytest.fixture
def live_server(services: Services, live_server_factory) -> LiveServer:
    return live_server_factory(services)


def run(coro):
    """Run a coroutine from a sync test (the services' ports are thread-safe)."""
    return asyncio.run(coro)
