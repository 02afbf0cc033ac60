"""Smoke test of benchmarks/auth_burst.py: its quick mode (a real `boothai serve`, a login
burst from 60 addresses beside a booth, an unauthenticated 20 MB body) exits 0, and what it
prints says the defences held: some logins refused as busy, the body answered 401 with no
memory growth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_auth_burst_benchmark_passes() -> None:
    result = subprocess.run([sys.executable, "benchmarks/auth_burst.py", "--quick"],
                            cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "'429'" in out  # the hash lane's queue refused some of the 60 at once
    assert "401 Unauthorized" in out
    assert out.rstrip().endswith("RESULT PASS")
