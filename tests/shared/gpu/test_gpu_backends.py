"""The GPU backend adapters, on tiny models (inprocess) and with no Modal credentials."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from shared.errors import DeadlineExceeded, InvalidInput, ModelNotReady, NotFound, ProviderFailed
from shared.gpu import JANUS, QWEN_IMAGE_EDIT, build_gpu_backend
from shared.gpu.inprocess import InProcessGpuBackend
from shared.gpu.off import OffGpuBackend

EDIT = {"size": (32, 32), "steps": 2, "seed": 0}


# --- off ---------------------------------------------------------------------------------------
async def test_off_backend_refuses_everything(photos) -> None:
    backend = build_gpu_backend("off")
    assert isinstance(backend, OffGpuBackend)
    calls = [
        backend.edit_images(photos[:1], prompt="x"),
        backend.janus_from_photo(photos[0], prompt="x", size=(64, 64)),
        backend.vision_chat("qwen3_vl_2b", photos[:1], "x"),
        backend.vision_ocr("qwen3_vl_2b", photos[0]),
        backend.unload("janus"),
    ]
    for call in calls:
        with pytest.raises(ModelNotReady, match=r"GPU backend is off \(BOOTHAI_GPU_BACKEND=off\)"):
            await call
    assert await backend.ready() == (False, "GPU backend is off (BOOTHAI_GPU_BACKEND=off)")
    listing = await backend.models()
    assert listing["available"] == [] and listing["loaded"] == []
    assert {m["id"] for m in listing["unavailable"]} >= {"qwen3_vl_2b", "dots_ocr", QWEN_IMAGE_EDIT}


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown GPU backend"):
        build_gpu_backend("tpu")


# --- modal (no credentials here) ---------------------------------------------------------------
async def test_modal_backend_without_credentials_is_not_ready(monkeypatch, photos) -> None:
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", "/nonexistent/modal.toml")
    backend = build_gpu_backend("modal", modal_app_name="boothai-gpu", modal_timeout=20)
    ready, reason = await backend.ready()
    assert not ready and "credentials" in reason
    with pytest.raises(ModelNotReady, match="credentials"):
        await backend.edit_images(photos[:1], prompt="x", timeout=15)
    with pytest.raises(ModelNotReady, match="trust_remote_code"):
        await backend.vision_ocr("dots_ocr", photos[0])
    with pytest.raises(InvalidInput):
        await backend.vision_chat("nope", photos[:1], "x")
    assert (await backend.models())["unavailable"][0]["id"] == "dots_ocr"
    await backend.aclose()


# --- inprocess -----------------------------------------------------------------------------------


@pytest.fixture
def backend(qwen_edit_dir, janus_dir, vision_dir) -> InProcessGpuBackend:
    return build_gpu_backend(
        "inprocess",
        qwen_edit_model=str(qwen_edit_dir),
        janus_model=str(janus_dir),
        qwen_lightning_lora="",
        vision_model_dir=str(vision_dir),
        device="cpu",
        edit_condition_image_size=32 * 32,
        edit_vae_image_size=32 * 32,
    )


@pytest.mark.gpu_models
async def test_inprocess_loads_on_first_use_reports_and_unloads(backend, photos, monkeypatch) -> None:
    from gpu_jobs._qwen_vl_chat import QwenVLChatRunner

    loads: list[str] = []
    original = QwenVLChatRunner.load

    def counting_load(self) -> None:
        if not self.loaded:
            loads.append(self.model_id)
        original(self)

    monkeypatch.setattr(QwenVLChatRunner, "load", counting_load)
    assert (await backend.models())["loaded"] == []
    assert await backend.ready() == (True, "")
    answers = await asyncio.gather(
        *[backend.vision_chat("qwen3_vl_2b", photos[:2], "hi", max_tokens=2) for _ in range(3)]
    )
    assert all(isinstance(a, str) for a in answers)
    assert loads == ["qwen3_vl_2b"]  # concurrent first calls load once
    text = await backend.vision_ocr("got_ocr", photos[0], language="English", max_tokens=2)
    assert isinstance(text, str)
    assert (await backend.models())["loaded"] == ["got_ocr", "qwen3_vl_2b"]
    assert await backend.unload("qwen3_vl_2b") is True
    assert await backend.unload("qwen3_vl_2b") is False
    assert (await backend.models())["loaded"] == ["got_ocr"]
    with pytest.raises(NotFound):
        await backend.unload("gpt-9")
    await backend.aclose()
    assert (await backend.models())["loaded"] == []


@pytest.mark.gpu_models
async def test_inprocess_edit_semantics(backend, photos) -> None:
    joint = await backend.edit_images(photos[:2], prompt="swap", n=2, **EDIT)
    assert len(joint) == 2
    each = await backend.edit_images(photos, prompt="enhance", n=2, per_input=True, **EDIT)
    assert len(each) == 6
    assert QWEN_IMAGE_EDIT in (await backend.models())["loaded"]


@pytest.mark.gpu_models
async def test_inprocess_janus_from_photo(backend, photos) -> None:
    png = await backend.janus_from_photo(photos[0], prompt="astronaut", size=(50, 40), seed=2)
    assert Image.open(io.BytesIO(png)).size == (50, 40)
    assert JANUS in (await backend.models())["loaded"]


@pytest.mark.gpu_models
async def test_inprocess_errors_map_to_the_core(backend, photos, monkeypatch) -> None:
    with pytest.raises(InvalidInput, match="not a readable image"):
        await backend.edit_images([b"junk"], prompt="x", **EDIT)
    with pytest.raises(InvalidInput) as info:
        await backend.vision_chat("gpt-9", photos[:1], "x")
    assert info.value.field == "model"
    with pytest.raises(ModelNotReady, match="not supported natively"):
        await backend.vision_chat("dots_ocr", photos[:1], "x")
    with pytest.raises(InvalidInput, match="only does OCR"):
        await backend.vision_chat("got_ocr", photos[:1], "x")
    with pytest.raises(DeadlineExceeded):
        await backend.edit_images(photos[:1], prompt="x", timeout=0.001, **EDIT)

    from gpu_jobs.image_edit import QwenImageEditor

    def broken(self, *args, **kwargs):
        raise RuntimeError("CUDA error: device-side assert triggered")

    monkeypatch.setattr(QwenImageEditor, "edit", broken)
    with pytest.raises(ProviderFailed) as failed:
        await backend.edit_images(photos[:1], prompt="x", **EDIT)
    assert failed.value.reason == "generation_error"


@pytest.mark.gpu_models
async def test_inprocess_load_failure_is_model_not_ready(tmp_path, photos) -> None:
    backend = build_gpu_backend(
        "inprocess",
        qwen_edit_model=str(tmp_path / "missing"),
        janus_model=str(tmp_path / "missing"),
        device="cpu",
    )
    with pytest.raises(ModelNotReady, match="could not be loaded"):
        await backend.janus_from_photo(photos[0], prompt="x", size=(8, 8))
    assert (await backend.models())["loaded"] == []
