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
