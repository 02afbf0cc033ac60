"""The trace of every booth shot (issue 14): a real server on loopback, DSLR Remote Pro's
multipart posts, the operator's admin API reading each slot's Activity list.

Each refusal (401, 409, 413, 415, 429) is on the slot's list with its reason, the booth's
name and version as far as they had arrived, never the password or the upload token; an
accepted request ends done with its job; refusals and Try it runs are counted apart from the
booth's photos; a failing trace write costs the booth nothing; a provider's failure names
its cause (shared/failure_causes.py) on the job and on the trace."""

from __future__ import annotations

import concurrent.futures
import logging
import re
import time
from pathlib import Path

import httpx
import pytest

from shared.config import Settings
from shared.domain import ProcessingType, ProviderName
from shared.failure_causes import Cause, cause_of
from shared.services import build_services
from tests.conftest import free_port, run
from tests.fakes.gemini_server import Behaviour
from tests.fakes.turbotext_server import TBehaviour
from tests.faults.faulty import Faults, wrap_storage
from tests.functions.test_booth_cloud_providers import booth as cloud_booth  # noqa: F401
from tests.functions.test_booth_cloud_providers import fakes  # noqa: F401
from tests.functions.test_booth_cloud_providers import post_photo as cloud_post
from tests.helpers import photos
from tests.helpers.booth import local_booth

WRONG = "wrong-pass-7319"  # a wrong upload password: searched for in every answer and file


@pytest.fixture
def booth(services, live_server):
    tenant, slot = run(local_booth(services))
    return _booth(services, live_server.url, tenant, slot)


def _booth(services, base, tenant, slot) -> dict:
    return {"services": services, "base": base, "url": f"{base}/u/{slot.upload_token}",
            "token": slot.upload_token, "password": tenant.upload_password,
            "operator": httpx.Client(base_url=base, auth=("acme", "pw-acme"), timeout=30)}


def post(url: str, data: bytes, password: str, *, mime: str = "image/jpeg") -> httpx.Response:
    """What DSLR Remote Pro 3.30.2 sends: its ten text fields, then the photo."""
    return httpx.post(url, data=photos.dslr_fields(password),
                      files={"fileToUpload": ("IMG_0003.JPG", data, mime)}, timeout=60)


def trace(b: dict, index: int = 1, *, provider: str = "local", count: int = 1,
          settled: bool = True) -> list[dict]:
    """The slot's entries once `count` are there (they are written on the side) and, when
    `settled`, none is still "accepted"."""
    deadline = time.monotonic() + 10
    while True:
        response = b["operator"].get(f"/api/slots/{provider}/{index}/trace")
        assert response.status_code == 200, response.text
        entries = response.json()["entries"]
        done = len(entries) >= count and not (
            settled and any(e["outcome"] == "accepted" for e in entries))
        if done or time.monotonic() > deadline:
            return entries
        time.sleep(0.05)


def provider_stats(b: dict, provider: str = "local") -> dict:
    stats = b["operator"].get("/api/stats").json()
    return next(p for p in stats["providers"] if p["provider"] == provider)


def assert_from_the_booth(entry: dict) -> None:
    assert entry["booth"] == {"name": "DESKTOP-K968T3F", "version": "3.30.2",
                              "model": "Windows", "user_id": "Acer",
                              "id": "CY04N068111304S2L_00000001."}


def assert_no_secret_stored(b: dict, *secrets: str) -> None:
    """Not in any file under the data folder: the SQLite database, its WAL, the objects."""
    data_dir = Path(b["services"].settings.data_dir)
    for path in data_dir.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in raw, f"{secret!r} found in {path}"


# -- each refusal on the slot's list --------------------------------------------------------------
def test_wrong_password_is_traced_with_the_booth_and_without_the_password(booth) -> None:
    response = post(booth["url"], photos.green_screen(320, 213), WRONG)
    assert response.status_code == 401
    [entry] = trace(booth)
    assert entry["outcome"] == "refused" and entry["status"] == 401
    assert entry["reason"] == "wrong_password" and entry["message"] == "wrong upload password"
    assert entry["job_id"] is None and entry["at"] == pytest.approx(time.time(), abs=30)
    assert_from_the_booth(entry)
    listing = booth["operator"].get("/api/slots/local/1/trace").text
    for secret in (WRONG, booth["password"], booth["token"]):
        assert secret not in listing
    run(booth["services"].drain())
    assert_no_secret_stored(booth, WRONG, booth["password"])


def test_slot_switched_off_is_traced_on_that_slot(booth) -> None:
    services = booth["services"]
    off = run(services.repo.get_slot("acme", ProviderName.LOCAL, 2))
    response = post(f"{booth['base']}/u/{off.upload_token}", photos.green_screen(320, 213),
                    booth["password"])
    assert response.status_code == 409
    [entry] = trace(booth, 2)
    assert (entry["outcome"], entry["status"], entry["reason"]) == ("refused", 409,
                                                                    "slot_disabled")
    assert "disabled" in entry["message"] and entry["job_id"] is None
    assert_from_the_booth(entry)
    assert trace(booth, 1, count=0) == []  # only the slot the link belongs to


def test_not_an_image_is_traced_as_unsupported_media(booth) -> None:
    response = post(booth["url"], b"%PDF-1.4 not a photo", booth["password"])
    assert response.status_code == 415
    [entry] = trace(booth)
    assert (entry["outcome"], entry["status"], entry["reason"]) == ("refused", 415,
                                                                    "unsupported_media")
    assert_from_the_booth(entry)


def test_too_many_attempts_is_traced_before_the_body(booth) -> None:
    limit = booth["services"].settings.auth_failures_allowed
    codes = [post(booth["url"], photos.green_screen(320, 213), WRONG).status_code
             for _ in range(limit + 1)]
    assert codes[-1] == 429
    entries = trace(booth, count=limit + 1)
    assert entries[0]["status"] == 429 and entries[0]["reason"] == "too_many_attempts"
    assert entries[0]["outcome"] == "refused" and "try again" in entries[0]["message"]
    assert [e["status"] for e in entries[1:]] == [401] * limit
    # Newest first.
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)


def test_too_large_is_traced_though_its_body_is_never_read(live_server_factory, tmp_path) -> None:
    small = build_services(Settings(data_dir=tmp_path / "small", enabled_providers=["local"],
                                    max_upload_mb=1))
    tenant, slot = run(local_booth(small))
    b = _booth(small, live_server_factory(small).url, tenant, slot)
    big = photos.green_screen(4000, 3000, noise=True, quality=95)
    response = post(b["url"], big, b["password"])
    assert response.status_code == 413
    [entry] = trace(b)
    assert (entry["outcome"], entry["status"], entry["reason"]) == ("refused", 413, "too_large")
    assert "limit" in entry["message"]
    # Refused on its Content-Length: no field of the form was read.
    assert set(entry["booth"].values()) == {""}


def test_unknown_link_is_not_traced_on_any_slot(booth) -> None:
    assert post(f"{booth['base']}/u/no-such-link", b"x", booth["password"]).status_code == 404
    for index in (1, 2):
        assert trace(booth, index, count=0) == []


def test_bad_limit_is_a_clear_422(booth) -> None:
    response = booth["operator"].get("/api/slots/local/1/trace", params={"limit": 0})
    assert response.status_code == 422 and response.json()["field"] == "limit"
    assert booth["operator"].get("/api/slots/local/99/trace").status_code == 404


# -- accepted, done, counted ----------------------------------------------------------------------
def test_accepted_photo_ends_done_with_its_job(booth) -> None:
    response = post(booth["url"], photos.green_screen(640, 427), booth["password"])
    assert response.status_code == 200
    [entry] = trace(booth)
    assert (entry["outcome"], entry["status"]) == ("done", 200)
    assert entry["job_id"] == response.headers["x-boothai-job"] and entry["cause"] is None
    assert_from_the_booth(entry)


def test_refusals_and_try_it_are_counted_apart_from_booth_photos(booth) -> None:
    assert post(booth["url"], photos.green_screen(320, 213), WRONG).status_code == 401
    assert post(booth["url"], b"GIF89a nope", booth["password"]).status_code == 415
    assert post(booth["url"], photos.green_screen(640, 427), booth["password"]).status_code == 200
    tried = booth["operator"].post(
        "/api/slots/local/1/test",
        files={"file": ("guest.jpg", photos.green_screen(640, 427), "image/jpeg")})
    assert tried.status_code == 200
    trace(booth, count=3)
    run(booth["services"].drain())
    local = provider_stats(booth)
    for period in ("today", "total"):
        counts = local[period]
        assert (counts["done"], counts["failed"], counts["refused"], counts["tried"]) == (
            1, 0, 2, 1), counts
        assert counts["average_ms"] > 0
    # Try it is not a booth request: it is on the job list, not on the slot's trace.
    assert len(trace(booth, count=3)) == 3


def test_a_failing_trace_write_still_answers_the_booth(settings, live_server_factory,
                                                       caplog) -> None:
    caplog.set_level(logging.WARNING)
    base = build_services(settings)
    faults = Faults()
    tables, store = wrap_storage(base.tables, base.store, faults)
    services = build_services(settings, tables=tables, store=store)
    tenant, slot = run(local_booth(services))
    b = _booth(services, live_server_factory(services).url, tenant, slot)
    faults.down("put", table="traces")
    guest = photos.green_screen(640, 427)
    response = post(b["url"], guest, b["password"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert post(b["url"], guest, WRONG).status_code == 401  # refusals too
    run(services.drain())
    assert any("booth trace write failed" in r.getMessage() for r in caplog.records)
    faults.clear()
    assert trace(b, count=0) == []


# -- provider failures: the cause, in one place -----------------------------------------------------
def _operator(b: dict) -> httpx.Client:
    return httpx.Client(base_url=b["base"], auth=("acme", "pw-acme"), timeout=30)


def _failed(b: dict, provider: ProviderName) -> tuple[dict, dict]:
    """The newest job and the slot's newest trace entry, once settled."""
    client = _operator(b)
    deadline = time.monotonic() + 10
    while True:
        job = client.get("/api/stats").json()["recent_jobs"][0]
        entries = client.get(f"/api/slots/{provider}/1/trace").json()["entries"]
        if (job["status"] == "failed" and entries and entries[0]["outcome"] != "accepted"
                or time.monotonic() > deadline):
            return job, entries[0]
        time.sleep(0.05)


def _assert_cause(b: dict, provider: ProviderName, response: httpx.Response, cause: str,
                  reason: str) -> dict:
    assert response.status_code == 502, response.text
    job, entry = _failed(b, provider)
    assert (job["cause"], job["reason"]) == (cause, reason), job
    assert entry["outcome"] == "failed" and entry["status"] == 502
    assert (entry["cause"], entry["reason"], entry["job_id"]) == (cause, reason, job["job_id"])
    assert entry["message"] == job["detail"]
    return job


def test_gemini_invalid_key_is_key_rejected(cloud_booth) -> None:  # noqa: F811
    b = cloud_booth(ProviderName.GEMINI, ProcessingType.PROMPT)
    b["gemini"].keys = {"the-key-google-knows"}  # ours is no longer valid
    response = cloud_post(b, photos.green_screen(640, 480))
    job = _assert_cause(b, ProviderName.GEMINI, response, "key_rejected", "gemini_key_invalid")
    assert "API key not valid" in job["detail"] and "test-gemini-key" not in job["detail"]


def test_gemini_quota_is_quota(cloud_booth) -> None:  # noqa: F811
    b = cloud_booth(ProviderName.GEMINI, ProcessingType.PROMPT)
    b["gemini"].script(Behaviour.quota(), Behaviour.quota())  # the SDK retries a 429 once
    response = cloud_post(b, photos.green_screen(640, 480))
    job = _assert_cause(b, ProviderName.GEMINI, response, "quota", "gemini_rate_limited")
    assert "exceeded your current quota" in job["detail"]


def test_gemini_leaked_key_is_key_rejected(cloud_booth) -> None:  # noqa: F811
    b = cloud_booth(ProviderName.GEMINI, ProcessingType.PROMPT)
    b["gemini"].script(Behaviour.denied())
    response = cloud_post(b, photos.green_screen(640, 480))
    _assert_cause(b, ProviderName.GEMINI, response, "key_rejected", "gemini_permission_denied")


def test_gemini_closed_port_is_unreachable(cloud_booth, fakes) -> None:  # noqa: F811
    fakes["gemini_url"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    b = cloud_booth(ProviderName.GEMINI, ProcessingType.PROMPT)
    response = cloud_post(b, photos.green_screen(640, 480))
    _assert_cause(b, ProviderName.GEMINI, response, "unreachable", "gemini_unreachable")


def test_gemini_safety_block_is_safety_block(cloud_booth) -> None:  # noqa: F811
    b = cloud_booth(ProviderName.GEMINI, ProcessingType.PROMPT)
    b["gemini"].script(Behaviour.finish("IMAGE_SAFETY"))
    response = cloud_post(b, photos.green_screen(640, 480))
    _assert_cause(b, ProviderName.GEMINI, response, "safety_block", "gemini_image_safety")


def test_turbotext_no_money_is_quota_in_its_own_words(cloud_booth) -> None:  # noqa: F811
    b = cloud_booth(ProviderName.TURBOTEXT, ProcessingType.PROMPT)
    b["turbotext"].script(TBehaviour(error="Недостаточно средств на балансе"))
    response = cloud_post(b, photos.green_screen(640, 480))
    job = _assert_cause(b, ProviderName.TURBOTEXT, response, "quota", "turbotext_no_funds")
    assert "Недостаточно средств на балансе" in job["detail"]


def test_turbotext_wrong_key_is_key_rejected(cloud_booth) -> None:  # noqa: F811
    b = cloud_booth(ProviderName.TURBOTEXT, ProcessingType.PROMPT)
    b["turbotext"].keys = {"another-key"}  # ours is no longer valid
    response = cloud_post(b, photos.green_screen(640, 480))
    _assert_cause(b, ProviderName.TURBOTEXT, response, "key_rejected", "turbotext_http_401")


def test_a_slow_job_shows_accepted_with_its_job_while_it_runs(cloud_booth) -> None:  # noqa: F811
    b = cloud_booth(ProviderName.GEMINI, ProcessingType.PROMPT)
    b["gemini"].script(Behaviour.slow(3.0))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        upload = pool.submit(cloud_post, b, photos.green_screen(640, 480))
        client = _operator(b)
        deadline = time.monotonic() + 3.0
        entries: list = []
        while time.monotonic() < deadline and not entries:
            entries = client.get("/api/slots/gemini/1/trace").json()["entries"]
            time.sleep(0.1)
        assert not upload.done(), "the job ended before it was seen running"
        assert [(e["outcome"], e["status"]) for e in entries] == [("accepted", None)]
        job_id = entries[0]["job_id"]
        response = upload.result()
    assert response.status_code == 200 and response.headers["x-boothai-job"] == job_id
    [entry] = trace({"operator": client}, provider="gemini")
    assert (entry["outcome"], entry["job_id"]) == ("done", job_id)  # the same entry, ended


def test_failed_job_with_fallback_is_traced_failed_with_200(cloud_booth) -> None:  # noqa: F811
    b = cloud_booth(ProviderName.GEMINI, ProcessingType.PROMPT, fallback=True)
    b["gemini"].script(Behaviour.finish("IMAGE_SAFETY"))
    guest = photos.green_screen(640, 480)
    response = cloud_post(b, guest)
    assert response.status_code == 200 and response.content == guest
    job, entry = _failed(b, ProviderName.GEMINI)
    assert (entry["outcome"], entry["status"], entry["cause"]) == ("failed", 200,
                                                                   "safety_block")
    assert entry["job_id"] == response.headers["x-boothai-job"] == job["job_id"]


# Every code a provider raises by name has a cause the operator can act on; the few that
# are "read the provider's words" are listed here on purpose.
_PROVIDER_ERROR_ON_PURPOSE = {
    "turbotext_error", "turbotext_bad_answer", "turbotext_download_failed",
    "turbotext_link_refused", "generation_error",
}


def _named_reasons() -> set[str]:
    root = Path(__file__).resolve().parents[2] / "shared"
    found = set()
    for path in root.rglob("*.py"):
        found |= set(re.findall(r'ProviderFailed\(\s*"([a-z0-9_:]+)"', path.read_text()))
    return found


def test_every_named_provider_reason_has_a_cause() -> None:
    reasons = _named_reasons()
    assert {"gemini_key_invalid", "gemini_permission_denied", "gemini_no_image"} <= reasons
    vague = {r for r in reasons if cause_of(r) is Cause.PROVIDER_ERROR}
    assert vague == _PROVIDER_ERROR_ON_PURPOSE & reasons


@pytest.mark.parametrize(("reason", "cause"), [
    ("gemini_http_403", "key_rejected"), ("turbotext_http_429", "quota"),
    ("turbotext_http_503", "overloaded"), ("qwen_model_not_ready", "unreachable"),
    ("deadline", "timeout"), ("missing_reference", "not_configured"),
    ("interrupted", "interrupted"), ("something_new", "provider_error"),
])
def test_cause_of_codes_the_pipeline_and_http_make(reason, cause) -> None:
    assert cause_of(reason) == cause
