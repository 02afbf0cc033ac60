"""OperatorConsole: tabs and slots with their rules, saving, references, Try it, stats, keys."""

from __future__ import annotations

import pytest

from shared.domain import JobSource, ProcessingType, ProviderName
from shared.errors import InvalidInput, NotFound
from shared.usecases.console import SlotSettings
from tests.helpers import photos
from tests.shared.usecases.conftest import now


@pytest.fixture
async def acme(services):
    tenant, _ = await services.create_tenant("acme", "pw-acme")
    return tenant


async def test_tabs_list_each_slot_with_its_link_and_problem(services, acme):
    tabs = await services.console.tabs("acme", "http://127.0.0.1:8000/")
    assert [t.tab.provider for t in tabs] == [ProviderName.LOCAL, ProviderName.QWEN]
    local = tabs[0]
    assert local.tab.available and len(local.slots) == 20
    first = local.slots[0]
    assert first.upload_url == f"http://127.0.0.1:8000/u/{first.slot.upload_token}"
    assert first.problem is not None and first.problem.code == "no_type"


async def test_upload_links_prefer_the_configured_public_address(tmp_path, gpu):
    from shared.config import Settings
    from shared.services import build_services

    services = build_services(Settings(data_dir=tmp_path / "d", enabled_providers=["local"],
                                       public_base_url="https://booth.example/"), gpu=gpu)
    assert services.console.upload_base("http://127.0.0.1:8000/") == "https://booth.example"


async def test_saving_checks_type_rules_and_fallback(services, acme):
    console = services.console
    with pytest.raises(InvalidInput) as err:
        await console.save_slot("acme", "local", 1, SlotSettings(type=ProcessingType.PROMPT))
    assert err.value.field == "type" and "Local does background" in str(err.value)
    with pytest.raises(InvalidInput) as err:
        await console.save_slot("acme", "local", 1, SlotSettings(
            type=ProcessingType.BACKGROUND, prompt="a beach", enabled=True))
    assert err.value.field == "reference"
    # Qwen draws a background from words: enabled, no picture needed.
    slot = await console.save_slot("acme", "qwen", 1, SlotSettings(
        type=ProcessingType.BACKGROUND, prompt="a beach", enabled=True))
    assert slot.enabled and console.view(slot, "http://x/").problem is None
    with pytest.raises(InvalidInput) as err:
        await console.save_slot("acme", "qwen", 1, SlotSettings(
            type=ProcessingType.BACKGROUND, prompt="a beach", enabled=True,
            fallback_provider=ProviderName.LOCAL))
    assert err.value.field == "fallback_provider"
    with pytest.raises(NotFound):
        await console.save_slot("acme", "gemini", 1, SlotSettings())  # tab not enabled


async def test_references_try_it_and_stats(services, acme):
    console = services.console
    slot = await console.set_reference("acme", "local", 2, photos.background(400, 300))
    assert slot.reference_key == "references/acme/local/02.jpg"
    thumb = await console.reference("acme", "local", 2, thumb=True)
    assert thumb.mime == "image/jpeg"
    await console.save_slot("acme", "local", 2, SlotSettings(type=ProcessingType.BACKGROUND))
    answer = await console.try_slot("acme", "local", 2, photos.green_screen(320, 240),
                                    received_at=now())  # Try it runs a disabled slot
    assert answer.job.source is JobSource.TEST
    await services.drain()
    stats = await console.stats(acme)
    local = next(p for p in stats.providers if p.provider is ProviderName.LOCAL)
    assert local.total.tried == 1 and local.total.done == 0  # Try it is counted apart
    assert stats.recent_jobs[0].job_id == answer.job.job_id
    original = await console.job_image("acme", answer.job.job_id, "original")
    assert original.mime == "image/jpeg"
    with pytest.raises(NotFound):
        await console.job_image("acme", answer.job.job_id, "secrets")
    removed = await console.remove_reference("acme", "local", 2)
    assert removed.reference_key is None
    with pytest.raises(NotFound):
        await console.reference("acme", "local", 2)


async def test_api_keys_and_upload_password(services, acme):
    console = services.console
    record, secret = await console.create_api_key("acme", "ci")
    assert [k.key_id for k in await console.api_keys_of("acme")] == [record.key_id]
    assert await services.auth.api_keys.tenant_for(secret) == "acme"
    await console.revoke_api_key("acme", record.key_id)
    assert await console.api_keys_of("acme") == []
    with pytest.raises(NotFound):
        await console.revoke_api_key("acme", "../x")
    new = await console.rotate_upload_password("acme")
    assert new != acme.upload_password
