"""A stop in the middle of jobs: on the next start, running jobs close as failed and their
originals go to trash."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from shared.config import Settings
from shared.domain import Job, JobStatus, ProviderName
from shared.services import build_services
from tests.conftest import free_port, run


def test_serve_closes_interrupted_jobs_on_start(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "data", enabled_providers=["local"])
    services = build_services(settings)
    run(services.create_tenant("acme", "pw"))
    job = Job(tenant="acme", job_id="0001", provider=ProviderName.LOCAL, slot_index=1,
              status=JobStatus.RUNNING, original_key="originals/acme/2026-11-21/0001.jpg")
    services.store.put(job.original_key, b"\xff\xd8\xffphoto", "image/jpeg")
    run(services.repo.put_job(job))

    env = {**os.environ, "BOOTHAI_DATA_DIR": str(settings.data_dir),
           "BOOTHAI_ENABLED_PROVIDERS": "local"}
    proc = subprocess.Popen([sys.executable, "-m", "functions.cli", "serve", "--port",
                             str(free_port())], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline, lines = time.monotonic() + 30, []
        while time.monotonic() < deadline and "operator UI" not in "".join(lines):
            lines.append(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "closed 1 job(s) interrupted" in "".join(lines)
    closed = run(services.repo.get_job("acme", "0001"))
    assert closed.status is JobStatus.FAILED and closed.reason == "interrupted"
    assert closed.original_key == "trash/acme/2026-11-21/0001.jpg"
    assert services.store.get(closed.original_key) == b"\xff\xd8\xffphoto"
    assert run(services.repo.read_stats("acme"))[ProviderName.LOCAL]["total"].failed == 1
