"""The ingest benchmark still runs end to end (quick mode; the figures come from full runs
recorded in docs/PERFORMANCE.md: timing targets are not judged on a shared CI machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ingest_overhead_benchmark_runs() -> None:
    result = subprocess.run([sys.executable, "benchmarks/ingest_overhead.py", "--quick",
                             "--rounds", "2", "--no-targets"],
                            cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["photo", "bytes", "stack", "echo"]
    rows = [line.split() for line in lines if line.strip().startswith("1600 px")]
    assert [row[3] for row in rows] == ["baseline", "serve"]
    assert any(line.startswith(("PASS", "MISS")) for line in lines)
