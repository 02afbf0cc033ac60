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


LORA = "lightx2v/Qwen-Image-Lightning::Edit/8steps.safetensors"


def _spec(cls: modal.Cls):
    """What `modal deploy` would send for a class: its service function's spec (no network)."""
    from modal._utils.async_utils import synchronizer

    return synchronizer._translate_in(cls)._get_class_service_function()._spec_


def _secret_env(spec) -> dict[str, str]:
    env: dict[str, str] = {}
    for secret in spec.secrets:
        env.update(synchronizer_in(secret)._load_env_dict())
    return env


def synchronizer_in(obj):
    from modal._utils.async_utils import synchronizer

    return synchronizer._translate_in(obj)


@pytest.fixture
def deployed(monkeypatch):
    """modal_app as `modal deploy` builds it on an operator's machine whose settings name a
    Lightning LoRA and a speed option."""
    monkeypatch.setenv("BOOTHAI_QWEN_LIGHTNING_LORA", LORA)
    monkeypatch.setenv("BOOTHAI_QWEN_REFERENCE_VAE_AREA", str(512 * 512))
    monkeypatch.setenv("BOOTHAI_GEMINI_API_KEY", "not-for-gpu-containers")
    module = importlib.import_module("modal_app")
    return importlib.reload(module)


def test_the_modal_classes_receive_the_lightning_settings(deployed) -> None:
    for name in ("ImageEditor", "JanusGenerator", "VisionModel"):
        env = _secret_env(_spec(getattr(deployed, name)))
        assert env["BOOTHAI_QWEN_LIGHTNING_LORA"] == LORA
        assert env["BOOTHAI_QWEN_REFERENCE_VAE_AREA"] == str(512 * 512)
        assert env["BOOTHAI_QWEN_EDIT_MODEL"] == "Qwen/Qwen-Image-Edit-2509"
        assert env["HF_HUB_OFFLINE"] == "1"  # serving never downloads
        assert not any("GEMINI" in key for key in env)  # only the GPU settings travel
    download = synchronizer_in(deployed.download_weights)._spec_
    assert "HF_HUB_OFFLINE" not in _secret_env(download)


def test_each_class_runs_on_the_gpu_its_model_needs(deployed) -> None:
    assert _spec(deployed.ImageEditor).gpus == "H100"
    assert _spec(deployed.JanusGenerator).gpus == "L40S"
    assert _spec(deployed.VisionModel).gpus == "L40S"


def test_download_weights_fetches_the_lightning_lora(deployed, monkeypatch) -> None:
    import huggingface_hub

    fetched: list[tuple] = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo, **kw: fetched.append((repo,)))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda repo, filename, **kw: fetched.append((repo, filename)))
    commits: list[bool] = []
    monkeypatch.setattr(deployed, "weights", type("Vol", (), {"commit": lambda self: commits.append(True)})())
    deployed.download_weights.local()
    assert ("lightx2v/Qwen-Image-Lightning", "Edit/8steps.safetensors") in fetched
    assert ("Qwen/Qwen-Image-Edit-2509",) in fetched and ("Qwen/Qwen3-VL-2B-Instruct",) in fetched
    assert commits == [True]


def test_the_snapshot_hook_warms_the_model_up(modal_app, monkeypatch, photos) -> None:
    from gpu_jobs.image_edit import QwenImageEditor

    warmed: list[bool] = []
    original = QwenImageEditor.warm_up
    monkeypatch.setattr(QwenImageEditor, "warm_up", lambda self: (warmed.append(self.loaded), original(self)))
    editor = modal_app.ImageEditor()
    request = EditRequest(images=photos[:1], prompt="x", size=(32, 32), steps=1, seed=0)
    assert len(editor.edit.local(request).images) == 1
    assert warmed == [True]  # once, after the weights were in, before the first request


def test_an_expired_request_is_dropped_in_the_container(modal_app, photos) -> None:
    from gpu_jobs.errors import DeadlinePassed

    late = EditRequest(images=photos[:1], prompt="x", size=(32, 32), steps=1, deadline=1.0)
    with pytest.raises(DeadlinePassed):
        modal_app.ImageEditor().edit.local(late)


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

