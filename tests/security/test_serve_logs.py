"""What `boothai serve` and a Lambda write to their logs carries no slot token, webhook token
or media signature, and logged provider text cannot forge a line of its own."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared import observability
from tests.conftest import free_port, run
from tests.helpers import photos
from tests.helpers.booth import local_booth_in

WEBHOOK_TOKEN = "webhook-token-Zq81mPx"
MEDIA_SIG = "media-sig-4Hh2KdQw9"
UNKNOWN_TOKEN = "NoSuchSlotTok3n9aZ"


def _start_serve(data_dir: Path, out: Path, err: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "BOOTHAI_DATA_DIR": str(data_dir), "BOOTHAI_ENABLED_PROVIDERS": "local"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "functions.cli", "serve", "--port", str(port), "--access-log"],
        env=env, stdout=out.open("w"), stderr=err.open("w"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise RuntimeError(err.read_text()) from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("boothai serve did not start")


def test_serve_access_log_carries_no_tokens_or_signatures(tmp_path) -> None:
    data_dir = tmp_path / "data"
    token, _ = run(local_booth_in(data_dir))
    out, err, port = tmp_path / "stdout.txt", tmp_path / "stderr.txt", free_port()
    proc = _start_serve(data_dir, out, err, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            booth = client.post(f"/u/{token}", data={"password": "wrong-password"},
                                files={"fileToUpload": ("IMG_0001.JPG", photos.green_screen(320, 240),
                                                        "image/jpeg")})
            assert booth.status_code == 401
            assert client.get(f"/u/{UNKNOWN_TOKEN}").status_code in (404, 405)
            client.post(f"/hooks/turbotext/job-1?t={WEBHOOK_TOKEN}", json={})
            client.get(f"/media/originals/bench/x.jpg?exp=1&sig={MEDIA_SIG}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    logs = out.read_text() + err.read_text()
    for secret in (token, UNKNOWN_TOKEN, WEBHOOK_TOKEN, MEDIA_SIG):
        assert secret not in logs, f"{secret[:6]}… in the serve log:\n{logs[-2000:]}"
    # The lines are still there, redacted: an operator still sees each request.
    assert '"POST /u/*** HTTP/1.1" 401' in logs, logs[-2000:]
    assert '"POST /hooks/turbotext/job-1?*** HTTP/1.1"' in logs
    assert '"GET /media/originals/bench/x.jpg?*** HTTP/1.1"' in logs


def test_provider_text_cannot_forge_a_log_line() -> None:
    """A provider's error text (an outside party's words) with CR/LF in it stays on the
    line it was logged on, in a message argument and in an exception alike."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("boothai.test-provider-text")
    logger.addHandler(handler)
    logger.propagate = False
    forged = "quota exceeded\r\nINFO boothai.pipeline: job j9 status=done\x1b[2K"
    try:
        observability.install_redaction()
        logger.warning("gemini failed: %s", forged)
        try:
            raise RuntimeError(forged)
        except RuntimeError:
            logger.exception("provider crashed")
    finally:
        logger.removeHandler(handler)
    lines = buffer.getvalue().splitlines()
    assert not [line for line in lines if line.startswith("INFO ")], lines
    assert "quota exceeded\\r\\nINFO boothai.pipeline" in lines[0]
    assert "\x1b" not in buffer.getvalue()
    assert lines[-1].startswith("RuntimeError: quota exceeded\\r\\n"), lines  # traceback kept


def test_lambda_logs_carry_no_tokens(tmp_path) -> None:
    """On Lambda: the Powertools logger and the standard `boothai.*` loggers alike."""
    import shared.pipeline  # noqa: F401  (registers boothai.pipeline before the switch)

    logger = observability.use_powertools()
    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    try:
        logger.info("POST /u/%s?t=%s", UNKNOWN_TOKEN, WEBHOOK_TOKEN)
        logger.info("fetch", extra={"url": f"https://h/media/k?sig={MEDIA_SIG}"})
        pipeline = logging.getLogger("boothai.pipeline")
        try:
            raise RuntimeError(f"GET https://h/media/k?exp=1&sig={MEDIA_SIG} failed")
        except RuntimeError:
            pipeline.exception("provider crashed on job %s", "j1")
    finally:
        logger.registered_handler.setStream(previous)
        observability.use_plain_logging()
    text = buffer.getvalue()
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert len(records) == 3, text
    for secret in (UNKNOWN_TOKEN, WEBHOOK_TOKEN, MEDIA_SIG):
        assert secret not in text, text
    assert records[0]["message"] == "POST /u/***?***"
    assert records[2]["exception_name"] == "RuntimeError" and "?***" in records[2]["exception"]
