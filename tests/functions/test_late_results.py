"""Late results on `boothai serve`: a slot whose provider is slower than the booth's window
answers the booth with the original in time, and the job goes on in the process to its end
(shared/late_results.py). A real app on loopback, DSLR-shaped uploads, the real google-genai
client talking to the fake Gemini server, which takes as long as a test says."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import httpx
import pytest

from shared.config import Settings
from shared.domain import JobStatus, LateAnswer, ProcessingType, ProviderName
from shared.errors import StorageUnavailable
from shared.services import build_services
from tests.conftest import free_port, run
from tests.fakes.gemini_server import Behaviour, FakeGemini
from tests.fakes.server import run_app_in_thread
from tests.helpers import photos
from tests.helpers.qr import decode_qr

GEMINI_KEY = "test-gemini-key"


@pytest.fixture
def gemini():
    fake = FakeGemini(GEMINI_KEY)
    base, stop = run_app_in_thread(fake.app)
    fake.base_url = base
    yield fake
    stop()


@pytest.fixture
def booth(tmp_path, gemini, live_server_factory):
    """A Gemini prompt slot answering late as asked, behind a live server."""

    def make(*, window: float, when_late: LateAnswer = LateAnswer.ORIGINAL,
             late_limit: int = 180, fallback: bool = False, services=None, **slot_fields):
        port = free_port()
        settings = Settings(data_dir=tmp_path / "data", enabled_providers=["gemini"],
                            gemini_api_key=GEMINI_KEY, gemini_base_url=gemini.base_url,
                            booth_window_seconds=window, booth_safety_margin_seconds=1.0)
        services = services or build_services(settings)
        tenant, slot = run(_setup(services, when_late, late_limit, fallback, slot_fields))
        server = live_server_factory(services, port)
        return {"services": services, "url": f"{server.url}/u/{slot.upload_token}",
                "base": server.url, "password": tenant.upload_password, "settings": settings}

    return make


async def _setup(services, when_late, late_limit, fallback, slot_fields):
    tenant, _ = await services.create_tenant("acme", "pw-acme")
    slot = await services.repo.get_slot("acme", ProviderName.GEMINI, 1)
    slot.type, slot.enabled, slot.prompt = ProcessingType.PROMPT, True, "a sunny beach"
    slot.when_late, slot.fallback_to_original = when_late, fallback
    # Saved straight through the repository: the API's lower bound (60 s) would make the
    # limit's own test wait a minute.
    slot.late_limit_seconds = late_limit
    for name, value in slot_fields.items():
        setattr(slot, name, value)
    await services.repo.save_slot(slot)
    return tenant, slot


def post_photo(b: dict, data: bytes) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(b["url"], data=photos.dslr_fields(b["password"]),
                          files={"fileToUpload": ("IMG_0003.JPG", data, "image/jpeg")},
                          timeout=120)
    return response, time.monotonic() - started


def job_of(b: dict, response: httpx.Response):
    return run(b["services"].repo.get_job("acme", response.headers["x-boothai-job"]))


def ended(b: dict, job_id: str, within: float):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        job = run(b["services"].repo.get_job("acme", job_id))
        if job.status in (JobStatus.DONE, JobStatus.FAILED):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end within {within} s")


def totals(b: dict):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # counters land just after the job's row
        total = run(b["services"].repo.read_stats("acme")).get(ProviderName.GEMINI, {}).get("total")
        if total is not None and (total.done + total.failed):
            return total
        time.sleep(0.05)
    raise AssertionError("nothing counted")


def test_the_booth_gets_the_original_in_time_and_the_job_ends_done_late(booth, gemini):
    b = booth(window=4.0)
    gemini.script(Behaviour.slow(6.0))
    guest = photos.green_screen(800, 600)
    response, took = post_photo(b, guest)

    # In time, with the guest's own photo, byte for byte, and why.
    assert response.status_code == 200
    assert took < 4.0 - 0.5
    assert response.content == guest
    assert response.headers["x-boothai-original"] == "late"
    assert "x-boothai-share" not in response.headers  # "original": no QR, no share link
    job = job_of(b, response)
    assert job.status is JobStatus.RUNNING and not job.late

    # The process keeps working after the answer: the job ends done, late, its result kept.
    job = ended(b, job.job_id, within=10)
    assert job.status is JobStatus.DONE and job.late
    assert job.attempts[-1]["outcome"] == "done"
    assert job.original_key.startswith("originals/")
    assert photos.decode(b["services"].store.get(job.result_key)).size[0] > 0
    total = totals(b)
    assert (total.done, total.late, total.failed) == (1, 1, 0)
    # The slot's trace says what the booth got.
    (entry,) = run(b["services"].console.trace("acme", "gemini", 1))
    assert entry.reason == "late" and entry.status == 200 and entry.job_id == job.job_id
    assert entry.outcome == "late"


def test_a_late_slot_whose_provider_answers_in_time_answers_as_always(booth, gemini):
    b = booth(window=6.0)
    gemini.script(Behaviour.slow(0.3))
    response, _ = post_photo(b, photos.green_screen(800, 600))
    assert response.status_code == 200
    assert "x-boothai-original" not in response.headers
    assert photos.decode(response.content).size[0] > 0
    job = ended(b, response.headers["x-boothai-job"], within=2)
    assert job.status is JobStatus.DONE and not job.late
    assert response.content == b["services"].store.get(job.result_key)
    total = totals(b)
    assert (total.done, total.late) == (1, 0)


def test_a_failure_inside_the_window_is_answered_as_always(booth, gemini):
    b = booth(window=6.0)
    gemini.script(Behaviour.blocked("PROHIBITED_CONTENT"))
    response, _ = post_photo(b, photos.green_screen(640, 480))
    assert response.status_code == 502
    assert "gemini_prohibited_content" in response.text
    job = ended(b, response.headers.get("x-boothai-job") or
                run(b["services"].repo.recent_jobs("acme", 1))[0].job_id, within=2)
    assert job.status is JobStatus.FAILED and not job.late
    assert job.original_key.startswith("trash/")


def test_a_failure_after_the_window_closes_the_job_failed_late(booth, gemini):
    b = booth(window=3.0)
    gemini.script(Behaviour.error(400, latency=4.0))  # 400: the SDK does not retry it
    guest = photos.green_screen(640, 480)
    response, took = post_photo(b, guest)
    assert response.status_code == 200 and response.content == guest and took < 2.6
    job = ended(b, response.headers["x-boothai-job"], within=10)
    assert job.status is JobStatus.FAILED and job.late
    assert job.original_key.startswith("trash/")  # every failed job's original, as always
    assert b["services"].store.get(job.original_key) == guest
    total = totals(b)
    assert (total.done, total.failed, total.late) == (0, 1, 0)  # `late` counts done ones


def test_the_job_keeps_working_only_up_to_the_slot_limit(booth, gemini):
    b = booth(window=2.0, late_limit=4)
    gemini.script(Behaviour.hang())
    response, _ = post_photo(b, photos.green_screen(640, 480))
    assert response.headers["x-boothai-original"] == "late"
    job = ended(b, response.headers["x-boothai-job"], within=8)
    assert job.status is JobStatus.FAILED and job.late and job.reason == "deadline"
    # Ended at the limit, counted from the photo's arrival, not a moment before.
    assert 3.5 <= job.finished_at - job.created_at <= 5.5


def test_a_restart_closes_a_job_still_working_as_failed(booth, gemini, tmp_path):
    b = booth(window=2.0)
    gemini.script(Behaviour.hang())
    response, _ = post_photo(b, photos.green_screen(640, 480))
    job_id = response.headers["x-boothai-job"]
    assert job_of(b, response).status is JobStatus.RUNNING
    # The process stops (its task with it); the next start closes what was left running.
    restarted = build_services(b["settings"])
    try:
        assert run(restarted.interrupted_jobs.close_all()) == 1
        job = run(restarted.repo.get_job("acme", job_id))
        assert job.status is JobStatus.FAILED and job.reason == "interrupted"
        assert job.original_key.startswith("trash/")
    finally:
        run(restarted.aclose())


def test_when_late_error_keeps_answering_504(booth, gemini):
    b = booth(window=3.0, when_late=LateAnswer.ERROR)
    gemini.script(Behaviour.hang())
    response, took = post_photo(b, photos.green_screen(640, 480))
    assert response.status_code == 504 and took < 2.6
    job = ended(b, run(b["services"].repo.recent_jobs("acme", 1))[0].job_id, within=3)
    assert job.status is JobStatus.FAILED and not job.late


class _Unreachable:
    """A finisher whose hand-over fails, as an unreachable queue does."""

    async def hand_over(self, work, finish):
        raise StorageUnavailable("SQS send_message: unreachable")


def test_a_job_that_cannot_be_handed_over_runs_in_the_window(booth, gemini, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", enabled_providers=["gemini"],
                        gemini_api_key=GEMINI_KEY, gemini_base_url=gemini.base_url,
                        booth_window_seconds=6.0, booth_safety_margin_seconds=1.0)
    services = build_services(settings)
    services.__dict__["finisher"] = _Unreachable()  # before the pipeline is built
    b = booth(window=6.0, services=services)
    gemini.script(Behaviour.slow(0.3))
    response, _ = post_photo(b, photos.green_screen(640, 480))
    assert response.status_code == 200 and "x-boothai-original" not in response.headers
    assert ended(b, response.headers["x-boothai-job"], within=2).status is JobStatus.DONE


def test_late_answers_are_only_for_booth_photos(booth, gemini):
    """Try it answers inside its own wait: the operator is looking at the screen."""
    b = booth(window=3.0)
    gemini.script(Behaviour.hang())
    response = httpx.post(f"{b['base']}/api/slots/gemini/1/test", auth=("acme", "pw-acme"),
                          files={"file": ("g.jpg", photos.green_screen(640, 480), "image/jpeg")},
                          headers={"Origin": b["base"]}, timeout=30)
    assert response.status_code == 504
    asyncio.run(asyncio.sleep(0))


# -- the QR code: the original stamped in time, the share page it opens ------------------------
def test_a_qr_original_in_time_decodes_to_the_share_page_which_shows_the_result(booth, gemini):
    """The issue's case: the provider takes 15 s, the booth waits 10."""
    b = booth(window=10.0, when_late=LateAnswer.ORIGINAL_QR, share_pages=True,
              late_text="Ваше AI-фото уже в работе: отсканируйте код")
    gemini.script(Behaviour.slow(15.0))
    guest = photos.green_screen(1800, 1200)
    response, took = post_photo(b, guest)
    assert response.status_code == 200 and took < 10.0 - 0.5
    assert response.headers["x-boothai-original"] == "late"
    share = response.headers["x-boothai-share"]
    assert share.startswith(f"{b['base']}/s/")
    assert decode_qr(response.content) == share  # a standard reader, at the print's size
    assert photos.decode(response.content).size == (1800, 1200)

    page = httpx.get(share, headers={"Accept-Language": "ru"})
    assert page.status_code == 200 and 'http-equiv="refresh"' in page.text
    assert httpx.get(f"{share}/original").content == guest  # the page shows the unstamped one

    job = ended(b, response.headers["x-boothai-job"], within=15)
    assert job.status is JobStatus.DONE and job.late
    page = httpx.get(share)
    assert page.status_code == 200 and "refresh" not in page.text
    assert httpx.get(f"{share}/result").content == b["services"].store.get(job.result_key)
    assert (totals(b).done, totals(b).late) == (1, 1)


def test_qr_on_results_stamps_the_ai_result_the_booth_gets(booth, gemini):
    b = booth(window=8.0, when_late=LateAnswer.ERROR, qr_on_results=True, share_pages=True)
    gemini.script(Behaviour.slow(0.2))
    response, _ = post_photo(b, photos.green_screen(1200, 800))
    assert response.status_code == 200 and "x-boothai-original" not in response.headers
    share = response.headers["x-boothai-share"]
    assert decode_qr(response.content) == share
    job = ended(b, response.headers["x-boothai-job"], within=2)
    # The stored result, the one the share page serves, is the provider's own, unstamped.
    stored = b["services"].store.get(job.result_key)
    assert stored != response.content and decode_qr(stored) is None
    assert httpx.get(f"{share}/result").content == stored


def test_no_share_pages_no_qr(booth, gemini):
    """A slot saved before the rule (or switched off straight in the store) prints no code
    that would answer 404: the plain original goes out."""
    b = booth(window=3.0, when_late=LateAnswer.ORIGINAL_QR, share_pages=False)
    gemini.script(Behaviour.hang())
    guest = photos.green_screen(640, 480)
    response, _ = post_photo(b, guest)
    assert response.status_code == 200 and response.content == guest
    assert "x-boothai-share" not in response.headers


# -- the finisher's side (AWS's LateJobs, here over the embedded store) ------------------------
class _Parked:
    """A finisher that takes the order and never answers: the queue, before the finisher
    function has run."""

    def __init__(self) -> None:
        self.orders = []

    async def hand_over(self, work, finish):
        self.orders.append(work.order)
        return _NeverDone()


class _NeverDone:
    async def wait(self, until):
        await asyncio.sleep(max(0.0, until - time.monotonic()))
        return None


@pytest.fixture
def parked(tmp_path, gemini, booth):
    settings = Settings(data_dir=tmp_path / "data", enabled_providers=["gemini"],
                        gemini_api_key=GEMINI_KEY, gemini_base_url=gemini.base_url,
                        booth_window_seconds=2.0, booth_safety_margin_seconds=0.5)
    services = build_services(settings)
    finisher = _Parked()
    services.__dict__["finisher"] = finisher  # before the pipeline is built
    b = booth(window=2.0, services=services)
    response, _ = post_photo(b, photos.green_screen(640, 480))
    assert response.headers["x-boothai-original"] == "late"
    (order,) = finisher.orders
    assert job_of(b, response).status is JobStatus.RUNNING
    return b, order


def test_the_finisher_runs_a_handed_over_job_once(parked, gemini):
    b, order = parked
    gemini.script(Behaviour.slow(0.2))
    finished = run(b["services"].late_jobs.run(order))
    assert finished.job.status is JobStatus.DONE and finished.job.late
    job = run(b["services"].repo.get_job("acme", order.job_id))
    assert job.status is JobStatus.DONE and job.late and job.result_key
    assert run(b["services"].late_jobs.run(order)) is None  # delivered again: nothing to do
    assert len(gemini.requests) == 1


def test_two_deliveries_of_one_order_at_once_call_the_provider_once(parked, gemini):
    """SQS delivers at least once: a copy of the order may reach a second finisher while the
    first still runs it."""
    b, order = parked
    gemini.script(Behaviour.slow(1.0))

    async def both():
        return await asyncio.gather(b["services"].late_jobs.run(order),
                                    b["services"].late_jobs.run(order))

    results = run(both())
    assert sorted(r is None for r in results) == [False, True]
    assert len(gemini.requests) == 1
    assert run(b["services"].repo.get_job("acme", order.job_id)).status is JobStatus.DONE


def test_a_slot_changed_before_the_finisher_ran_closes_the_job(parked, gemini):
    b, order = parked
    slot = run(b["services"].repo.get_slot("acme", ProviderName.GEMINI, 1))
    slot.type = ProcessingType.FACE_SWAP  # now needs a reference it does not have
    run(b["services"].repo.save_slot(slot))
    run(b["services"].late_jobs.run(order))
    job = run(b["services"].repo.get_job("acme", order.job_id))
    assert job.status is JobStatus.FAILED and job.reason == "gemini_slot_not_ready"
    assert job.cause == "not_configured" and job.original_key.startswith("trash/")
    assert gemini.requests == []


def test_an_order_for_a_gone_slot_closes_the_job(parked, gemini):
    b, order = parked
    run(b["services"].late_jobs.run(dataclasses.replace(order, slot_index=99)))
    job = run(b["services"].repo.get_job("acme", order.job_id))
    assert (job.status, job.reason, job.cause) == (JobStatus.FAILED, "slot_gone", "not_configured")
    assert job.original_key.startswith("trash/")
    assert gemini.requests == []


def test_an_order_delivered_after_its_limit_closes_the_job_unrun(parked, gemini):
    """The queue gives an order back after a crashed finisher's visibility timeout; by then
    the job's limit may have passed: closed as failed, the provider never called."""
    b, order = parked
    run(b["services"].late_jobs.run(dataclasses.replace(order, finish_by=time.time() - 1)))
    job = run(b["services"].repo.get_job("acme", order.job_id))
    assert (job.status, job.reason, job.cause) == (JobStatus.FAILED, "deadline", "timeout")
    assert job.late
    assert gemini.requests == []


def test_a_stamped_original_fits_the_answer_a_lambda_can_send(booth, gemini, monkeypatch):
    """On Lambda an answer's body is at most 4 MB; the original arrived within that, but
    re-encoded with its stamp it may not: it is fitted like a result, the code still reads."""
    guest = photos.plain_photo(1800, 1200)  # camera grain at q90: ~510 KB
    limit = len(guest) + 10_000  # the booth's photo fits; stamped (re-encoded at q92), not
    monkeypatch.setattr(Settings, "response_body_limit", property(lambda self: limit))
    b = booth(window=3.0, when_late=LateAnswer.ORIGINAL_QR, share_pages=True)
    gemini.script(Behaviour.hang())
    response, _ = post_photo(b, guest)
    assert response.status_code == 200 and response.headers["x-boothai-original"] == "late"
    assert len(response.content) <= limit
    assert decode_qr(response.content) == response.headers["x-boothai-share"]
