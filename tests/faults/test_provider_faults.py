"""The AI provider misbehaves on the wire: hangs, 500s, garbage bytes, a truncated image, an
answer that trickles in byte by byte. The real google-genai client talks to a Gemini fake;
the booth must get its answer inside the window, the job must close, the server must stay
healthy and serve the next guest."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import StreamingResponse

from shared.config import Settings
from shared.domain import JobStatus, ProcessingType, ProviderName
from shared.services import build_services
from tests.conftest import run
from tests.fakes import gemini_server as g
from tests.fakes.server import run_app_in_thread
from tests.faults.conftest import WINDOW, closed, post_photo, wait_for_job
from tests.helpers import photos

GEMINI_KEY = "faults-gemini-key"


class HostileGemini(g.FakeGemini):
    """The Gemini fake plus answers no well-behaved server sends."""

    def __init__(self, api_key: str) -> None:
        super().__init__(api_key)
        self.hostile: list[str] = []

    async def _handle(self, request: Request):
        if not self.hostile:
            return await super()._handle(request)
        kind = self.hostile.pop(0)
        await request.body()
        if kind == "garbage":
            return _inline(b"\x00garbage, not an image\xff" * 100, "image/png")
        if kind == "truncated_png":
            return _inline(g.solid((400, 300), (10, 200, 30))[:-300], "image/png")
        if kind == "truncated_jpeg":
            return _inline(photos.green_screen(400, 300)[:4000], "image/jpeg")
        if kind == "not_json":
            return StreamingResponse(iter([b"<html>502 Bad Gateway</html>"]), status_code=200,
                                     media_type="application/json")
        if kind == "trickle":
            return StreamingResponse(_trickle(request), media_type="application/json")
        raise AssertionError(kind)


def _inline(data: bytes, mime: str):
    parts = [{"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}}]
    return g._candidate(parts, "gemini-test")


async def _trickle(request: Request):
    body = json.dumps({"candidates": [{"content": {"parts": [{"text": "x" * 10_000}]}}]}).encode()
    for i in range(len(body)):  # one byte every 100 ms: never done inside a window
        if await request.is_disconnected():
            return
        yield body[i:i + 1]
        await asyncio.sleep(0.1)


@pytest.fixture
def gemini_booth(tmp_path, live_server_factory):
    fake = HostileGemini(GEMINI_KEY)
    base, stop = run_app_in_thread(fake.app)
    settings = Settings(data_dir=tmp_path / "data", enabled_providers=["gemini"],
                        gemini_api_key=GEMINI_KEY, gemini_base_url=base,
                        booth_window_seconds=WINDOW, booth_safety_margin_seconds=1.0)
    services = build_services(settings)
    tenant, slot = run(_setup(services))
    server = live_server_factory(services)
    yield {"fake": fake, "services": services, "base": server.url,
           "url": f"{server.url}/u/{slot.upload_token}", "password": tenant.upload_password}
    stop()


async def _setup(services):
    tenant, _ = await services.create_tenant("acme", "pw-acme")
    slot = await services.repo.get_slot("acme", ProviderName.GEMINI, 1)
    slot.type, slot.prompt, slot.enabled = ProcessingType.PROMPT, "a postcard", True
    await services.repo.save_slot(slot)
    return tenant, slot


def _assert_failed_cleanly(b: dict, response: httpx.Response, elapsed: float, status: int,
                           reason_part: str) -> None:
    assert response.status_code == status, response.text
    assert elapsed < WINDOW
    assert response.headers["content-type"].startswith("text/plain")
    job = wait_for_job(b["services"], closed)
    assert job.status is JobStatus.FAILED and reason_part in job.reason
    # Nothing is lost: the guest's photo is kept in trash/ for the operator.
    assert b["services"].store.get(job.original_key)[:3] == b"\xff\xd8\xff"
    assert httpx.get(b["base"] + "/health", timeout=5).status_code == 200
    ok, _ = post_photo(b["url"], b["password"])  # the next guest is served
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"


def test_provider_hangs(gemini_booth) -> None:
    gemini_booth["fake"].script(g.Behaviour.hang())
    response, elapsed = post_photo(gemini_booth["url"], gemini_booth["password"])
    _assert_failed_cleanly(gemini_booth, response, elapsed, 504, "deadline")


def test_provider_500s(gemini_booth) -> None:
    gemini_booth["fake"].script(*[g.Behaviour.error(500)] * 3)
    response, elapsed = post_photo(gemini_booth["url"], gemini_booth["password"])
    gemini_booth["fake"]._script.clear()  # one or two attempts, as the window allowed
    _assert_failed_cleanly(gemini_booth, response, elapsed, 502, "gemini_http_500")


@pytest.mark.parametrize("kind", ["garbage", "truncated_png", "truncated_jpeg", "not_json"])
def test_provider_answers_a_broken_image(gemini_booth, kind) -> None:
    """Bytes that are not a whole image must never reach the booth as a 200."""
    gemini_booth["fake"].hostile.append(kind)
    response, elapsed = post_photo(gemini_booth["url"], gemini_booth["password"])
    assert response.status_code == 502, (kind, response.status_code, response.content[:80])
    _assert_failed_cleanly(gemini_booth, response, elapsed, 502, "")


def test_provider_trickles(gemini_booth) -> None:
    gemini_booth["fake"].hostile.append("trickle")
    response, elapsed = post_photo(gemini_booth["url"], gemini_booth["password"])
    _assert_failed_cleanly(gemini_booth, response, elapsed, 504, "deadline")
