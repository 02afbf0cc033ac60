"""kill -9 of a real `boothai serve` process in the middle of a booth request: on the next
start the job left `running` is closed as failed and its original is in trash/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx

from shared.config import Settings
from shared.domain import JobStatus, ProcessingType, ProviderName
from shared.services import build_services
from tests.conftest import free_port, run
from tests.fakes import gemini_server as g
from tests.fakes.server import run_app_in_thread
from tests.helpers import photos

KEY = "restart-gemini-key"


def _serve(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "functions.cli", "serve", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _read_until(proc: subprocess.Popen, marker: str, timeout: float = 30) -> str:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline and marker not in "".join(lines):
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
    return "".join(lines)


def test_kill_9_mid_request_then_restart(tmp_path) -> None:
    fake = g.FakeGemini(KEY)
    fake.script(g.Behaviour.hang())
    base, stop_fake = run_app_in_thread(fake.app)
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, enabled_providers=["gemini"], gemini_api_key=KEY,
                        gemini_base_url=base)
    services = build_services(settings)
    tenant, _ = run(services.create_tenant("acme", "pw-acme"))
    slot = run(services.repo.get_slot("acme", ProviderName.GEMINI, 1))
    slot.type, slot.prompt, slot.enabled = ProcessingType.PROMPT, "a postcard", True
    run(services.repo.save_slot(slot))

    env = {**os.environ, "BOOTHAI_DATA_DIR": str(data_dir), "BOOTHAI_ENABLED_PROVIDERS": "gemini",
           "GEMINI_API_KEY": KEY, "BOOTHAI_GEMINI_BASE_URL": base}
    port = free_port()
    proc = _serve(env, port)
    second = None
    try:
        _read_until(proc, "operator UI")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)

        guest = photos.green_screen(640, 427)
        outcome: dict = {}

        def upload() -> None:
            try:
                outcome["response"] = httpx.post(
                    f"{url}/u/{slot.upload_token}", data=photos.dslr_fields(tenant.upload_password),
                    files={"fileToUpload": ("IMG_0001.JPG", guest, "image/jpeg")}, timeout=30)
            except httpx.HTTPError as exc:
                outcome["error"] = exc

        client = threading.Thread(target=upload)
        client.start()
        deadline = time.monotonic() + 15  # until the provider holds the request
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.requests, "the request never reached the provider"
        (job,) = run(services.repo.recent_jobs("acme"))
        assert job.status is JobStatus.RUNNING

        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        client.join(timeout=10)
        assert "error" in outcome  # the booth saw the connection drop (it keeps its original)

        second = _serve(env, free_port())
        output = _read_until(second, "operator UI")
        assert "closed 1 job(s) interrupted" in output
        closed = run(services.repo.get_job("acme", job.job_id))
        assert closed.status is JobStatus.FAILED and closed.reason == "interrupted"
        assert closed.original_key.startswith("trash/acme/")
        assert services.store.get(closed.original_key) == guest
        assert services.store.list("originals/") == []
    finally:
        for p in (proc, second):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        stop_fake()
