"""benchmarks/gpu_smoke.sh end to end in --tiny mode on the CPU: the offline install step
(from an empty wheel folder, everything already satisfied), the load-path checks, the tiny
benchmark, and the JSON of figures it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
pytestmark = pytest.mark.gpu_models

ROOT = Path(__file__).resolve().parents[2]


def test_the_smoke_script_runs_end_to_end_in_tiny_mode(tmp_path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"diffusers=={version('diffusers')}\npeft=={version('peft')}\n")
    out = tmp_path / "smoke.json"
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_smoke.sh"), "--tiny", "--wheels", str(wheels),
         "--requirements", str(requirements), "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["tiny"] is True and figures["exit_status"] == 0
    checks = figures["checks"]
    assert checks["ok"] and checks["checks"]["booth_passes"] == 8
    assert checks["checks"]["peft_layers_left"] == 0 and checks["checks"]["device_map"] == "cpu"
    summary = figures["summary"]
    assert summary["booth_edit_lightning_s"] > 0 and summary["booth_edit_base_50_steps_cfg4_s"] > 0
    assert summary["single_1024_edit_s"] > 0 and len(summary["concurrent_booth_s"]) == 3
    assert figures["targets"] == {"booth_edit_lightning_s": 6.0, "single_1024_edit_s": 4.0,
                                  "elapsed_seconds": 480}
