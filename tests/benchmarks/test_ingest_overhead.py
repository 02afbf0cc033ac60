"""The ingest benchmark still runs end to end (one round; the figures come from real runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ingest_overhead_benchmark_runs() -> None:
    result = subprocess.run([sys.executable, "benchmarks/ingest_overhead.py", "--rounds", "1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["photo", "bytes", "echo"]
    assert any(line.strip().startswith("1600 px") for line in lines)
    assert any(line.strip().startswith("24 MP") for line in lines)
