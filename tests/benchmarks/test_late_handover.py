"""Smoke test of benchmarks/late_handover.py: its quick mode runs the three ways a quick
provider's photo can go (in the request, a task, a queue with row polls) and meets its
targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_late_handover_benchmark_passes() -> None:
    result = subprocess.run([sys.executable, "benchmarks/late_handover.py", "--quick"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["figure", "ms", "ratio"]
    rows = [line for line in lines if line.startswith("booth wait")]
    assert len(rows) == 3 and not any(" MISS" in line for line in rows)
