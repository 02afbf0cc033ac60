"""Booths on a short window (3 s, answer by 2 s) over storage that can be made to fail."""

from __future__ import annotations

import time

import httpx
import pytest

from shared.config import Settings
from shared.domain import Job, JobStatus
from shared.services import Services, build_services
from tests.conftest import run
from tests.faults.faulty import Faults, wrap_storage
from tests.helpers import photos
from tests.helpers.booth import local_booth

WINDOW, MARGIN = 3.0, 1.0
ANSWER_BY = WINDOW - MARGIN


setup_booth = local_booth


def post_photo(url: str, password: str, data: bytes | None = None,
               timeout: float = 30.0) -> tuple[httpx.Response, float]:
    data = data or photos.green_screen(640, 427)
    started = time.monotonic()
    response = httpx.post(url, data=photos.dslr_fields(password),
                          files={"fileToUpload": ("IMG_0001.JPG", data, "image/jpeg")},
                          timeout=timeout)
    return response, time.monotonic() - started


def wait_for_job(services: Services, done, tenant: str = "acme", timeout: float = 10.0) -> Job:
    """The newest job once `done(job)` holds (bookkeeping may finish after the answer)."""
    deadline, job = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        jobs = run(services.repo.recent_jobs(tenant, limit=1))
        job = jobs[0] if jobs else None
        if job is not None and done(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job did not settle: {job}")


def closed(job: Job) -> bool:
    return job.status in (JobStatus.DONE, JobStatus.FAILED) and (
        job.status is JobStatus.DONE or job.original_key.startswith("trash/"))


@pytest.fixture
def faulty_booth(tmp_path, live_server_factory):
    """A live server whose tables and object store go through one `Faults` switchboard."""
    faults = Faults()
    settings = Settings(data_dir=tmp_path / "data", enabled_providers=["local"],
                        booth_window_seconds=WINDOW, booth_safety_margin_seconds=MARGIN)
    real = build_services(settings)
    tables, store = wrap_storage(real.tables, real.store, faults)
    services = build_services(settings, tables=tables, store=store)
    tenant, slot = run(setup_booth(services))
    server = live_server_factory(services)
    return {"services": services, "faults": faults, "base": server.url,
            "url": f"{server.url}/u/{slot.upload_token}", "password": tenant.upload_password}
