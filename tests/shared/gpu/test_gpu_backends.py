"""The GPU backend adapters, on tiny models (inprocess) and with no Modal credentials."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest
from PIL import Image

from shared.errors import DeadlineExceeded, InvalidInput, ModelNotReady, NotFound, ProviderFailed
from shared.gpu import (
    JANUS,
    QWEN_IMAGE_EDIT,
    EditAnswer,
    EditRequest,
    GpuBackend,
    ImageAnswer,
    JanusRequest,
    ModelInfo,
    ModelListing,
    OcrRequest,
    TextAnswer,
    VisionChatRequest,
    build_gpu_backend,
)
from shared.gpu.inprocess import InProcessGpuBackend
from shared.gpu.off import OffGpuBackend

EDIT = {"size": (32, 32), "steps": 2, "seed": 0}


def edit(images, prompt="x", **kwargs) -> EditRequest:
    return EditRequest(images=images, prompt=prompt, **{**EDIT, **kwargs})


def chat(model_id, images, prompt="x", **kwargs) -> VisionChatRequest:
    return VisionChatRequest(model_id=model_id, images=images, prompt=prompt, **kwargs)


# --- off ---------------------------------------------------------------------------------------
async def test_off_backend_refuses_everything(photos) -> None:
    backend = build_gpu_backend("off")
    assert isinstance(backend, OffGpuBackend)
    calls = [
        backend.edit(edit(photos[:1])),
        backend.janus(JanusRequest(photo=photos[0], prompt="x", size=(64, 64))),
        backend.vision_chat(chat("qwen3_vl_2b", photos[:1])),
        backend.vision_ocr(OcrRequest(model_id="qwen3_vl_2b", image=photos[0])),
        backend.unload("janus"),
    ]
    for call in calls:
        with pytest.raises(ModelNotReady, match=r"GPU backend is off \(BOOTHAI_GPU_BACKEND=off\)"):
            await call
    assert await backend.ready() == (False, "GPU backend is off (BOOTHAI_GPU_BACKEND=off)")
    listing = await backend.models()
    assert isinstance(listing, ModelListing)
    assert listing.available == () and listing.loaded == ()
    by_id = {m.id: m for m in listing.unavailable}
    assert set(by_id) >= {"qwen3_vl_2b", "dots_ocr", QWEN_IMAGE_EDIT, JANUS}
    assert by_id["qwen3_vl_2b"].reason == "GPU backend is off (BOOTHAI_GPU_BACKEND=off)"
    assert "trust_remote_code" in by_id["dots_ocr"].reason  # keeps its own reason


async def test_listing_is_typed() -> None:
    listing = await build_gpu_backend("modal").models()
    assert listing.loaded == ()
    assert listing.available[0] == ModelInfo(QWEN_IMAGE_EDIT, "Qwen-Image-Edit", "20B", kind="image_edit")
    vision = {m.id: m for m in listing.available if m.kind == "vision"}
    assert "qwen3_vl_2b" in vision and vision["qwen3_vl_2b"].reason is None
    assert [m.id for m in listing.unavailable] == ["dots_ocr"]


def test_every_backend_has_the_port_methods() -> None:
    from shared.gpu.modal import ModalGpuBackend

    port = {name for name in vars(GpuBackend) if not name.startswith("_")}
    assert port >= {"edit", "janus", "vision_chat", "vision_ocr", "models", "unload", "ready", "aclose"}
    for cls in (OffGpuBackend, InProcessGpuBackend, ModalGpuBackend):
        assert port - {"kind"} <= set(vars(cls)), cls


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
        await backend.edit(edit(photos[:1]), timeout=15)
    with pytest.raises(ModelNotReady, match="trust_remote_code"):
        await backend.vision_ocr(OcrRequest(model_id="dots_ocr", image=photos[0]))
    with pytest.raises(InvalidInput) as info:
        await backend.vision_chat(chat("nope", photos[:1]))
    assert info.value.field == "model"
    assert (await backend.models()).unavailable[0].id == "dots_ocr"
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
    assert (await backend.models()).loaded == ()
    assert await backend.ready() == (True, "")
    request = chat("qwen3_vl_2b", photos[:2], "hi", max_tokens=2)
    answers = await asyncio.gather(*[backend.vision_chat(request) for _ in range(3)])
    assert all(isinstance(a, TextAnswer) and isinstance(a.text, str) for a in answers)
    assert loads == ["qwen3_vl_2b"]  # concurrent first calls load once
    ocr = OcrRequest(model_id="got_ocr", image=photos[0], language="English", max_tokens=2)
    assert isinstance((await backend.vision_ocr(ocr)).text, str)
    assert (await backend.models()).loaded == ("got_ocr", "qwen3_vl_2b")
    assert await backend.unload("qwen3_vl_2b") is True
    assert await backend.unload("qwen3_vl_2b") is False
    assert (await backend.models()).loaded == ("got_ocr",)
    with pytest.raises(NotFound):
        await backend.unload("gpt-9")
    await backend.aclose()
    assert (await backend.models()).loaded == ()


@pytest.mark.gpu_models
async def test_inprocess_edit_semantics(backend, photos) -> None:
    joint = await backend.edit(edit(photos[:2], "swap", n=2))
    assert isinstance(joint, EditAnswer) and len(joint.images) == 2
    each = await backend.edit(edit(photos, "enhance", n=2, per_input=True))
    assert len(each.images) == 6
    assert QWEN_IMAGE_EDIT in (await backend.models()).loaded


@pytest.mark.gpu_models
async def test_inprocess_janus_from_photo(backend, photos) -> None:
    answer = await backend.janus(JanusRequest(photo=photos[0], prompt="astronaut", size=(50, 40), seed=2))
    assert isinstance(answer, ImageAnswer)
    assert Image.open(io.BytesIO(answer.image)).size == (50, 40)
    assert JANUS in (await backend.models()).loaded


@pytest.mark.gpu_models
async def test_inprocess_errors_map_to_the_core(backend, photos, monkeypatch) -> None:
    with pytest.raises(InvalidInput, match="not a readable image"):
        await backend.edit(edit([b"junk"]))
    with pytest.raises(InvalidInput) as info:
        await backend.vision_chat(chat("gpt-9", photos[:1]))
    assert info.value.field == "model"
    with pytest.raises(ModelNotReady, match="not supported natively"):
        await backend.vision_chat(chat("dots_ocr", photos[:1]))
    with pytest.raises(InvalidInput, match="only does OCR"):
        await backend.vision_chat(chat("got_ocr", photos[:1]))
    with pytest.raises(DeadlineExceeded):
        await backend.edit(edit(photos[:1]), timeout=0.001)

    from gpu_jobs.image_edit import QwenImageEditor

    def broken(self, *args, **kwargs):
        raise RuntimeError("CUDA error: device-side assert triggered")

    monkeypatch.setattr(QwenImageEditor, "edit", broken)
    with pytest.raises(ProviderFailed) as failed:
        await backend.edit(edit(photos[:1]))
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
        await backend.janus(JanusRequest(photo=photos[0], prompt="x", size=(8, 8)))
    assert (await backend.models()).loaded == ()


# --- worker threads: a deadline stops the wait, the thread finishes on its own -----------------
class SlowEditor:
    """A runner whose edit holds its lock until released, like the real runners do."""

    def __init__(self) -> None:
        self.loaded = False
        self.release = threading.Event()
        self.finished: list[str] = []
        self._lock = threading.Lock()

    def load(self) -> None:
        self.loaded = True

    def unload(self) -> None:
        self.loaded = False

    def edit(self, images, prompt, **kwargs):
        with self._lock:
            self.release.wait(10)
            self.finished.append(prompt)
            return [b"png-" + prompt.encode()]


async def test_deadline_abandons_the_runner_thread_and_the_next_call_waits_for_it() -> None:
    backend = InProcessGpuBackend(qwen_edit_model="unused", janus_model="unused")
    runner = SlowEditor()
    backend._factories[QWEN_IMAGE_EDIT] = lambda: runner

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await backend.edit(EditRequest(images=[b"x"], prompt="late"), timeout=0.2)
    assert time.monotonic() - started < 2  # did not wait for the thread
    assert runner.finished == []  # the abandoned thread is still running

    # The next call queues on the runner's lock instead of overlapping the late thread.
    second = asyncio.create_task(backend.edit(EditRequest(images=[b"x"], prompt="next")))
    await asyncio.sleep(0.1)
    assert not second.done()
    runner.release.set()
    answer = await second
    assert answer == EditAnswer(images=(b"png-next",))
    assert runner.finished == ["late", "next"]


# --- modal: what goes over the wire ------------------------------------------------------------
class FakeRemote:
    def __init__(self, sent: list, answer) -> None:
        self.sent, self.answer = sent, answer

    async def aio(self, *args, **kwargs):
        self.sent.append((args, kwargs))
        return self.answer


class FakeCls:
    """Stands in for modal.Cls.from_name(...): instances whose methods have `.remote.aio`."""

    def __init__(self, answers: dict) -> None:
        self.answers, self.sent, self.params = answers, [], []

    def __call__(self, **params):
        self.params.append(params)
        methods = {
            name: type("Method", (), {"remote": FakeRemote(self.sent, answer)})()
            for name, answer in self.answers.items()
        }
        return type("Obj", (), methods)()


async def test_modal_sends_the_request_and_checks_the_answer(photos) -> None:
    from shared.gpu.modal import ModalGpuBackend

    backend = ModalGpuBackend()
    edit_cls = FakeCls({"edit": EditAnswer(images=[b"png"])})
    vision_cls = FakeCls({"chat": TextAnswer(text="hi"), "ocr": ["not", "an", "answer"]})
    backend._classes.update(edit=edit_cls, vision=vision_cls)

    request = edit(photos[:2], per_input=True)
    assert await backend.edit(request, timeout=5) == EditAnswer(images=(b"png",))
    assert edit_cls.sent == [((request,), {})]  # the dataclass itself, one positional argument

    assert (await backend.vision_chat(chat("qwen3_vl_2b", photos[:1]))).text == "hi"
    assert vision_cls.params == [{"model_id": "qwen3_vl_2b"}]
    with pytest.raises(ProviderFailed, match="redeploy modal_app.py") as failed:
        await backend.vision_ocr(OcrRequest(model_id="got_ocr", image=photos[0]))
    assert failed.value.reason == "generation_error"
