"""Prompt fields end to end: a booth upload over the real server whose link carries survey
values (`?team=red`) and whose form carries DSLR Remote Pro's `name`; the real google-genai
client talks to the fake Gemini, which records the prompt it received. The job records the
filled prompt; Try it fills it from sample values; saving refuses unlisted placeholders."""

from __future__ import annotations

from urllib.parse import unquote

import httpx
import pytest

from shared.config import Settings
from shared.domain import ProcessingType, ProviderName
from shared.services import build_services
from tests.conftest import free_port, run
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.server import run_app_in_thread
from tests.helpers import photos

GEMINI_KEY = "test-gemini-key"
PROMPT = "Paint {name|our guest} in the {team|blue} team's colours { not a field }"
FIELDS = ["name", "team"]


@pytest.fixture
def gemini_booth(tmp_path, live_server_factory):
    gemini = FakeGemini(GEMINI_KEY)
    base, stop = run_app_in_thread(gemini.app)
    settings = Settings(data_dir=tmp_path / "data", enabled_providers=["gemini", "local"],
                        gemini_api_key=GEMINI_KEY, gemini_base_url=base,
                        booth_window_seconds=50.0, booth_safety_margin_seconds=1.0)
    services = build_services(settings)
    tenant, _ = run(services.create_tenant("acme", "pw-acme"))
    server = live_server_factory(services, free_port())
    admin = httpx.Client(base_url=server.url, auth=("acme", "pw-acme"), timeout=60)
    yield {"gemini": gemini, "server": server, "admin": admin, "services": services,
           "password": tenant.upload_password}
    admin.close()
    stop()


def save_prompt_slot(admin: httpx.Client, prompt: str = PROMPT,
                     fields: list[str] = FIELDS) -> httpx.Response:
    return admin.put("/api/slots/gemini/1", json={"type": "prompt", "enabled": True,
                                                  "prompt": prompt, "prompt_fields": fields})


def job_of(admin: httpx.Client, job_id: str) -> dict:
    r = admin.get(f"/api/jobs/{job_id}")
    assert r.status_code == 200, r.text
    return r.json()


def test_a_booth_upload_fills_the_prompt_from_its_form_and_link(gemini_booth) -> None:
    b = gemini_booth
    slot = save_prompt_slot(b["admin"])
    assert slot.status_code == 200, slot.text
    assert slot.json()["prompt_fields"] == FIELDS
    fields = {**photos.dslr_fields(b["password"]), "name": "Anna {team}\nIgnore this"}
    # The query's password is never a value (and the token stays in the path).
    url = slot.json()["upload_url"] + "?team=red&password=leaked-secret"
    r = httpx.post(url, data=fields, timeout=60,
                   files={"fileToUpload": ("IMG_0003.JPG", photos.green_screen(800, 600),
                                           "image/jpeg")})
    assert r.status_code == 200, r.text
    filled = "Paint Anna {team} Ignore this in the red team's colours { not a field }"
    received = b["gemini"].requests[-1].prompt
    assert filled in received
    assert "leaked-secret" not in received and b["password"] not in received
    job = job_of(b["admin"], r.headers["x-boothai-job"])
    assert job["prompt"] == filled and job["source"] == "booth"
    recent = b["admin"].get("/api/stats").json()["recent_jobs"][0]
    assert recent["prompt"] == filled


def test_a_booth_that_sends_no_field_gets_the_defaults(gemini_booth) -> None:
    b = gemini_booth
    slot = save_prompt_slot(b["admin"]).json()
    r = httpx.post(slot["upload_url"], data={"password": b["password"]}, timeout=60,
                   files={"fileToUpload": ("a.jpg", photos.green_screen(640, 480), "image/jpeg")})
    assert r.status_code == 200, r.text
    filled = "Paint our guest in the blue team's colours { not a field }"
    assert filled in b["gemini"].requests[-1].prompt
    assert job_of(b["admin"], r.headers["x-boothai-job"])["prompt"] == filled


def test_try_it_fills_the_prompt_from_sample_values(gemini_booth) -> None:
    b = gemini_booth
    save_prompt_slot(b["admin"])
    r = b["admin"].post("/api/slots/gemini/1/test", data={"name": "Ольга", "team": "green"},
                        files={"file": ("g.jpg", photos.green_screen(640, 480), "image/jpeg")})
    assert r.status_code == 200, r.text
    filled = "Paint Ольга in the green team's colours { not a field }"
    assert unquote(r.headers["x-boothai-prompt"]) == filled
    assert filled in b["gemini"].requests[-1].prompt
    job = job_of(b["admin"], r.headers["x-boothai-job"])
    assert job["prompt"] == filled and job["source"] == "test"


def test_saving_a_placeholder_outside_the_whitelist_is_refused(gemini_booth) -> None:
    admin = gemini_booth["admin"]
    r = save_prompt_slot(admin, "Hi {name} from {city|Paris}", ["name"])
    assert r.status_code == 422 and r.json()["field"] == "prompt", r.text
    assert "{city}" in r.json()["detail"]
    r = save_prompt_slot(admin, "Hi {name}", ["password"])
    assert r.status_code == 422 and r.json()["field"] == "prompt_fields", r.text
    r = save_prompt_slot(admin, "Hi {name}", ["bad-name"])
    assert r.status_code == 422, r.text
    r = save_prompt_slot(admin, "Hi", [f"f{i}" for i in range(11)])
    assert r.status_code == 422, r.text
    tabs = admin.get("/api/slots").json()["tabs"]
    saved = next(t for t in tabs if t["provider"] == "gemini")["slots"][0]
    assert saved["prompt_fields"] == [] and saved["prompt"] == ""
    # The whitelist survives a reload of the stored slot.
    assert save_prompt_slot(admin).status_code == 200
    slot = run(gemini_booth["services"].repo.get_slot("acme", ProviderName.GEMINI, 1))
    assert slot.prompt_fields == FIELDS and slot.type is ProcessingType.PROMPT
