"""modal_app imports with no credentials and runs its classes in-process via `.local()`, each
method taking a request dataclass and answering an answer dataclass."""

from __future__ import annotations

import dataclasses
import importlib
import io

import modal
import pytest
from PIL import Image

from gpu_jobs.errors import InvalidRequest
from gpu_jobs.requests import (
    EditAnswer,
    EditRequest,
    ImageAnswer,
    JanusRequest,
    OcrRequest,
    TextAnswer,
    VisionChatRequest,
)

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
    editor = modal_app.ImageEditor()
    joint = EditRequest(images=photos[:2], prompt="swap", n=1, size=(32, 32), steps=2, seed=0)
    answer = editor.edit.local(joint)
    assert isinstance(answer, EditAnswer) and len(answer.images) == 1
    assert Image.open(io.BytesIO(answer.images[0])).size == (32, 32)
    each = dataclasses.replace(joint, per_input=True, n=2)
    assert len(editor.edit.local(each).images) == 4  # 2 inputs × n=2


def test_janus_and_vision_run_locally(modal_app, photos) -> None:
    janus = JanusRequest(photo=photos[0], prompt="astronaut", size=(48, 40), seed=1)
    answer = modal_app.JanusGenerator().generate_from_photo.local(janus)
    assert isinstance(answer, ImageAnswer)
    assert Image.open(io.BytesIO(answer.image)).size == (48, 40)
    vision = modal_app.VisionModel(model_id="qwen_vl_2b")
    chat = VisionChatRequest(model_id="qwen_vl_2b", images=photos[:2], prompt="hi", max_tokens=2)
    answer = vision.chat.local(chat)
    assert isinstance(answer, TextAnswer) and isinstance(answer.text, str)
    ocr = vision.ocr.local(OcrRequest(model_id="qwen_vl_2b", image=photos[0], max_tokens=2))
    assert isinstance(ocr, TextAnswer) and isinstance(ocr.text, str)
    # A container serves one model id: a request for another is refused, not mis-served.
    with pytest.raises(InvalidRequest, match="serves 'qwen_vl_2b', not 'got_ocr'"):
        vision.ocr.local(OcrRequest(model_id="got_ocr", image=photos[0]))

