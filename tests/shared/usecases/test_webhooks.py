"""ProviderWebhooks: the token first, then one publish; duplicates change nothing."""

from __future__ import annotations

import json

import pytest

from shared.errors import Forbidden, InvalidInput, PayloadTooLarge
from shared.job_signals import JobSignals
from shared.signed_links import webhook_token


async def test_a_signed_callback_is_published_once(services):
    hooks = services.webhooks
    token = webhook_token(services.signer, "job1")
    assert await hooks.turbotext("job1", token, json.dumps({"success": True}).encode()) is True
    assert await hooks.turbotext("job1", token, b'{"success": false}') is False
    assert await JobSignals(services.tables).get("job1") == {"success": True}


@pytest.mark.parametrize("job_id, token", [("job2", None), ("job2", "forged"), ("a" * 65, "x"),
                                           ("../job", "x")])
async def test_bad_tokens_and_ids_are_forbidden(services, job_id, token):
    with pytest.raises(Forbidden):
        await services.webhooks.turbotext(job_id, token, b"{}")
    assert await JobSignals(services.tables).get("job2") is None


async def test_bodies_must_be_small_json_objects(services):
    token = webhook_token(services.signer, "job3")
    for body in (b"not json", b"[1, 2]"):
        with pytest.raises(InvalidInput):
            await services.webhooks.turbotext("job3", token, body)
    with pytest.raises(PayloadTooLarge):
        await services.webhooks.turbotext("job3", token, b" " * (256 * 1024 + 1))


async def test_the_webhook_use_case_builds_no_store_and_no_gpu(tmp_path):
    """What a webhooks Lambda container builds: its tables and signer, nothing else."""
    from shared.config import Settings
    from shared.services import build_services

    services = build_services(Settings(data_dir=tmp_path / "d", enabled_providers=["local"]))
    await services.webhooks.turbotext("job4", webhook_token(services.signer, "job4"), b"{}")
    built = set(services.__dict__) - {"settings"}
    assert {"store", "gpu", "providers", "pipeline", "auth"}.isdisjoint(built), built
