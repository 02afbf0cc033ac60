"""Slot readiness decided once (shared/slot_rules.py), seen end to end through the admin API
and the booth: a background drawn from words alone saves and runs on a provider that draws
(Gemini), and is refused, naming the field, on one that needs the picture (Local)."""

from __future__ import annotations

import httpx
import pytest

from shared.config import Settings
from shared.domain import ProviderName
from shared.services import build_services
from tests.conftest import run
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.server import run_app_in_thread
from tests.helpers import photos

GEMINI_KEY = "test-gemini-key"
OPERATOR = ("acme", "pw-acme")


@pytest.fixture
def console(tmp_path, live_server_factory):
    gemini = FakeGemini(GEMINI_KEY)
    gemini_url, stop = run_app_in_thread(gemini.app)
    settings = Settings(data_dir=tmp_path / "data", enabled_providers=["gemini", "local"],
                        gemini_api_key=GEMINI_KEY, gemini_base_url=gemini_url)
    services = build_services(settings)
    tenant, _ = run(services.create_tenant(*OPERATOR))
    server = live_server_factory(services)
    client = httpx.Client(base_url=server.url, auth=OPERATOR, timeout=60)
    yield {"client": client, "gemini": gemini, "upload_password": tenant.upload_password,
           "services": services}
    client.close()
    stop()


TEXT_ONLY = {"type": "background", "prompt": "a snowy pine forest at dusk", "enabled": True}


def test_text_only_background_on_gemini_saves_and_answers_a_booth(console):
    client = console["client"]
    saved = client.put("/api/slots/gemini/1", json=TEXT_ONLY)
    assert saved.status_code == 200, saved.text
    assert saved.json()["problem"] is None and saved.json()["has_reference"] is False

    booth = httpx.post(saved.json()["upload_url"], data=photos.dslr_fields(console["upload_password"]),
                       files={"fileToUpload": ("IMG_0001.JPG", photos.green_screen(640, 480),
                                               "image/jpeg")}, timeout=60)
    assert booth.status_code == 200, booth.text
    assert photos.decode(booth.content).size[0] > 0
    (request,) = console["gemini"].requests
    assert len(request.images) == 1  # the guest photo only: no reference was sent
    assert request.prompt.endswith("New background: a snowy pine forest at dusk")


def test_text_only_background_on_local_is_refused_naming_the_field(console):
    refused = console["client"].put("/api/slots/local/1", json=TEXT_ONLY)
    assert refused.status_code == 422
    body = refused.json()
    assert body["field"] == "reference"
    assert body["detail"] == ("cannot enable: slot 1 on the local tab needs a reference image "
                              "for background")
    slot = run(console["services"].repo.get_slot("acme", ProviderName.LOCAL, 1))
    assert slot.enabled is False  # nothing was saved


def test_tabs_carry_the_rules_the_ui_renders(console):
    tabs = {t["provider"]: t for t in console["client"].get("/api/slots").json()["tabs"]}
    assert tabs["gemini"]["requirements"]["background"]["needs"] == [
        {"code": "missing_reference_or_prompt", "any_of": ["reference", "prompt"]}]
    assert tabs["local"]["requirements"] == {"background": {
        "needs": [{"code": "missing_reference", "any_of": ["reference"]}], "uses": ["reference"]}}
    assert tabs["local"]["types"] == ["background"]


def test_a_fallback_that_cannot_serve_the_slot_is_refused(console):
    refused = console["client"].put("/api/slots/gemini/2", json={
        **TEXT_ONLY, "fallback_provider": "local"})
    assert refused.status_code == 422
    assert refused.json()["field"] == "fallback_provider"
    assert "Local cannot stand in for this slot" in refused.json()["detail"]
