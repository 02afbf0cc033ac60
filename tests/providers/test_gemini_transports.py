"""Every HTTP backend google-genai can pick fails into a named reason: a refused connection is
`gemini_unreachable`, an answer that stalls mid-body is `gemini_timeout`, and run()'s own
deadline still ends a retry that would outlast it.

google-genai 3.x talks through aiohttp when it can import it, else through httpx2 (its
default), or httpx when GOOGLE_GENAI_HTTP_CLIENT=httpx. Our venv has aiohttp (modal pulls it
in); a core install does not. Each backend runs in a fresh interpreter
(`gemini_transport_child.py`) with the real SDK and the real transport doing the I/O against
the fake Gemini on loopback, and reports which transport it really used.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.gemini_server import Behaviour

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["aiohttp", "httpx2", "httpx"]
# run() gives the SDK a per-attempt timeout a moment after the job's deadline and stops
# everything itself a moment later still; a case may end no later than that, plus slack
# for a loaded two-core machine.
HARD_STOP = 1.0
SLACK = 0.8


def _closed_port_url() -> str:
    with socket.socket() as sock:  # bound then closed: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _run_child(backend: str, cases: list[dict]) -> dict[str, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("GOOGLE_GENAI_HTTP_CLIENT", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.providers.gemini_transport_child", backend,
         json.dumps(cases)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {r["name"]: r for r in results}


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_names_its_transport_failures(backend, gemini_fake):
    fake, base = gemini_fake
    key = fake.api_key
    # The script is consumed in request order; the refused connection never reaches the fake.
    fake.script(Behaviour.stall_body(), Behaviour.cut_body(),
                Behaviour.stall_body(), Behaviour.stall_body(), Behaviour.stall_body())
    cases = [
        # A long window allows the SDK's retry (attempts=2): the second refusal must still
        # come out as the transport's own error, mapped — never a tenacity RetryError.
        {"name": "refused", "base_url": _closed_port_url(), "api_key": key, "seconds": 20,
         "retry_min_seconds": 0.5},
        {"name": "stalled", "base_url": base, "api_key": key, "seconds": 1.5},
        {"name": "cut", "base_url": base, "api_key": key, "seconds": 5},
        # The first attempt stalls until the SDK's timeout; a retry would start after the
        # deadline and stall too: run()'s own stop ends it, still as gemini_timeout.
        {"name": "stalled_with_retry", "base_url": base, "api_key": key, "seconds": 2,
         "retry_min_seconds": 0.5},
    ]

    got = _run_child(backend, cases)

    assert {r["transport"] for r in got.values()} == {backend}
    refused, stalled, cut, retried = (got[n] for n in
                                      ("refused", "stalled", "cut", "stalled_with_retry"))
    assert refused.get("reason") == "gemini_unreachable", refused
    assert "cannot reach Gemini" in refused["message"]
    assert stalled.get("reason") == "gemini_timeout", stalled
    assert stalled["elapsed"] < 1.5 + HARD_STOP + SLACK, stalled
    assert cut.get("reason") == "gemini_unreachable", cut
    assert retried.get("reason") == "gemini_timeout", retried
    assert retried["elapsed"] < 2 + HARD_STOP + SLACK, retried
    # stalled, cut, then one or two attempts of the last case: never more than that.
    assert 3 <= len(fake.requests) <= 4
