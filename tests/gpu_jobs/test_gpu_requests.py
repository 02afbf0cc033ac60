"""The request/answer dataclasses that cross the GPU boundary: pure Python, frozen, lists
normalised to tuples, picklable (Modal pickles them), re-exported by shared.gpu."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from gpu_jobs.requests import (
    EditAnswer,
    EditRequest,
    ImageAnswer,
    JanusRequest,
    OcrRequest,
    TextAnswer,
    VisionChatRequest,
)
from shared.gpu import ModelInfo, ModelListing

ALL = [
    EditRequest(images=[b"a", b"b"], prompt="p", size=[32, 48], per_input=True),
    EditAnswer(images=[b"png"]),
    JanusRequest(photo=b"a", prompt="p", size=[8, 8], seed=3),
    ImageAnswer(image=b"png"),
    VisionChatRequest(model_id="qwen3_vl_2b", images=[b"a"], prompt="p", temperature=0),
    OcrRequest(model_id="got_ocr", image=b"a", language="en"),
    TextAnswer(text="t"),
    ModelListing(available=[ModelInfo("janus", "Janus-Pro", "7B")], loaded=["janus"], unavailable=[]),
]


def test_lists_become_tuples() -> None:
    edit, answer, janus, _, chat, *_ = ALL
    assert edit.images == (b"a", b"b") and edit.size == (32, 48)
    assert answer.images == (b"png",)
    assert janus.size == (8, 8)
    assert chat.images == (b"a",)
    listing = ALL[-1]
    assert listing.loaded == ("janus",) and isinstance(listing.available, tuple)
    assert EditRequest(images=(b"a",), prompt="p").size is None
    assert EditRequest(images=[b"a"], prompt="p") == EditRequest(images=(b"a",), prompt="p")


def test_defaults() -> None:
    edit = EditRequest(images=[b"a"], prompt="p")
    assert (edit.n, edit.max_sequence_length, edit.per_input) == (1, 512, False)
    assert edit.steps is edit.true_cfg_scale is edit.seed is edit.negative_prompt is None
    chat = VisionChatRequest(model_id="m", images=[], prompt="p")
    assert (chat.max_tokens, chat.temperature, chat.top_p) == (512, 0.7, 0.9)
    assert OcrRequest(model_id="m", image=b"a").max_tokens == 2048


@pytest.mark.parametrize("value", ALL, ids=lambda v: type(v).__name__)
def test_frozen_hashable_and_picklable(value) -> None:
    field = dataclasses.fields(value)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, None)
    hash(value)
    assert pickle.loads(pickle.dumps(value)) == value


def test_pure_python_imports_without_torch() -> None:
    """gpu_jobs.requests / tasks / vision_models / errors import where torch cannot (the web
    tier, a fresh interpreter with torch, PIL and shared/ blocked)."""
    code = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('torch', 'PIL', 'numpy', 'diffusers', 'transformers', 'shared'):
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
import gpu_jobs.requests, gpu_jobs.tasks, gpu_jobs.vision_models, gpu_jobs.errors
"""
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=root)
