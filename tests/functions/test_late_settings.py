"""A slot's late-result settings over the admin API (issue 15): what the booth gets when its
window runs out (`when_late`), how long the job may keep working (`late_limit_seconds`), the
line printed under the QR code (`late_text`) and the QR on every result (`qr_on_results`):
defaults, a round trip, bounds, one line of text, the refusal of a QR code while the slot's
share pages are off, and a slot saved before these fields existed. Jobs and statistics carry
the late mark, and another account's late job stays out of reach."""

from __future__ import annotations

import time

import httpx
import pytest

from shared import object_keys
from shared.domain import (
    DEFAULT_LATE_LIMIT,
    LATE_LIMIT_MAX,
    LATE_LIMIT_MIN,
    MAX_LATE_TEXT_CHARS,
    Job,
    JobSource,
    JobStatus,
    ProcessingType,
    ProviderName,
    new_job_id,
    slot_key,
)
from shared.services import Services
from tests.conftest import run
from tests.helpers import photos

LATE_FIELDS = ("when_late", "late_limit_seconds", "late_text", "qr_on_results")
# A Local background slot, off: it saves without a reference, so each test changes only
# the fields it is about.
BASE = {"name": "", "type": "background", "prompt": "", "enabled": False,
        "fallback_to_original": False}


@pytest.fixture
def api(services: Services, live_server):
    run(services.create_tenant("acme", "acme-pass"))
    run(services.create_tenant("rival", "rival-pass"))
    acme = httpx.Client(base_url=live_server.url, auth=("acme", "acme-pass"), timeout=60)
    rival = httpx.Client(base_url=live_server.url, auth=("rival", "rival-pass"), timeout=60)
    yield acme, rival
    acme.close()
    rival.close()


def _slot(client: httpx.Client, index: int) -> dict:
    tabs = client.get("/api/slots").json()["tabs"]
    [slot] = [s for t in tabs if t["provider"] == "local" for s in t["slots"] if s["index"] == index]
    return slot


def _late(slot: dict) -> dict:
    return {name: slot[name] for name in LATE_FIELDS}


def test_a_fresh_slot_answers_an_error_as_always(api) -> None:
    acme, _ = api
    assert _late(_slot(acme, 1)) == {"when_late": "error", "late_limit_seconds": DEFAULT_LATE_LIMIT,
                                     "late_text": "", "qr_on_results": False}
    # A save that does not send the fields keeps the defaults.
    saved = acme.put("/api/slots/local/1", json=BASE)
    assert saved.status_code == 200, saved.text
    assert _late(saved.json()) == {"when_late": "error", "late_limit_seconds": 180,
                                   "late_text": "", "qr_on_results": False}


@pytest.mark.parametrize("late", [
    {"when_late": "original", "late_limit_seconds": 240, "late_text": "", "qr_on_results": False,
     "share_pages": False},
    {"when_late": "original_qr", "late_limit_seconds": 600,
     "late_text": "Ваше AI-фото уже в работе: отсканируйте код", "qr_on_results": False,
     "share_pages": True},
    {"when_late": "error", "late_limit_seconds": 60, "late_text": "", "qr_on_results": True,
     "share_pages": True},
])
def test_each_choice_round_trips(api, late: dict) -> None:
    acme, _ = api
    saved = acme.put("/api/slots/local/2", json={**BASE, **late})
    assert saved.status_code == 200, saved.text
    expected = {name: late[name] for name in LATE_FIELDS}
    assert _late(saved.json()) == expected
    assert _late(_slot(acme, 2)) == expected  # read back, not just echoed


def test_the_limit_is_bounded(api) -> None:
    acme, _ = api
    for seconds in (LATE_LIMIT_MIN - 1, LATE_LIMIT_MAX + 1, 0, -60, "soon"):
        bad = acme.put("/api/slots/local/3", json={**BASE, "when_late": "original",
                                                    "late_limit_seconds": seconds})
        assert bad.status_code == 422, seconds
        assert bad.json()["field"] == "late_limit_seconds", seconds
    assert _late(_slot(acme, 3))["when_late"] == "error"  # nothing of a refused save is kept
    for seconds in (LATE_LIMIT_MIN, LATE_LIMIT_MAX):
        ok = acme.put("/api/slots/local/3", json={**BASE, "when_late": "original",
                                                   "late_limit_seconds": seconds})
        assert ok.status_code == 200 and ok.json()["late_limit_seconds"] == seconds


def test_an_unknown_choice_is_refused(api) -> None:
    acme, _ = api
    bad = acme.put("/api/slots/local/3", json={**BASE, "when_late": "later"})
    assert bad.status_code == 422 and bad.json()["field"] == "when_late"


def test_the_text_is_one_line_of_at_most_80_characters(api) -> None:
    acme, _ = api
    share = {"share_pages": True, "when_late": "original_qr"}
    longest = "x" * MAX_LATE_TEXT_CHARS
    ok = acme.put("/api/slots/local/4", json={**BASE, **share, "late_text": longest})
    assert ok.status_code == 200 and ok.json()["late_text"] == longest
    bad = acme.put("/api/slots/local/4", json={**BASE, **share, "late_text": longest + "x"})
    assert bad.status_code == 422 and bad.json()["field"] == "late_text"
    # A line break would print a second line under the code, or forge one in a log.
    broken = acme.put("/api/slots/local/4", json={**BASE, **share,
                                                   "late_text": "Scan me\nfor the\r\nAI photo\u2028now"})
    assert broken.status_code == 200, broken.text
    assert broken.json()["late_text"] == "Scan me for the AI photo now"
    assert _slot(acme, 4)["late_text"] == "Scan me for the AI photo now"


def test_a_qr_code_needs_the_slots_share_pages(api) -> None:
    acme, _ = api
    for field, late in (("when_late", {"when_late": "original_qr"}),
                        ("qr_on_results", {"qr_on_results": True})):
        bad = acme.put("/api/slots/local/5", json={**BASE, **late, "share_pages": False})
        assert bad.status_code == 422, field
        body = bad.json()
        assert body["field"] == field and body["code"] == "share_pages_off", body
        assert "share pages" in body["detail"]
        assert _late(_slot(acme, 5))[field] in ("error", False)  # nothing was saved
        assert acme.put("/api/slots/local/5", json={**BASE, **late, "share_pages": True}).status_code == 200
        # Switching share pages off again while the QR is chosen is refused the same way.
        off = acme.put("/api/slots/local/5", json={**BASE, **late, "share_pages": False})
        assert off.status_code == 422 and off.json()["code"] == "share_pages_off"
        assert _slot(acme, 5)["share_pages"] is True
        acme.put("/api/slots/local/5", json={**BASE, "share_pages": False})
    # The original without a code needs no share page.
    plain = acme.put("/api/slots/local/5", json={**BASE, "when_late": "original", "share_pages": False})
    assert plain.status_code == 200, plain.text


def test_a_slot_saved_before_late_results_reads_as_an_error(api, services: Services) -> None:
    acme, _ = api
    acme.put("/api/slots/local/6", json={**BASE, "name": "Old slot"})
    item = services.tables.get("slots", "acme", slot_key(ProviderName.LOCAL, 6))
    for name in LATE_FIELDS:
        item.pop(name)
    services.tables.put("slots", item)
    assert all(name not in services.tables.get("slots", "acme", slot_key(ProviderName.LOCAL, 6))
               for name in LATE_FIELDS)
    slot = _slot(acme, 6)
    assert slot["name"] == "Old slot"
    assert _late(slot) == {"when_late": "error", "late_limit_seconds": 180, "late_text": "",
                           "qr_on_results": False}


def _late_job(services: Services, tenant: str) -> Job:
    """A booth photo that finished 90 s after it arrived, its booth long since answered with
    the original: written to the store the way the finisher leaves it, pictures included."""
    now = time.time()
    job_id = new_job_id()
    original = object_keys.original(tenant, job_id, now - 90, "image/jpeg")
    result = object_keys.result(tenant, job_id, now - 90, "image/jpeg")
    services.store.put(original, photos.plain_photo(300, 200), "image/jpeg")
    services.store.put(result, photos.background(), "image/jpeg")
    job = Job(tenant=tenant, job_id=job_id, provider=ProviderName.LOCAL,
              slot_index=1, source=JobSource.BOOTH, status=JobStatus.DONE,
              type=ProcessingType.BACKGROUND, created_at=now - 90, started_at=now - 90,
              finished_at=now, provider_ms=88_000, total_ms=90_000, late=True,
              original_key=original, result_key=result,
              attempts=[{"provider": "local", "outcome": "done", "started_at": now - 90, "ms": 88_000}])
    run(services.repo.put_job(job))
    run(services.repo.count(tenant=tenant, provider=ProviderName.LOCAL, done=True,
                            latency_ms=90_000, at=now))
    run(services.repo.count_late(tenant=tenant, provider=ProviderName.LOCAL, at=now))
    return job


def test_jobs_and_statistics_carry_the_late_mark_of_their_own_account_only(api, services) -> None:
    acme, rival = api
    job = _late_job(services, "acme")
    assert acme.get(f"/api/jobs/{job.job_id}").json()["late"] is True
    for part in ("original", "result"):
        assert acme.get(f"/api/jobs/{job.job_id}/{part}").status_code == 200
    stats = acme.get("/api/stats").json()
    [local] = [p for p in stats["providers"] if p["provider"] == "local"]
    assert local["today"]["late"] == local["total"]["late"] == 1
    assert local["total"]["done"] == 1
    assert [j["late"] for j in stats["recent_jobs"] if j["job_id"] == job.job_id] == [True]
    # Another operator: no such job, no late count, and none of its pictures.
    assert rival.get(f"/api/jobs/{job.job_id}").status_code == 404
    for part in ("original", "result"):
        assert rival.get(f"/api/jobs/{job.job_id}/{part}").status_code == 404
    rival_stats = rival.get("/api/stats").json()
    assert all(j["job_id"] != job.job_id for j in rival_stats["recent_jobs"])
    [rival_local] = [p for p in rival_stats["providers"] if p["provider"] == "local"]
    assert rival_local["total"]["late"] == 0 and rival_local["total"]["done"] == 0


# -- the print's preview: what the booth prints when the window runs out ----------------------
def test_the_late_preview_is_the_print_with_a_code_that_reads_and_opens_nothing(api, services) -> None:
    from urllib.parse import unquote

    from tests.helpers.qr import decode_qr

    acme, rival = api
    line = "Ваше AI-фото уже в работе: отсканируйте код"
    sample = photos.plain_photo(1800, 1200)
    r = acme.post("/api/slots/local/2/late-preview", files={"file": ("s.jpg", sample, "image/jpeg")},
                  data={"text": line}, headers={"Origin": str(acme.base_url)})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    assert unquote(r.headers["x-boothai-printed-text"]) == line
    assert r.headers["x-boothai-text-cut"] == "0"
    assert photos.decode(r.content).size == (1024, 683)  # cut to the preview's size
    link = decode_qr(r.content)
    assert link.startswith(f"{acme.base_url}/s/") and len(link.rsplit("/", 1)[1]) == 32
    assert httpx.get(link).status_code == 404  # a code like the real one, opening nothing
    # Nothing stored, no job: the preview costs the store nothing.
    assert run(services.repo.recent_jobs("acme")) == []
    assert services.store.list("originals/") == []

    # A strip's width cuts a long line; the card is told, with the line as printed.
    strip = photos.plain_photo(600, 1800)
    r = acme.post("/api/slots/local/2/late-preview", files={"file": ("s.jpg", strip, "image/jpeg")},
                  data={"text": line}, headers={"Origin": str(acme.base_url)})
    assert r.headers["x-boothai-text-cut"] == "1"
    assert unquote(r.headers["x-boothai-printed-text"]).endswith("…")

    # Without a text: the slot's saved line (empty: the English default).
    r = acme.post("/api/slots/local/2/late-preview", files={"file": ("s.jpg", sample, "image/jpeg")},
                  headers={"Origin": str(acme.base_url)})
    assert unquote(r.headers["x-boothai-printed-text"]) == "Your AI photo is on its way: scan the code"

    # Not an image: 415; a line over 80: 422; no operator: 401; another's slot is their own.
    assert acme.post("/api/slots/local/2/late-preview", files={"file": ("s.jpg", b"nope", "image/jpeg")},
                     headers={"Origin": str(acme.base_url)}).status_code == 415
    assert acme.post("/api/slots/local/2/late-preview", files={"file": ("s.jpg", sample, "image/jpeg")},
                     data={"text": "x" * 81}, headers={"Origin": str(acme.base_url)}).status_code == 422
    assert httpx.post(f"{acme.base_url}/api/slots/local/2/late-preview",
                      files={"file": ("s.jpg", sample, "image/jpeg")}).status_code == 401
