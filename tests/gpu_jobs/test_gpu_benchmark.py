"""The GPU benchmark's --tiny mode: same code path, tiny configs, CPU."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu_models

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_image_edit.py"


@pytest.fixture
def module(monkeypatch):
    spec = importlib.util.spec_from_file_location("gpu_image_edit_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


def test_the_booth_case_uses_the_providers_output_size(module) -> None:
    from shared.providers.qwen import output_size

    for photo in [(1536, 1024), (6000, 4000), (1080, 1920), (1000, 1000)]:
        assert module.output_size(photo) == output_size(photo)


def test_tiny_benchmark_prints_the_table_and_writes_the_figures(module, capsys, tmp_path) -> None:
    out = tmp_path / "figures.json"
    assert module.main(["--tiny", "--quick", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "8 steps, cfg 1, n=1, 1 input (baseline)" in printed
    assert "per_output" in printed and "× base" in printed
    assert "booth edit, Lightning vs base (50 steps, CFG 4)" in printed
    figures = json.loads(out.read_text())
    labels = [case["label"] for case in figures["cases"]]
    assert module.BOOTH_FAST.label in labels and module.BOOTH_BASE.label in labels
    assert figures["booth_output_size"] == [48, 32]  # the 3:2 guest's aspect ratio
    assert len(figures["concurrent_booth_seconds"]) == 3
    assert figures["build_seconds"] > 0 and figures["weights_gib"] > 0
    assert all(case["peak_gib"] is None for case in figures["cases"])  # CPU: no GPU peak
