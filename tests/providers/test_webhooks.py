"""The Turbotext webhook route: token check, idempotent publish, harmless duplicates."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from functions.deps import get_webhooks
from functions.webhooks import router
from shared.job_signals import JobSignals
from shared.signed_links import webhook_token
from shared.usecases.webhooks import ProviderWebhooks

RESULT = {"success": True, "error": "", "uploaded_image": "https://t.example/download.php?f=1"}


@pytest.fixture
def signals(tables):
    return JobSignals(tables)


@pytest.fixture
async def client(signer, signals, tables):
    app = FastAPI()
    app.include_router(router)
    app.dependency_overrides[get_webhooks] = lambda: ProviderWebhooks(signer=signer,
                                                                     signals=signals)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
        yield c


async def test_good_token_publishes_the_body(client, signer, signals):
    token = webhook_token(signer, "job1")
    r = await client.post(f"/hooks/turbotext/job1?t={token}", json=RESULT)
    assert r.status_code == 200
    assert await signals.get("job1") == RESULT


@pytest.mark.parametrize("query", ["", "?t=", "?t=forged", "?t=WRONG"])
async def test_bad_or_missing_token_is_403_and_changes_nothing(client, signer, signals, query):
    if query == "?t=WRONG":
        query = "?t=" + webhook_token(signer, "other-job")
    r = await client.post(f"/hooks/turbotext/job2{query}", json=RESULT)
    assert r.status_code == 403
    assert await signals.get("job2") is None


async def test_duplicate_and_late_callbacks_are_200_and_harmless(client, signer, signals):
    token = webhook_token(signer, "job3")
    first = await client.post(f"/hooks/turbotext/job3?t={token}", json=RESULT)
    again = await client.post(f"/hooks/turbotext/job3?t={token}",
                              json={"success": False, "error": "late"})
    assert first.status_code == again.status_code == 200
    assert await signals.get("job3") == RESULT


async def test_non_json_body_is_400(client, signer, signals):
    token = webhook_token(signer, "job4")
    r = await client.post(f"/hooks/turbotext/job4?t={token}", content=b"not json")
    assert r.status_code == 400
    assert await signals.get("job4") is None


async def test_odd_job_id_is_403(client, signer):
    r = await client.post("/hooks/turbotext/" + "a" * 65 + "?t=x", json=RESULT)
    assert r.status_code == 403


async def test_callback_wakes_the_waiting_request(client, signer, signals):
    token = webhook_token(signer, "job5")
    waiter = asyncio.create_task(signals.wait("job5", timeout=5, poll_interval=10))
    await asyncio.sleep(0.05)
    r = await client.post(f"/hooks/turbotext/job5?t={token}", json=RESULT)
    assert r.status_code == 200
    assert await asyncio.wait_for(waiter, 1) == RESULT


def test_lambda_handler_is_exposed():
    from functions import webhooks

    assert webhooks.handler is not None
    assert webhooks.app is not None
