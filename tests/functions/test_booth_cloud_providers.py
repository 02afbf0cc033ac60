"""Booth requests end to end through the cloud providers: a real app on loopback, DSLR-shaped
uploads to `POST /u/{token}`, the real google-genai client and httpx talking to fake Gemini
and Turbotext servers (Turbotext downloads our signed /media links and calls our webhook)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from shared.config import Settings
from shared.domain import JobStatus, ProcessingType, ProviderName
from shared.job_signals import JobSignals
from shared.services import build_services
from shared.signed_links import webhook_token
from tests.conftest import free_port, run
from tests.fakes.gemini_server import Behaviour, FakeGemini
from tests.fakes.server import run_app_in_thread
from tests.fakes.turbotext_server import FakeTurbotext, TBehaviour
from tests.helpers import photos

GEMINI_KEY = "test-gemini-key"
TURBOTEXT_KEY = "test-turbotext-key"


@pytest.fixture
def fakes():
    gemini, turbotext = FakeGemini(GEMINI_KEY), FakeTurbotext(TURBOTEXT_KEY)
    g_base, g_stop = run_app_in_thread(gemini.app)
    t_base, t_stop = run_app_in_thread(turbotext.app)
    yield {"gemini": gemini, "gemini_url": g_base, "turbotext": turbotext, "turbotext_url": t_base}
    g_stop()
    t_stop()


@pytest.fixture
def booth(tmp_path, fakes, live_server_factory, monkeypatch):
    """Start an app whose public base URL is its own loopback address (so Turbotext can reach
    /media and /hooks), with both cloud providers pointed at the fakes."""

    def make(provider: ProviderName, type: ProcessingType, *, window: float = 50.0,
             prompt: str = "a sunny beach", fallback: bool = False, **slot_fields):
        port = free_port()
        settings = Settings(
            data_dir=tmp_path / "data", enabled_providers=["gemini", "turbotext"],
            public_base_url=f"http://127.0.0.1:{port}",
            gemini_api_key=GEMINI_KEY, gemini_base_url=fakes["gemini_url"],
            turbotext_api_key=TURBOTEXT_KEY, turbotext_base_url=fakes["turbotext_url"],
            booth_window_seconds=window, booth_safety_margin_seconds=1.0,
        )
        services = build_services(settings)
        tenant, slot = run(_setup_slot(services, provider, type, prompt, fallback, slot_fields))
        server = live_server_factory(services, port)
        return {"services": services, "url": f"{server.url}/u/{slot.upload_token}",
                "base": server.url, "password": tenant.upload_password, **fakes}

    return make


async def _setup_slot(services, provider, type, prompt, fallback, slot_fields):
    tenant, _ = await services.create_tenant("acme", "pw-acme")
    slot = await services.repo.get_slot("acme", provider, 1)
    key = f"references/acme/{provider}/01.jpg"
    await asyncio.to_thread(services.store.put, key, photos.background(), "image/jpeg")
    slot.type, slot.enabled, slot.prompt = type, True, prompt
    slot.reference_key, slot.reference_mime = key, "image/jpeg"
    slot.fallback_to_original = fallback
    for name, value in slot_fields.items():
        setattr(slot, name, value)
    await services.repo.save_slot(slot)
    return tenant, slot


def post_photo(b: dict, data: bytes, timeout: float = 60.0) -> httpx.Response:
    return httpx.post(b["url"], data=photos.dslr_fields(b["password"]),
                      files={"fileToUpload": ("IMG_0003.JPG", data, "image/jpeg")},
                      timeout=timeout)


def settled_job(services):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        jobs = run(services.repo.recent_jobs("acme", limit=1))
        if jobs and jobs[0].status is JobStatus.DONE:
            return jobs[0]
        if jobs and jobs[0].status is JobStatus.FAILED and jobs[0].original_key.startswith(
                "trash/"):
            return jobs[0]
        time.sleep(0.05)
    raise AssertionError("job never settled")


def counts(services, provider):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # counting may finish just after the answer
        today = run(services.repo.read_stats("acme")).get(provider, {}).get("today")
        if today is not None and today.done + today.failed:
            return today
        time.sleep(0.05)
    raise AssertionError("nothing counted")


def assert_image(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] in ("image/jpeg", "image/png")
    assert photos.decode(response.content).size[0] > 0


# -- every type on both providers ---------------------------------------------------------------
@pytest.mark.parametrize("type", list(ProcessingType))
def test_gemini_each_type(booth, type):
    b = booth(ProviderName.GEMINI, type)
    guest = photos.green_screen(800, 600)
    assert_image(post_photo(b, guest))
    (req,) = b["gemini"].requests
    assert req.kinds == ["image", "image", "text"]
    assert req.aspect_ratio == "4:3"
    job = settled_job(b["services"])
    assert job.status is JobStatus.DONE and job.provider is ProviderName.GEMINI
    assert counts(b["services"], ProviderName.GEMINI).done == 1


@pytest.mark.parametrize(
    ("type", "method"),
    [(ProcessingType.FACE_SWAP, "deepfake_photo"), (ProcessingType.BACKGROUND, "mix_images"),
     (ProcessingType.PROMPT, "generate_image2image")],
)
def test_turbotext_each_type_by_webhook(booth, type, method):
    b = booth(ProviderName.TURBOTEXT, type)
    b["turbotext"].script(TBehaviour(ready_after=60, webhook_delay=0.2))  # only the hook can win
    started = time.monotonic()
    assert_image(post_photo(b, photos.green_screen(800, 600)))
    assert time.monotonic() - started < 5
    job = b["turbotext"].only_job
    assert job.method == method
    assert job.webhook_statuses == [200]
    # Turbotext fetched the guest photo through our signed /media link.
    photo_field = "url" if type is ProcessingType.PROMPT else "url_image_target"
    assert job.fields[photo_field].startswith(f"{b['base']}/media/inputs/acme/")
    assert photos.decode(job.inputs[photo_field]).size == (800, 600)
    assert settled_job(b["services"]).status is JobStatus.DONE
    assert counts(b["services"], ProviderName.TURBOTEXT).done == 1


# -- failures: status, reason in the job and stats, original in trash ------------------------------
@pytest.mark.parametrize(
    ("provider", "script", "reason"),
    [
        (ProviderName.GEMINI, Behaviour.blocked("PROHIBITED_CONTENT"),
         "gemini_prohibited_content"),
        (ProviderName.GEMINI, Behaviour.finish("IMAGE_SAFETY"), "gemini_image_safety"),
        (ProviderName.GEMINI, Behaviour.text_only(), "gemini_text_only"),
        (ProviderName.TURBOTEXT, TBehaviour(forbidden=True), "turbotext_forbidden_content"),
        (ProviderName.TURBOTEXT, TBehaviour(create_status=503), "turbotext_http_503"),
    ],
)
def test_refusal_is_502_with_reason_and_original_in_trash(booth, provider, script, reason):
    b = booth(provider, ProcessingType.BACKGROUND)
    b[str(provider)].script(script)
    guest = photos.green_screen(640, 480)
    response = post_photo(b, guest)
    assert response.status_code == 502
    assert reason in response.text
    job = settled_job(b["services"])
    assert job.status is JobStatus.FAILED and job.reason == reason
    assert job.original_key.startswith("trash/")
    assert b["services"].store.get(job.original_key) == guest
    assert counts(b["services"], provider).failed == 1


@pytest.mark.parametrize("provider", [ProviderName.GEMINI, ProviderName.TURBOTEXT])
def test_hanging_service_answers_504_inside_the_window_and_stops_calling(booth, provider):
    b = booth(provider, ProcessingType.PROMPT, window=4.0)
    b[str(provider)].script(Behaviour.hang() if provider is ProviderName.GEMINI
                            else TBehaviour(ready_after=60, webhook_times=0))
    started = time.monotonic()
    response = post_photo(b, photos.green_screen(640, 480))
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert elapsed < 4.0 - 0.5
    job = settled_job(b["services"])
    assert job.reason == "deadline" and job.original_key.startswith("trash/")
    answered = time.monotonic()
    time.sleep(1.5)
    if provider is ProviderName.GEMINI:
        assert len(b["gemini"].requests) == 1
    else:
        assert b["turbotext"].calls_after(answered) == []


def test_hanging_gemini_with_fallback_flag_returns_the_original(booth):
    b = booth(ProviderName.GEMINI, ProcessingType.PROMPT, window=3.0, fallback=True)
    b["gemini"].script(Behaviour.hang())
    guest = photos.green_screen(640, 480)
    response = post_photo(b, guest)
    assert response.status_code == 200 and response.content == guest


# -- webhook edge cases --------------------------------------------------------------------------
def test_duplicate_webhook_is_harmless(booth):
    b = booth(ProviderName.TURBOTEXT, ProcessingType.PROMPT)
    b["turbotext"].script(TBehaviour(ready_after=60, webhook_times=2))
    assert_image(post_photo(b, photos.green_screen(640, 480)))
    time.sleep(0.3)
    assert b["turbotext"].only_job.webhook_statuses == [200, 200]
    assert counts(b["services"], ProviderName.TURBOTEXT).done == 1


def test_lost_callback_is_caught_by_polling(booth):
    b = booth(ProviderName.TURBOTEXT, ProcessingType.PROMPT)
    b["turbotext"].script(TBehaviour(webhook_times=0, reconnects=0))
    assert_image(post_photo(b, photos.green_screen(640, 480)))
    assert len(b["turbotext"].only_job.polls) >= 1


def test_webhook_with_a_bad_token_is_403(booth):
    b = booth(ProviderName.TURBOTEXT, ProcessingType.PROMPT)
    r = httpx.post(f"{b['base']}/hooks/turbotext/somejob?t=forged", json={"success": True})
    assert r.status_code == 403
    assert run(JobSignals(b["services"].tables).get("somejob")) is None


# -- Turbotext as it really answers: Russian errors, redirects, links from outside ------------------
def _operator_job(b: dict, job_id: str) -> dict:
    """The job as the operator's jobs list gets it from the admin API."""
    stats = httpx.get(f"{b['base']}/api/stats", auth=("acme", "pw-acme"), timeout=10).json()
    (job,) = [j for j in stats["recent_jobs"] if j["job_id"] == job_id]
    return job


def _no_raw_line_breaks(caplog) -> None:
    for record in caplog.records:
        line = record.getMessage()
        assert "\r" not in line and "\nX-Injected" not in line, line


@pytest.mark.parametrize(("script", "shown", "reason"), [
    (TBehaviour(error="Недостаточно средств"), "Недостаточно средств", "turbotext_no_funds"),
    (TBehaviour(create_error="Недостаточно средств"), "Недостаточно средств",
     "turbotext_no_funds"),
    (TBehaviour(error="Ошибка\r\nX-Injected: 1"), "Ошибка X-Injected: 1", "turbotext_error"),
    (TBehaviour(error="Out of credit\r\nX-Injected: 1"), "Out of credit X-Injected: 1",
     "turbotext_error"),
])
def test_provider_error_text_with_fallback_serves_the_original(booth, caplog, script, shown,
                                                               reason):
    """The original goes back with an ASCII reason header, never a 500; the operator reads
    Turbotext's own words in the jobs list; no log line carries its raw line breaks."""
    caplog.set_level(logging.DEBUG)
    b = booth(ProviderName.TURBOTEXT, ProcessingType.PROMPT, fallback=True)
    b["turbotext"].script(script)
    guest = photos.green_screen(640, 480)
    response = post_photo(b, guest)
    assert response.status_code == 200, response.text
    assert response.content == guest
    assert response.headers["x-boothai-original"] == reason
    assert "x-injected" not in response.headers
    settled_job(b["services"])
    job = _operator_job(b, response.headers["x-boothai-job"])
    assert job["status"] == "failed" and job["reason"] == reason
    assert shown in job["detail"] and "\r" not in job["detail"] and "\n" not in job["detail"]
    _no_raw_line_breaks(caplog)


@pytest.mark.parametrize(("image_size", "sent", "pixels"),
                         [(None, "2K", (2400, 1792)), ("4K", "4K", (4800, 3584))])
def test_gemini_3_slot_gets_a_print_sized_photo(booth, image_size, sent, pixels):
    b = booth(ProviderName.GEMINI, ProcessingType.PROMPT, model="gemini-3-pro-image-preview",
              image_size=image_size)
    response = post_photo(b, photos.green_screen(640, 480))
    assert response.status_code == 200, response.text
    assert b["gemini"].requests[0].image_size == sent
    assert photos.decode(response.content).size == pixels  # 4:3 at 2K / 4K


def test_gemini_safety_refusal_is_named_for_the_operator(booth):
    """A finish reason the guest's photo triggered: the booth gets the original with the named
    reason, the operator reads what to change (and Google's own words) in the jobs list."""
    b = booth(ProviderName.GEMINI, ProcessingType.PROMPT, fallback=True)
    b["gemini"].script(Behaviour.finish("IMAGE_SAFETY"))
    guest = photos.green_screen(640, 480)
    response = post_photo(b, guest)
    assert response.status_code == 200 and response.content == guest
    assert response.headers["x-boothai-original"] == "gemini_image_safety"
    settled_job(b["services"])
    job = _operator_job(b, response.headers["x-boothai-job"])
    assert job["reason"] == "gemini_image_safety"
    assert "try a different prompt" in job["detail"]


def test_provider_error_text_without_fallback_is_a_502_naming_it(booth, caplog):
    caplog.set_level(logging.DEBUG)
    b = booth(ProviderName.TURBOTEXT, ProcessingType.PROMPT)
    b["turbotext"].script(TBehaviour(error="Недостаточно средств\r\nX-Injected: 1"))
    response = post_photo(b, photos.green_screen(640, 480))
    assert response.status_code == 502
    assert "Недостаточно средств X-Injected: 1" in response.text
    assert "x-injected" not in response.headers
    job = settled_job(b["services"])
    assert job.reason == "turbotext_no_funds" and "Недостаточно средств" in job.detail
    _no_raw_line_breaks(caplog)


@pytest.mark.parametrize("shape", ["uploaded_image", "data_uploaded_image", "relative"])
def test_every_result_shape_and_a_redirecting_download_arrive(booth, shape):
    b = booth(ProviderName.TURBOTEXT, ProcessingType.PROMPT)
    b["turbotext"].script(TBehaviour(shape=shape, redirect=True))
    assert_image(post_photo(b, photos.green_screen(640, 480)))
    assert settled_job(b["services"]).status is JobStatus.DONE


@pytest.fixture
def bystander():
    """A service on loopback that is not Turbotext (think: the metadata endpoint)."""
    hits: list[str] = []

    async def anything(request):
        hits.append(request.url.path)
        return Response(photos.green_screen(64, 48), media_type="image/jpeg")

    base, stop = run_app_in_thread(Starlette(routes=[Route("/{path:path}", anything)]))
    yield base, hits
    stop()


@pytest.mark.parametrize("fallback", [False, True])
def test_webhook_body_naming_an_internal_url_fetches_nothing(booth, bystander, fallback):
    """A webhook with a valid token whose body names another loopback server as the result:
    that server gets no request, and the job fails with a named reason."""
    b = booth(ProviderName.TURBOTEXT, ProcessingType.PROMPT, fallback=fallback)
    other, hits = bystander
    b["turbotext"].script(TBehaviour(ready_after=60, webhook_times=0))
    guest = photos.green_screen(640, 480)
    with httpx.Client(timeout=60) as client:
        pending = client.build_request(
            "POST", b["url"], data=photos.dslr_fields(b["password"]),
            files={"fileToUpload": ("IMG_0003.JPG", guest, "image/jpeg")})
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            answer = pool.submit(client.send, pending)
            deadline = time.monotonic() + 10
            while not b["turbotext"].jobs and time.monotonic() < deadline:
                time.sleep(0.05)
            job_id = b["turbotext"].only_job.webhook.split("/hooks/turbotext/")[1].split("?")[0]
            forged = {"success": True, "error": "", "uploaded_image": f"{other}/latest/x"}
            hook = httpx.post(f"{b['base']}/hooks/turbotext/{job_id}"
                              f"?t={webhook_token(b['services'].signer, job_id)}", json=forged)
            assert hook.status_code == 200
            response = answer.result(timeout=30)
    assert hits == []
    if fallback:
        assert response.status_code == 200 and response.content == guest
        assert response.headers["x-boothai-original"] == "turbotext_link_refused"
    else:
        assert response.status_code == 502 and "turbotext_link_refused" in response.text
    assert settled_job(b["services"]).reason == "turbotext_link_refused"
