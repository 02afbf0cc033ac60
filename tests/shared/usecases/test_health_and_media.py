"""ServiceHealth reports without raising; SignedMedia serves signed links to inputs/ and
references/ only."""

from __future__ import annotations

import pytest

from shared.errors import NotFound, Unauthorized


async def test_health_reports_storage_providers_and_gpu(services):
    report = await services.health.check()
    assert report.healthy and report.checks == {"tables": "ok", "objects": "ok"}
    assert report.providers == {"local": "ok", "qwen": "ok"}
    assert report.gpu_ready is True and report.loaded_models == []


async def test_health_says_degraded_when_a_store_is_down(services, tmp_path):
    import shutil

    assert services.store.ping() is None  # built, folder made
    shutil.rmtree(tmp_path / "data" / "objects")
    report = await services.health.check()
    assert not report.healthy and report.checks["objects"].startswith("unavailable")


async def test_signed_media_serves_what_a_provider_was_handed(services):
    key = "inputs/acme/job1.jpg"
    services.store.put(key, b"\xff\xd8\xff photo", "image/jpeg")
    exp, sig = (part.split("=", 1)[1] for part in services.signer.media_query(key, 60).split("&"))
    image = await services.signed_media.read(key, exp=exp, sig=sig)
    assert image.data == b"\xff\xd8\xff photo"
    with pytest.raises(Unauthorized):
        await services.signed_media.read(key, exp=exp, sig="forged")
    with pytest.raises(NotFound):
        await services.signed_media.read("../etc/passwd", exp=exp, sig=sig)


async def test_a_valid_signature_never_opens_originals(services):
    key = "originals/acme/2026-12-02/job1.jpg"
    services.store.put(key, b"\xff\xd8\xff guest", "image/jpeg")
    exp, sig = (part.split("=", 1)[1] for part in services.signer.media_query(key, 60).split("&"))
    with pytest.raises(NotFound):
        await services.signed_media.read(key, exp=exp, sig=sig)


async def test_every_report_of_a_provider_agrees_when_the_gpu_is_off(tmp_path):
    """Health, the operator's tabs and slot cards read one state: with the GPU backend off,
    the GPU providers are unavailable everywhere, with the same reason. Since issue 14 their
    slots still save (prepared ahead), and the card says what stops them. Gemini without a
    deployment key runs for accounts that add their own: health says so, and an account
    without one is told to add it."""
    from shared.config import Settings
    from shared.domain import ProviderName
    from shared.services import build_services
    from shared.usecases.console import SlotSettings

    services = build_services(Settings(data_dir=tmp_path / "data", gpu_backend="off",
                                       enabled_providers=["local", "qwen", "deepseek", "gemini"]))
    try:
        report = await services.health.check()
        await services.create_tenant("acme", "operator-pass-1")
        for name in (ProviderName.QWEN, ProviderName.DEEPSEEK):
            tab = services.console.tab(name)
            assert not tab.available and not tab.editable and tab.unavailable_code == "setup"
            assert report.providers[str(name)] == f"unavailable: {tab.unavailable_reason}"
            slot = await services.console.save_slot("acme", str(name), 1,
                                                    SlotSettings(type="prompt", prompt="a hat"))
            assert services.console.view(slot, "http://x/").problem.message == tab.unavailable_reason
        assert report.providers["gemini"] == "ok (no deployment key: accounts use their own)"
        assert services.console.tab(ProviderName.GEMINI).available  # the deployment's view
        mine = services.console.tab(ProviderName.GEMINI, own_keys={})
        assert not mine.available and mine.unavailable_code == "no_key" and mine.editable
        assert "add your Gemini key" in mine.unavailable_reason
        slot = await services.console.save_slot("acme", "gemini", 1,
                                                SlotSettings(type="prompt", prompt="a hat",
                                                             enabled=True))
        problem = services.console.view(slot, "http://x/", {}).problem
        assert slot.enabled and problem.code == "no_key" and problem.message == mine.unavailable_reason
        assert report.providers["local"] == "ok" and services.console.tab(ProviderName.LOCAL).available
    finally:
        await services.aclose()
