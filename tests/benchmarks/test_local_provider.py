"""Smoke test of benchmarks/local_provider.py: its quick mode (real pixel checks against the
pre-issue-17 code, a loose speed target, one small burst at a real server) exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_local_provider_benchmark_passes() -> None:
    result = subprocess.run([sys.executable, "benchmarks/local_provider.py", "--quick"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["figure", "reference", "new", "target", "result", "note"]
    pixels = [line for line in lines if line.startswith("pixels ")]
    assert len(pixels) >= 8 and all(" PASS " in line for line in pixels)
    assert any(line.startswith("ms per job") for line in lines)
    assert any(line.startswith("server peak RSS") for line in lines)
    assert not any(" MISS " in line for line in lines)
