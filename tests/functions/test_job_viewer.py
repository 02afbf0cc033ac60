"""The job viewer's API over a live server: one job's JSON with its attempts and their
timings, its images whole or as downloads (Content-Disposition, the real type), another
tenant's job as unknown as a made-up one, and a failed job's original read from trash/."""

from __future__ import annotations

import time

import httpx
import pytest

from shared import object_keys
from shared.domain import JobStatus
from shared.services import Services
from tests.conftest import run
from tests.helpers import photos
from tests.helpers.booth import local_booth


@pytest.fixture
def booth(services: Services, live_server):
    tenant, slot = run(local_booth(services, password="acme-pass", fallback=True))
    run(services.create_tenant("rival", "rival-pass"))
    acme = httpx.Client(base_url=live_server.url, auth=("acme", "acme-pass"), timeout=60)
    rival = httpx.Client(base_url=live_server.url, auth=("rival", "rival-pass"), timeout=60)
    yield {"url": f"{live_server.url}/u/{slot.upload_token}", "password": tenant.upload_password,
           "services": services, "acme": acme, "rival": rival}
    acme.close()
    rival.close()


def _upload(booth, photo: bytes, mime: str = "image/jpeg") -> httpx.Response:
    name = "IMG_0001.PNG" if mime == "image/png" else "IMG_0001.JPG"
    return httpx.post(booth["url"], data=photos.dslr_fields(booth["password"]),
                      files={"fileToUpload": (name, photo, mime)}, timeout=60)


def _closed(services: Services, job_id: str):
    """The job once its bookkeeping is done (a failed one's original moved to trash/)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = run(services.repo.get_job("acme", job_id))
        if job and (job.status is JobStatus.DONE or (
                job.status is JobStatus.FAILED and job.original_key.startswith("trash/"))):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never closed")


def test_job_detail_has_the_attempts_with_their_timings(booth) -> None:
    before = time.time()
    response = _upload(booth, photos.green_screen(1200, 800))
    assert response.status_code == 200, response.text
    job_id = response.headers["x-boothai-job"]
    _closed(booth["services"], job_id)

    got = booth["acme"].get(f"/api/jobs/{job_id}")
    assert got.status_code == 200, got.text
    job = got.json()
    assert job["job_id"] == job_id and job["status"] == "done" and job["provider"] == "local"
    assert job["slot_index"] == 1 and job["source"] == "booth" and job["type"] == "background"
    assert job["reason"] == "" and job["total_ms"] >= job["provider_ms"] >= 0
    assert before <= job["created_at"] <= job["started_at"] <= job["finished_at"] <= time.time()
    [attempt] = job["attempts"]
    assert attempt["provider"] == "local" and attempt["outcome"] == "done"
    assert attempt["ms"] == job["provider_ms"]
    assert job["started_at"] <= attempt["started_at"] <= attempt["finished_at"] <= job["finished_at"]
    # The wall-clock span and the measured duration agree (to the clocks' resolution).
    assert abs((attempt["finished_at"] - attempt["started_at"]) * 1000 - attempt["ms"]) < 50
    assert job["original_url"] == f"/api/jobs/{job_id}/original"
    assert job["original_download_url"] == f"/api/jobs/{job_id}/original?download=1"
    assert job["result_download_url"] == f"/api/jobs/{job_id}/result?download=1"
    assert job["original_in_trash"] is False


def test_downloads_are_attachments_named_by_job_and_real_type(booth) -> None:
    # A PNG original (the booth's own cut-out) and a JPEG result: each name follows its bytes.
    response = _upload(booth, photos.png_with_alpha(600, 800), mime="image/png")
    assert response.status_code == 200, response.text
    job_id = response.headers["x-boothai-job"]
    stored = _closed(booth["services"], job_id)
    acme, store = booth["acme"], booth["services"].store
    for which, mime, ext in (("original", "image/png", "png"), ("result", "image/jpeg", "jpg")):
        url = f"/api/jobs/{job_id}/{which}"
        whole = acme.get(url)
        assert whole.status_code == 200 and "content-disposition" not in whole.headers
        download = acme.get(url, params={"download": 1})
        assert download.status_code == 200
        assert download.headers["content-type"] == mime
        assert download.headers["content-disposition"] == (
            f'attachment; filename="{job_id}-{which}.{ext}"')
        assert download.content == whole.content == store.get(getattr(stored, f"{which}_key"))
    thumb = acme.get(f"/api/jobs/{job_id}/original", params={"download": 1, "thumb": 1})
    assert thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["content-disposition"] == (
        f'attachment; filename="{job_id}-original-thumb.jpg"')


def test_another_tenants_job_is_not_found(booth) -> None:
    response = _upload(booth, photos.green_screen(640, 427))
    job_id = response.headers["x-boothai-job"]
    _closed(booth["services"], job_id)
    acme, rival = booth["acme"], booth["rival"]
    assert acme.get(f"/api/jobs/{job_id}").status_code == 200
    for path in (f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/original",
                 f"/api/jobs/{job_id}/result?download=1", "/api/jobs/0000000000000abc",
                 "/api/jobs/not-an-id!"):
        got = rival.get(path)
        assert got.status_code == 404, path
        assert job_id not in got.text and got.headers["content-type"] == "application/json"
    assert httpx.get(f"{acme.base_url}/api/jobs/{job_id}").status_code == 401


def test_a_failed_jobs_original_is_shown_from_trash(booth) -> None:
    # No screen in the photo: the job fails, the booth gets its original back (the slot opts
    # in), and the original moves to trash/ — where the viewer still finds it.
    photo = photos.plain_photo(1000, 700)
    response = _upload(booth, photo)
    assert response.status_code == 200 and response.content == photo
    assert response.headers["x-boothai-original"] == "local_no_screen"
    job_id = response.headers["x-boothai-job"]
    stored = _closed(booth["services"], job_id)
    assert stored.original_key.startswith(object_keys.TRASH)

    job = booth["acme"].get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "failed" and job["reason"] == "local_no_screen"
    assert "no green or blue screen found in the photo" in job["detail"]
    assert job["original_in_trash"] is True and job["result_url"] is None
    assert job["result_download_url"] is None
    assert [a["outcome"] for a in job["attempts"]] == ["local_no_screen"]
    original = booth["acme"].get(job["original_download_url"])
    assert original.status_code == 200 and original.content == photo
    assert original.headers["content-disposition"] == (
        f'attachment; filename="{job_id}-original.jpg"')
    assert booth["acme"].get(f"/api/jobs/{job_id}/result").status_code == 404
