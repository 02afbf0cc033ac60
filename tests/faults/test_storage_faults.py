"""The object store or the tables go down or slow in the middle of booth traffic: the booth
still gets an answer inside its window (503), the photo is kept or the answer says why it
could not be, no job stays `running`, and the server recovers by itself."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from shared.config import Settings
from shared.domain import JobStatus
from shared.services import build_services
from tests.conftest import free_port, run
from tests.faults.conftest import ANSWER_BY, WINDOW, closed, post_photo, setup_booth, wait_for_job

SLOW = 2.6  # longer than the answer budget (2 s)


def assert_healthy_after(b: dict) -> None:
    b["faults"].clear()
    assert httpx.get(b["base"] + "/health", timeout=5).status_code == 200
    response, _ = post_photo(b["url"], b["password"])
    assert response.status_code == 200, response.text


def test_object_store_down_when_storing_the_photo(faulty_booth) -> None:
    b = faulty_booth
    b["faults"].down("put", key_prefix="originals/")
    response, elapsed = post_photo(b["url"], b["password"])
    assert response.status_code == 503 and elapsed < ANSWER_BY
    assert "injected outage" in response.text  # says exactly why the photo is not kept
    assert run(b["services"].repo.recent_jobs("acme")) == []  # no job was opened
    assert_healthy_after(b)


def test_object_store_slow_when_storing_the_photo(faulty_booth) -> None:
    b = faulty_booth
    b["faults"].slow("put", SLOW, key_prefix="originals/")
    response, elapsed = post_photo(b["url"], b["password"])
    assert response.status_code == 503 and elapsed < WINDOW
    assert response.text.strip() == "storage too slow while storing the photo"
    # The health check answers while the slow write is still stuck in its thread.
    assert httpx.get(b["base"] + "/health", timeout=5).status_code == 200
    # The late write still lands: the photo is kept.
    deadline = time.monotonic() + SLOW + 2
    while not b["services"].store.list("originals/") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert b["services"].store.list("originals/")
    assert_healthy_after(b)


@pytest.mark.parametrize("fault", ["down", "slow"])
def test_job_table_fails_when_opening_the_job(faulty_booth, fault) -> None:
    """The original is stored, the job write fails or is too slow: the booth gets 503 in time,
    and once the late write lands the job is closed as failed with its original in trash."""
    b = faulty_booth
    if fault == "down":
        b["faults"].down("put", table="jobs")
    else:
        b["faults"].slow("put", SLOW, table="jobs")
    response, elapsed = post_photo(b["url"], b["password"])
    assert response.status_code == 503 and elapsed < WINDOW
    services = b["services"]
    if fault == "slow":
        job = wait_for_job(services, closed, timeout=SLOW + 5)
        assert job.status is JobStatus.FAILED and job.reason == "storage_unavailable"
        assert services.store.get(job.original_key)
    else:
        # The table never took the job; the photo is kept in trash/ for the operator.
        deadline = time.monotonic() + 5
        while not services.store.list("trash/") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(services.store.list("trash/")) == 1
    assert services.store.list("originals/") == []
    b["faults"].clear()
    assert all(j.status is not JobStatus.RUNNING for j in run(services.repo.recent_jobs("acme")))
    assert_healthy_after(b)


def test_result_store_slow_still_answers_the_guest(faulty_booth) -> None:
    """The guest does not wait for a slow result write; once it lands, the job is closed
    as done with its result kept (the row is written after the result, on the same thread)."""
    b = faulty_booth
    b["faults"].slow("put", SLOW, key_prefix="results/")
    response, elapsed = post_photo(b["url"], b["password"])
    assert response.status_code == 200 and elapsed < WINDOW
    assert response.headers["content-type"] == "image/jpeg"
    job = wait_for_job(b["services"], closed, timeout=SLOW + 5)
    assert job.status is JobStatus.DONE and job.reason in (None, "")
    assert b["services"].store.get(job.result_key)
    assert b["services"].store.get(job.original_key)
    assert_healthy_after(b)


def test_result_store_down_still_answers_the_guest(faulty_booth) -> None:
    b = faulty_booth
    b["faults"].down("put", key_prefix="results/")
    response, elapsed = post_photo(b["url"], b["password"])
    assert response.status_code == 200 and elapsed < ANSWER_BY
    job = wait_for_job(b["services"], closed)
    assert job.status is JobStatus.DONE and job.reason == "result_not_stored"
    assert job.result_key is None and b["services"].store.get(job.original_key)
    assert_healthy_after(b)


def test_slow_link_lookup_answers_503_in_time(faulty_booth) -> None:
    b = faulty_booth
    b["faults"].slow("get", SLOW, table="lookups")
    response, elapsed = post_photo(b["url"], b["password"])
    assert response.status_code == 503 and elapsed < WINDOW
    assert "looking up the upload link" in response.text
    assert_healthy_after(b)


def test_everything_down_then_back(faulty_booth) -> None:
    b = faulty_booth
    b["faults"].down("*")
    response, elapsed = post_photo(b["url"], b["password"])
    assert response.status_code == 503 and elapsed < WINDOW
    health = httpx.get(b["base"] + "/health", timeout=5)
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert_healthy_after(b)


def test_slow_table_bookkeeping_after_success_does_not_delay_the_guest(faulty_booth) -> None:
    """Only the final job write and the counters are slow: the photo goes out in time and the
    job is closed once the writes land."""
    b = faulty_booth
    b["faults"].slow("update", SLOW, table="stats")
    response, elapsed = post_photo(b["url"], b["password"])
    assert response.status_code == 200 and elapsed < WINDOW
    job = wait_for_job(b["services"], closed)
    assert job.status is JobStatus.DONE
    b["faults"].clear()


# -- AWS storage: the moto server goes away --------------------------------------------------------
def test_stopped_moto_server_gives_503_in_time_then_recovers(tmp_path, aws_env,
                                                             live_server_factory) -> None:
    from moto.server import ThreadedMotoServer

    from shared.storage.dynamodb_tables import DynamoDBTables
    from shared.storage.s3_store import S3Store

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        settings = Settings(storage="aws", s3_bucket="boothai-faults", s3_endpoint_url=endpoint,
                            dynamodb_endpoint_url=endpoint, table_prefix="faults-",
                            signing_key="k" * 32, data_dir=tmp_path, enabled_providers=["local"],
                            booth_window_seconds=WINDOW + 2, booth_safety_margin_seconds=1.0)
        DynamoDBTables(prefix="faults-", endpoint_url=endpoint).create_tables()
        S3Store(bucket="boothai-faults", endpoint_url=endpoint).create_bucket()
        services = build_services(settings)
        tenant, slot = run(setup_booth(services))
        server = live_server_factory(services)
        url = f"{server.url}/u/{slot.upload_token}"
        assert post_photo(url, tenant.upload_password)[0].status_code == 200

        moto.stop()
        response, elapsed = post_photo(url, tenant.upload_password)
        assert response.status_code == 503 and elapsed < WINDOW + 2
        assert len(response.text) < 200 and "Traceback" not in response.text
        assert httpx.get(server.url + "/health", timeout=10).status_code == 503

        # Same port, same in-process moto state: the store is back.
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        assert httpx.get(server.url + "/health", timeout=10).status_code == 200
        response, _ = post_photo(url, tenant.upload_password)
        assert response.status_code == 200, response.text
        jobs = run(services.repo.recent_jobs("acme"))
        assert jobs and all(j.status is not JobStatus.RUNNING for j in jobs)
    finally:
        moto.stop()
