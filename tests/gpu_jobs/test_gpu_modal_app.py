"""modal_app imports with no credentials and runs its classes in-process via `.local()`."""

from __future__ import annotations

import importlib
import io

import modal
import pytest
from PIL import Image

pytestmark = [
    pytest.mark.gpu_models,
    # .local() warns that the Volume is not mounted: expected here
    pytest.mark.filterwarnings("ignore:The .* function is executing locally:UserWarning"),
]


@pytest.fixture
def modal_app(monkeypatch, qwen_edit_dir, janus_dir, vision_dir):
    monkeypatch.setenv("BOOTHAI_QWEN_EDIT_MODEL", str(qwen_edit_dir))
    monkeypatch.setenv("BOOTHAI_QWEN_LIGHTNING_LORA", "")
    monkeypatch.setenv("BOOTHAI_QWEN_EDIT_CONDITION_AREA", str(32 * 32))
    monkeypatch.setenv("BOOTHAI_QWEN_EDIT_VAE_AREA", str(32 * 32))
    monkeypatch.setenv("BOOTHAI_JANUS_MODEL", str(janus_dir))
    monkeypatch.setenv("BOOTHAI_VISION_MODEL_DIR", str(vision_dir))
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return importlib.import_module("modal_app")


def test_app_shape(modal_app) -> None:
    assert modal_app.app.name == "boothai-gpu"
    for name in ("ImageEditor", "JanusGenerator", "VisionModel"):
        assert isinstance(getattr(modal_app, name), modal.Cls)


def test_image_editor_runs_locally(modal_app, photos) -> None:
    out = modal_app.ImageEditor().edit.local(photos[:2], "swap", n=1, size=(32, 32), steps=2, seed=0)
    assert len(out) == 1 and Image.open(io.BytesIO(out[0])).size == (32, 32)


def test_janus_and_vision_run_locally(modal_app, photos) -> None:
    png = modal_app.JanusGenerator().generate_from_photo.local(photos[0], "astronaut", (48, 40), seed=1)
    assert Image.open(io.BytesIO(png)).size == (48, 40)
    vision = modal_app.VisionModel(model_id="qwen_vl_2b")
    assert isinstance(vision.chat.local(photos[:2], "hi", max_tokens=2), str)
    assert isinstance(vision.ocr.local(photos[0], None, max_tokens=2), str)
