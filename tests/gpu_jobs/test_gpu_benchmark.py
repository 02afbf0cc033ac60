"""The GPU benchmark's --tiny mode: same code path, tiny configs, CPU."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu_models

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_image_edit.py"


def test_tiny_benchmark_prints_the_table(capsys, monkeypatch) -> None:
    spec = importlib.util.spec_from_file_location("gpu_image_edit_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look the module up
    spec.loader.exec_module(module)
    assert module.main(["--tiny", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "8 steps, cfg 1, n=1, 1 input (baseline)" in out
    assert "per_output" in out and "× base" in out
