"""Named slots and where upload links point (issue 14): a slot's name is saved, shown in the
slot list, carried by its jobs, and named in the booth's refusal; links come from the
configured address, and the API says when a booth PC could not reach them."""

from __future__ import annotations

import httpx
import pytest

from shared.config import Settings
from shared.services import Services, build_services
from shared.usecases.console import LinkBase
from tests.conftest import run
from tests.functions.test_admin_api import configure_local_slot
from tests.helpers import photos


@pytest.fixture
def acme(services: Services, live_server):
    tenant, _ = run(services.create_tenant("acme", "acme-pass"))
    client = httpx.Client(base_url=live_server.url, auth=("acme", "acme-pass"), timeout=60)
    yield client, tenant.upload_password
    client.close()


def _booth(url: str, password: str) -> httpx.Response:
    return httpx.post(url, data=photos.dslr_fields(password), timeout=60,
                      files={"fileToUpload": ("IMG_1.JPG", photos.green_screen(480, 320),
                                              "image/jpeg")})


def test_a_named_slot_is_named_in_the_list_its_jobs_and_the_booths_refusal(acme) -> None:
    client, password = acme
    configure_local_slot(client, 2)
    saved = client.put("/api/slots/local/2", json={
        "name": "  Wedding\n— entrance  ", "type": "background", "enabled": True}).json()
    assert saved["name"] == "Wedding — entrance"  # one line, trimmed
    listed = client.get("/api/slots").json()["tabs"][0]["slots"][1]
    assert listed["name"] == "Wedding — entrance"

    assert _booth(saved["upload_url"], password).status_code == 200
    job = client.get("/api/stats").json()["recent_jobs"][0]
    assert job["slot_index"] == 2 and job["slot_name"] == "Wedding — entrance"

    client.put("/api/slots/local/2", json={"name": "Wedding — entrance", "type": "background",
                                            "enabled": False})
    refused = _booth(saved["upload_url"], password)
    assert refused.status_code == 409
    assert "slot 2 “Wedding — entrance” on the local tab is disabled" in refused.text


def test_a_slot_name_has_a_length_limit(acme) -> None:
    client, _ = acme
    r = client.put("/api/slots/local/3", json={"name": "x" * 61})
    assert r.status_code == 422 and r.json()["field"] == "name"


def test_refusals_carry_a_code_the_ui_can_word(acme) -> None:
    client, _ = acme
    r = client.put("/api/slots/local/3", json={"type": "background", "enabled": True})
    assert r.status_code == 422
    assert r.json()["code"] == "missing_reference" and r.json()["field"] == "reference"
    r = client.put("/api/slots/local/3", json={"type": "face_swap"})
    assert r.json()["code"] == "unsupported_type"
    assert client.get("/api/jobs/0123/original").json()["code"] == "not_found"
    slot = client.put("/api/slots/local/3", json={"type": "background"}).json()
    assert slot["problem_code"] == "missing_reference"


@pytest.mark.parametrize(("configured", "browser", "expected"), [
    ({}, "http://127.0.0.1:8000/", LinkBase("http://127.0.0.1:8000", "browser", "loopback")),
    ({}, "http://localhost:8000/", LinkBase("http://localhost:8000", "browser", "loopback")),
    ({}, "http://[::1]:8000/", LinkBase("http://[::1]:8000", "browser", "loopback")),
    ({}, "http://192.168.1.20:8000/", LinkBase("http://192.168.1.20:8000", "browser", "private")),
    ({}, "http://boothai.example.com/", LinkBase("http://boothai.example.com", "browser", None)),
    ({"public_base_url": "http://192.168.1.20:8000"}, "http://127.0.0.1:8000/",
     LinkBase("http://192.168.1.20:8000", "public_base_url", None)),
    ({"public_base_url": "http://127.0.0.1:8000/"}, "http://127.0.0.1:8000/",
     LinkBase("http://127.0.0.1:8000", "public_base_url", "loopback")),
    ({"public_base_url": "https://booth.example.com", "upload_base_url": "https://u.example.com"},
     "http://127.0.0.1/", LinkBase("https://u.example.com", "upload_base_url", None)),
])
def test_links_come_from_the_configured_address_and_say_when_booths_cannot_reach_it(
        tmp_path, configured, browser, expected) -> None:
    services = build_services(Settings(data_dir=tmp_path / "d", enabled_providers=["local"],
                                       **configured))
    try:
        assert services.console.link_base(browser) == expected
    finally:
        run(services.aclose())


def test_the_slot_list_reports_the_link_base(acme) -> None:
    client, _ = acme
    links = client.get("/api/slots").json()["links"]
    assert links["source"] == "browser" and links["warning"] == "loopback"
    assert links["base"].startswith("http://127.0.0.1:")
