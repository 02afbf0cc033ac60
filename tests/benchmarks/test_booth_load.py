"""Smoke test of benchmarks/booth_load.py: its quick mode against a real `boothai serve`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_load_run_answers_everything_in_the_window() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "booth_load.py"), "--quick", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0, summary
    assert summary["answered_in_window_pct"] == 100.0
    assert summary["errors"] == {} and summary["jobs_not_closed"] == 0
    assert summary["server_alive"] and summary["peak_rss_mb"] < 400
