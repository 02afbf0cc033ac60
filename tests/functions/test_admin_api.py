"""Admin JSON API over a live server: slots, references, Try it, stats, password rotation,
and tenant isolation across every endpoint."""

from __future__ import annotations

import httpx
import pytest

from shared.domain import SLOTS_PER_PROVIDER
from shared.services import Services
from tests.conftest import run
from tests.helpers import photos


@pytest.fixture
def api(services: Services, live_server):
    run(services.create_tenant("acme", "acme-pass"))
    run(services.create_tenant("rival", "rival-pass"))
    acme = httpx.Client(base_url=live_server.url, auth=("acme", "acme-pass"), timeout=60)
    rival = httpx.Client(base_url=live_server.url, auth=("rival", "rival-pass"), timeout=60)
    yield acme, rival, live_server
    acme.close()
    rival.close()


def configure_local_slot(client: httpx.Client, index: int = 1) -> dict:
    r = client.put(f"/api/slots/local/{index}/reference",
                   files={"file": ("beach.jpg", photos.background(), "image/jpeg")})
    assert r.status_code == 200, r.text
    r = client.put(f"/api/slots/local/{index}", json={"type": "background", "enabled": True})
    assert r.status_code == 200, r.text
    return r.json()


def test_no_or_wrong_credentials_get_401_with_basic_challenge(api) -> None:
    _, _, server = api
    for auth in (None, ("acme", "nope"), ("ghost", "x")):
        r = httpx.get(server.url + "/api/slots", auth=auth)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Basic")
        assert "tabs" not in r.text


def test_slots_list_has_20_per_tab_with_full_upload_urls(api) -> None:
    acme, _, server = api
    body = acme.get("/api/slots").json()
    assert [t["provider"] for t in body["tabs"]] == ["local"]
    slots = body["tabs"][0]["slots"]
    assert [s["index"] for s in slots] == list(range(1, SLOTS_PER_PROVIDER + 1))
    assert all(s["upload_url"].startswith(server.url + "/u/") for s in slots)
    assert len({s["upload_url"] for s in slots}) == SLOTS_PER_PROVIDER
    assert body["tabs"][0]["types"] == ["background"]


def test_public_base_url_is_used_for_upload_links(services: Services, live_server_factory,
                                                  tmp_path) -> None:
    from shared.config import Settings
    from shared.services import build_services

    svc = build_services(Settings(data_dir=tmp_path / "p", enabled_providers=["local"],
                                  public_base_url="https://booth.example.com/"))
    run(svc.create_tenant("acme", "acme-pass"))
    server = live_server_factory(svc)
    body = httpx.get(server.url + "/api/slots", auth=("acme", "acme-pass")).json()
    assert body["tabs"][0]["slots"][0]["upload_url"].startswith("https://booth.example.com/u/")


def test_unsupported_type_is_refused_at_save_time(api) -> None:
    acme, _, _ = api
    r = acme.put("/api/slots/local/1", json={"type": "face_swap"})
    assert r.status_code == 422
    assert r.json()["field"] == "type" and "background" in r.json()["detail"]


def test_enabling_without_reference_names_the_field(api) -> None:
    acme, _, _ = api
    r = acme.put("/api/slots/local/3", json={"type": "background", "enabled": True})
    assert r.status_code == 422 and r.json()["field"] == "reference"
    r = acme.put("/api/slots/local/3", json={"type": "background", "enabled": False})
    assert r.status_code == 200 and "reference" in r.json()["problem"]


def test_bad_slot_addresses_are_404(api) -> None:
    acme, _, _ = api
    assert acme.put("/api/slots/local/21", json={}).status_code == 404
    assert acme.put("/api/slots/local/0", json={}).status_code == 404
    assert acme.put("/api/slots/nonsense/1", json={}).status_code == 404
    assert acme.put("/api/slots/gemini/1", json={}).status_code == 404  # tab not enabled


def test_reference_upload_validates_and_serves_thumbnail(api) -> None:
    acme, _, _ = api
    bad = acme.put("/api/slots/local/1/reference", files={"file": ("x.jpg", b"nope", "image/jpeg")})
    assert bad.status_code == 415
    slot = configure_local_slot(acme)
    assert slot["has_reference"] and slot["problem"] is None
    thumb = acme.get(slot["reference_url"], params={"thumb": 1})
    assert thumb.status_code == 200 and max(photos.decode(thumb.content).size) <= 256
    removed = acme.delete("/api/slots/local/1/reference").json()
    assert removed["has_reference"] is False and removed["problem"]
    assert acme.get("/api/slots/local/1/reference").status_code == 404


def test_try_it_runs_the_pipeline_and_counts(api) -> None:
    acme, _, _ = api
    configure_local_slot(acme)
    r = acme.post("/api/slots/local/1/test",
                  files={"file": ("guest.jpg", photos.green_screen(800, 533), "image/jpeg")})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert int(r.headers["x-boothai-duration-ms"]) > 0
    stats = acme.get("/api/stats").json()
    local = next(p for p in stats["providers"] if p["provider"] == "local")
    # Counted as a Try it run, apart from the booth's photos (issue 14).
    assert local["today"]["tried"] == 1 and local["total"]["tried"] == 1
    assert local["today"]["done"] == 0 and local["today"]["average_ms"] is None
    job = stats["recent_jobs"][0]
    assert job["source"] == "test" and job["status"] == "done"
    assert acme.get(job["result_url"], params={"thumb": 1}).status_code == 200
    assert acme.get(job["original_url"]).content[:3] == b"\xff\xd8\xff"


def test_rotating_the_upload_password_refuses_the_old_one(api) -> None:
    acme, _, server = api
    slot = configure_local_slot(acme)
    old = acme.get("/api/stats").json()["upload_password"]
    new = acme.post("/api/upload-password/rotate").json()["upload_password"]
    assert new != old and acme.get("/api/stats").json()["upload_password"] == new
    data = photos.green_screen(640, 427)
    files = {"fileToUpload": ("a.jpg", data, "image/jpeg")}
    assert httpx.post(slot["upload_url"], data={"password": old}, files=files).status_code == 401
    assert httpx.post(slot["upload_url"], data={"password": new}, files=files).status_code == 200


def test_tenant_isolation(api) -> None:
    acme, rival, _ = api
    slot = configure_local_slot(acme)
    acme.post("/api/slots/local/1/test",
              files={"file": ("g.jpg", photos.green_screen(640, 427), "image/jpeg")})
    acme_stats = acme.get("/api/stats").json()
    job = acme_stats["recent_jobs"][0]

    # Rival sees its own, untouched world.
    rival_slots = rival.get("/api/slots").json()["tabs"][0]["slots"]
    assert all(s["upload_url"] != slot["upload_url"] for s in rival_slots)
    assert rival_slots[0]["type"] is None and not rival_slots[0]["has_reference"]
    rival_stats = rival.get("/api/stats").json()
    assert rival_stats["recent_jobs"] == []
    assert rival_stats["upload_password"] != acme_stats["upload_password"]
    assert all(p["total"]["done"] == 0 for p in rival_stats["providers"])

    # Acme's images are not reachable with rival's credentials.
    assert rival.get(job["result_url"]).status_code == 404
    assert rival.get(job["original_url"]).status_code == 404
    assert rival.get("/api/slots/local/1/reference").status_code == 404

    # Rival's writes touch only rival's slot 1; acme's stays as it was.
    rival.put("/api/slots/local/1", json={"type": "background", "prompt": "rival"})
    rival.delete("/api/slots/local/1/reference")
    rival.post("/api/upload-password/rotate")
    after = acme.get("/api/slots").json()["tabs"][0]["slots"][0]
    assert after["prompt"] == "" and after["has_reference"] and after["enabled"]
    assert acme.get("/api/stats").json()["upload_password"] == acme_stats["upload_password"]

    # Acme's booth link does not take rival's upload password.
    r = httpx.post(slot["upload_url"], data={"password": rival_stats["upload_password"]},
                   files={"fileToUpload": ("a.jpg", photos.green_screen(320, 213), "image/jpeg")})
    assert r.status_code == 401


def test_health_reports_storage_and_providers(api) -> None:
    _, _, server = api
    body = httpx.get(server.url + "/health").json()
    assert body["status"] == "ok" and body["checks"] == {"tables": "ok", "objects": "ok"}
    assert body["providers"]["local"] == "ok"


def test_output_size_is_offered_and_checked_per_model(live_server_factory, tmp_path) -> None:
    """Gemini 3 slots pick 1K/2K/4K (2K when unset); 2.5 Flash Image and the other tabs
    offer none and refuse one with a 422 on `image_size`; a saved size survives a reload."""
    from shared.config import Settings
    from shared.services import build_services

    svc = build_services(Settings(data_dir=tmp_path / "p", enabled_providers=["local", "gemini"],
                                  gemini_api_key="never-called"))
    run(svc.create_tenant("acme", "acme-pass"))
    acme = httpx.Client(base_url=live_server_factory(svc).url, auth=("acme", "acme-pass"))

    tabs = {t["provider"]: t for t in acme.get("/api/slots").json()["tabs"]}
    default_model = tabs["gemini"]["slots"][0]
    assert (default_model["image_sizes"], default_model["image_size_default"]) == ([], None)
    assert tabs["local"]["slots"][0]["image_sizes"] == []

    pro = {"type": "prompt", "prompt": "a beach", "model": "gemini-3-pro-image-preview"}
    r = acme.put("/api/slots/gemini/2", json={**pro, "image_size": "4K"})
    assert r.status_code == 200, r.text
    assert (r.json()["image_size"], r.json()["image_sizes"]) == ("4K", ["1K", "2K", "4K"])
    assert r.json()["image_size_default"] == "2K"
    again = {t["provider"]: t for t in acme.get("/api/slots").json()["tabs"]}
    assert again["gemini"]["slots"][1]["image_size"] == "4K"

    for path, body in [("/api/slots/gemini/3", {"type": "prompt", "prompt": "x",
                                                "image_size": "2K"}),
                       ("/api/slots/local/1", {"type": "background", "image_size": "2K"})]:
        r = acme.put(path, json=body)
        assert r.status_code == 422 and r.json()["field"] == "image_size", r.text
    r = acme.put("/api/slots/gemini/2", json={**pro, "image_size": "2k"})  # the API's "K" only
    assert r.status_code == 422 and r.json()["field"] == "image_size", r.text
