"""A Local slot's key tolerance over a live server: saved with the slot (0..100, 422 naming
the field beyond), used by the booth, previewed by `POST /api/slots/local/{index}/preview`
without a job; and a photo without a screen reaching the booth as a named failure."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from shared.config import Settings
from shared.services import Services, build_services
from tests.conftest import run
from tests.helpers import photos
from tests.helpers.booth import local_booth

SLOT = "/api/slots/local/1"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", enabled_providers=["local"],
                    key_previews_per_minute=8)


@pytest.fixture
def booth(services: Services, live_server):
    tenant, slot = run(local_booth(services, password="acme-pass"))
    acme = httpx.Client(base_url=live_server.url, auth=("acme", "acme-pass"), timeout=60)
    yield {"url": f"{live_server.url}/u/{slot.upload_token}", "password": tenant.upload_password,
           "services": services, "acme": acme}
    acme.close()


def _save(booth, **fields) -> httpx.Response:
    body = {"type": "background", "enabled": True, **fields}
    return booth["acme"].put(SLOT, json=body)


def _upload(booth, photo: bytes) -> httpx.Response:
    return httpx.post(booth["url"], data=photos.dslr_fields(booth["password"]),
                      files={"fileToUpload": ("IMG_0001.JPG", photo, "image/jpeg")}, timeout=60)


def _preview(booth, photo: bytes, tolerance, mime: str = "image/jpeg") -> httpx.Response:
    return booth["acme"].post(f"{SLOT}/preview", data={"tolerance": str(tolerance)},
                              files={"file": ("sample.jpg", photo, mime)})


def _stored(services: Services) -> list[str]:
    return sorted(key for prefix in ("originals/", "results/", "trash/")
                  for key in services.store.list(prefix))


def test_the_tolerance_is_saved_with_the_slot_and_checked(booth) -> None:
    acme = booth["acme"]
    fresh = acme.get("/api/slots").json()["tabs"][0]["slots"][1]
    assert fresh["key_tolerance"] == 50  # the default: the key as it was before the setting
    saved = _save(booth, key_tolerance=80)
    assert saved.status_code == 200 and saved.json()["key_tolerance"] == 80
    assert acme.get("/api/slots").json()["tabs"][0]["slots"][0]["key_tolerance"] == 80
    for bad in (101, -1, "lots", 50.5):
        refused = _save(booth, key_tolerance=bad)
        assert refused.status_code == 422, bad
        assert refused.json()["field"] == "key_tolerance", refused.json()
    assert acme.get("/api/slots").json()["tabs"][0]["slots"][0]["key_tolerance"] == 80


def test_the_booth_uses_the_slots_tolerance(booth) -> None:
    # A pale blue sky: no screen at the default tolerance, a blue screen at the top of it.
    sky = photos.beach_snapshot()
    refused = _upload(booth, sky)
    assert refused.status_code == 502
    assert "no green or blue screen found in the photo" in refused.text
    assert "local_no_screen" in refused.text
    assert _save(booth, key_tolerance=100).status_code == 200
    keyed = _upload(booth, sky)
    assert keyed.status_code == 200 and keyed.content != sky
    assert "x-boothai-original" not in keyed.headers


def test_no_screen_with_fallback_serves_the_original_with_the_reason(booth) -> None:
    assert _save(booth, fallback_to_original=True).status_code == 200
    photo = photos.plain_photo(800, 533, balloon=True)
    response = _upload(booth, photo)
    assert response.status_code == 200 and response.content == photo
    assert response.headers["x-boothai-original"] == "local_no_screen"


def test_the_preview_is_the_slots_composite_and_creates_no_job(booth) -> None:
    services, acme = booth["services"], booth["acme"]
    stats_before = acme.get("/api/stats").json()
    photo = photos.unevenly_lit_screen(1600, 1067)
    low, high = _preview(booth, photo, 0), _preview(booth, photo, 100)
    for response in (low, high):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/jpeg"
        assert response.headers["cache-control"] == "no-store"
        assert "x-boothai-problem" not in response.headers
        assert photos.decode(response.content).size == (1024, 683)  # cut to the preview's size
    assert float(high.headers["x-boothai-keyed-percent"]) > float(
        low.headers["x-boothai-keyed-percent"]) + 20
    # The slot's own background (the beach's blue sky) shows where the key took the screen.
    blue = [np.count_nonzero(np.asarray(photos.decode(r.content), np.int16)[..., 2] > 120)
            for r in (low, high)]
    assert blue[1] > blue[0] * 1.3, blue

    assert _stored(services) == []  # no original, no result, nothing in trash
    stats_after = acme.get("/api/stats").json()
    assert stats_after["recent_jobs"] == stats_before["recent_jobs"] == []
    assert stats_after["providers"] == stats_before["providers"]


def test_the_preview_says_when_the_booth_would_fail(booth) -> None:
    response = _preview(booth, photos.plain_photo(800, 533), 50)
    assert response.status_code == 200
    assert response.headers["x-boothai-problem"] == "local_no_screen"
    assert float(response.headers["x-boothai-keyed-percent"]) < 1


def test_the_preview_refuses_what_try_it_refuses(booth) -> None:
    not_image = _preview(booth, b"%PDF-1.4 not a photo", 50, mime="application/pdf")
    assert not_image.status_code == 415, not_image.text
    bomb = _preview(booth, photos.pixel_bomb(), 50, mime="image/png")
    assert bomb.status_code == 413, bomb.text
    for bad in (101, -5):
        refused = _preview(booth, photos.green_screen(320, 213), bad)
        assert refused.status_code == 422 and refused.json()["field"] == "key_tolerance"
    assert _preview(booth, photos.green_screen(320, 213), "high").status_code == 422
    missing = booth["acme"].post(f"{SLOT}/preview", files={
        "file": ("a.jpg", photos.green_screen(320, 213), "image/jpeg")})
    assert missing.status_code == 422
    # A camera-sized file is a photo route's upload, not a 1 MB JSON body.
    big = photos.noise_png(900, 900)
    assert len(big) > 2 * 1024 * 1024
    assert _preview(booth, big, 50, mime="image/png").status_code == 200
    assert booth["acme"].post("/api/slots/local/21/preview", data={"tolerance": "50"}, files={
        "file": ("a.jpg", photos.green_screen(320, 213), "image/jpeg")}).status_code == 404


def test_the_preview_needs_the_background(booth) -> None:
    assert booth["acme"].delete(f"{SLOT}/reference").status_code == 200
    refused = _preview(booth, photos.green_screen(320, 213), 50)
    assert refused.status_code == 422 and refused.json()["field"] == "reference"


def test_previews_are_throttled_per_account(booth) -> None:
    photo = photos.green_screen(320, 213)
    if time.time() % 60 > 50:  # the budget is a fixed minute: all ten within one
        time.sleep(61 - time.time() % 60)
    codes = [_preview(booth, photo, 50).status_code for _ in range(9)]
    assert codes == [200] * 8 + [429], codes  # key_previews_per_minute=8 in this module
    refused = _preview(booth, photo, 50)
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
    assert "too many previews" in refused.json()["detail"]


def test_the_preview_route_is_only_the_local_tabs(tmp_path, live_server_factory) -> None:
    services = build_services(Settings(data_dir=tmp_path / "d", enabled_providers=["gemini"],
                                       gemini_api_key="k"))
    run(services.create_tenant("acme", "acme-pass"))
    server = live_server_factory(services)
    with httpx.Client(base_url=server.url, auth=("acme", "acme-pass")) as acme:
        got = acme.post(f"{SLOT}/preview", data={"tolerance": "50"},
                        files={"file": ("a.jpg", photos.green_screen(320, 213), "image/jpeg")})
    assert got.status_code == 404
    run(services.aclose())
