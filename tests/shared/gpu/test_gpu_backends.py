"""The GPU backend adapters, on tiny models (inprocess) and with no Modal credentials."""

from __future__ import annotations

import asyncio
import dataclasses
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
    before = time.time()
    assert await backend.edit(request, timeout=5) == EditAnswer(images=(b"png",))
    [((sent,), kwargs)] = edit_cls.sent  # the dataclass itself, one positional argument
    assert kwargs == {} and isinstance(sent, EditRequest)
    # ...carrying the caller's bound as its deadline, so a late container drops it
    assert before + 5 <= sent.deadline <= time.time() + 5
    assert dataclasses.replace(sent, deadline=None) == request

    assert (await backend.vision_chat(chat("qwen3_vl_2b", photos[:1]))).text == "hi"
    assert vision_cls.params == [{"model_id": "qwen3_vl_2b"}]
    with pytest.raises(ProviderFailed, match="redeploy modal_app.py") as failed:
        await backend.vision_ocr(OcrRequest(model_id="got_ocr", image=photos[0]))
    assert failed.value.reason == "generation_error"


# --- deadlines reach the GPU ---------------------------------------------------------------------
class GatedEditor(SlowEditor):
    """Records which requests reached the runner at all."""

    def __init__(self) -> None:
        super().__init__()
        self.entered: list[str] = []

    def edit(self, images, prompt, **kwargs):
        self.entered.append(prompt)
        return super().edit(images, prompt, **kwargs)


async def test_a_timed_out_request_never_reaches_the_runner(monkeypatch) -> None:
    """Guest 1's edit holds the GPU; guest 2's booth gives up while queued behind it. When the
    GPU frees, guest 2's request is dropped, not run: guest 3 does not wait for it."""
    from gpu_jobs import tasks

    dropped: list[str] = []
    original = tasks.drop_if_expired

    def spy(request) -> None:
        try:
            original(request)
        except Exception:
            dropped.append(request.prompt)
            raise

    monkeypatch.setattr(tasks, "drop_if_expired", spy)
    backend = InProcessGpuBackend(qwen_edit_model="unused", janus_model="unused")
    runner = GatedEditor()
    backend._factories[QWEN_IMAGE_EDIT] = lambda: runner

    first = asyncio.create_task(backend.edit(EditRequest(images=[b"x"], prompt="guest 1"), timeout=30))
    while runner.entered != ["guest 1"]:
        await asyncio.sleep(0.01)
    with pytest.raises(DeadlineExceeded):
        await backend.edit(EditRequest(images=[b"x"], prompt="guest 2"), timeout=0.2)
    runner.release.set()
    assert (await first).images == (b"png-guest 1",)
    third = await backend.edit(EditRequest(images=[b"x"], prompt="guest 3"), timeout=30)
    assert third.images == (b"png-guest 3",)
    for _ in range(500):  # the abandoned thread takes the lock at some point, then drops
        if dropped or len(runner.entered) > 2:
            break
        await asyncio.sleep(0.01)
    assert runner.entered == ["guest 1", "guest 3"]
    assert dropped == ["guest 2"]


def test_tasks_drop_an_expired_request_before_the_runner() -> None:
    from gpu_jobs import tasks
    from gpu_jobs.errors import DeadlinePassed

    runner = GatedEditor()
    runner.release.set()
    late = EditRequest(images=[b"x"], prompt="late", deadline=time.time() - 1)
    with pytest.raises(DeadlinePassed):
        tasks.edit(runner, late)
    assert tasks.edit(runner, dataclasses.replace(late, prompt="ok", deadline=time.time() + 60)).images
    assert runner.entered == ["ok"]
    with pytest.raises(DeadlinePassed):
        tasks.janus(runner, JanusRequest(photo=b"x", prompt="p", size=(8, 8), deadline=1.0))


# --- preload, /ready while loading, the memory budget -----------------------------------------
class SizedRunner:
    """A runner of a known size whose load waits for a gate."""

    def __init__(self, name: str, size: int, log: list[str], gate: threading.Event | None = None) -> None:
        self.name, self.size, self.log, self.gate = name, size, log, gate
        self.loaded = False

    def load(self) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        self.loaded = True
        self.log.append(f"load {self.name}")

    def unload(self) -> None:
        self.loaded = False
        self.log.append(f"unload {self.name}")

    def memory_bytes(self) -> int:
        return self.size if self.loaded else 0

    def edit(self, images, prompt, **kwargs):
        return [b"png"]

    def generate_from_photo(self, photo, prompt, size, seed=None):
        return b"png"


async def test_preload_reports_loading_until_the_models_are_in() -> None:
    backend = InProcessGpuBackend(qwen_edit_model="unused", janus_model="unused")
    log: list[str] = []
    gate = threading.Event()
    backend._factories[QWEN_IMAGE_EDIT] = lambda: SizedRunner("edit", 10, log, gate)
    backend.start_preload([QWEN_IMAGE_EDIT])
    for _ in range(500):
        if backend.loading():
            break
        await asyncio.sleep(0.01)
    assert await backend.ready() == (False, "loading qwen_image_edit")
    # a booth call meanwhile waits for the same load (no second one) within its deadline
    with pytest.raises(DeadlineExceeded):
        await backend.edit(EditRequest(images=[b"x"], prompt="p"), timeout=0.1)
    gate.set()
    await backend._preload
    assert await backend.ready() == (True, "")
    assert log == ["load edit"] and (await backend.models()).loaded == (QWEN_IMAGE_EDIT,)
    await backend.aclose()


async def test_loading_under_a_budget_unloads_the_least_recently_used() -> None:
    backend = InProcessGpuBackend(qwen_edit_model="unused", janus_model="unused", memory_budget_bytes=100)
    log: list[str] = []
    backend._factories[QWEN_IMAGE_EDIT] = lambda: SizedRunner("edit", 60, log)
    backend._factories[JANUS] = lambda: SizedRunner("janus", 60, log)
    photo = JanusRequest(photo=b"x", prompt="p", size=(8, 8))
    await backend.edit(EditRequest(images=[b"x"], prompt="p"))
    await backend.janus(photo)  # 60 + 60 > 100: the editor goes
    assert (await backend.models()).loaded == (JANUS,)
    await backend.edit(EditRequest(images=[b"x"], prompt="p"))  # known size now: Janus goes first
    assert log == ["load edit", "load janus", "unload edit", "unload janus", "load edit"]
    assert (await backend.models()).loaded == (QWEN_IMAGE_EDIT,)


@pytest.mark.gpu_models
async def test_tiny_models_are_evicted_to_stay_under_the_budget(
    qwen_edit_dir, janus_dir, vision_dir, photos
) -> None:
    """Real runners and real weights: a budget that holds the tiny editor or the tiny Qwen3-VL
    but not both keeps one of them loaded, measured by their parameters."""
    from shared.gpu.inprocess import weights_on_disk

    edit_bytes = weights_on_disk(str(qwen_edit_dir))
    vision_bytes = weights_on_disk(str(vision_dir / "qwen3_vl_2b"))
    assert edit_bytes and vision_bytes
    backend = build_gpu_backend(
        "inprocess", qwen_edit_model=str(qwen_edit_dir), janus_model=str(janus_dir),
        qwen_lightning_lora="off", vision_model_dir=str(vision_dir), device="cpu",
        edit_condition_image_size=32 * 32, edit_vae_image_size=32 * 32,
        memory_budget_bytes=max(edit_bytes, vision_bytes) + min(edit_bytes, vision_bytes) // 2,
    )
    await backend.vision_chat(chat("qwen3_vl_2b", photos[:1], max_tokens=1))
    assert (await backend.models()).loaded == ("qwen3_vl_2b",)
    assert len((await backend.edit(edit(photos[:1]))).images) == 1
    assert (await backend.models()).loaded == (QWEN_IMAGE_EDIT,)
    assert backend._sizes[QWEN_IMAGE_EDIT] <= backend.memory_budget_bytes
    await backend.aclose()


@pytest.mark.gpu_models
def test_settings_reach_the_inprocess_backend_and_its_editor(tmp_path) -> None:
    from shared.config import Settings
    from shared.services import build_services

    settings = Settings(data_dir=tmp_path / "data", gpu_backend="inprocess",
                        enabled_providers=["qwen", "deepseek", "local"], qwen_lightning_lora="off",
                        qwen_attention_backend="native", qwen_compile=True,
                        qwen_reference_vae_area=512 * 512, gpu_memory_budget_gib=1.5)
    services = build_services(settings)
    backend = services.gpu
    assert isinstance(backend, InProcessGpuBackend)
    assert backend.memory_budget_bytes == int(1.5 * 2**30)
    runner = backend._factories[QWEN_IMAGE_EDIT]()
    assert (runner.attention_backend, runner.compile_blocks, runner.reference_vae_image_size) == (
        "native", True, 512 * 512)
    assert runner.lightning_lora is None  # "off"
    assert services.gpu_preload_ids() == [QWEN_IMAGE_EDIT, JANUS]
    local_only = Settings(data_dir=tmp_path / "d2", enabled_providers=["local"])
    assert build_services(local_only).gpu_preload_ids() == []


async def test_a_preload_that_fails_keeps_ready_false_with_the_reason() -> None:
    class Broken(SizedRunner):
        def load(self) -> None:
            raise OSError("weights folder /models/qwen is missing")

    backend = InProcessGpuBackend(qwen_edit_model="unused", janus_model="unused")
    backend._factories[QWEN_IMAGE_EDIT] = lambda: Broken("edit", 1, [])
    backend.start_preload([QWEN_IMAGE_EDIT])
    await backend._preload
    ready, reason = await backend.ready()
    assert not ready and "qwen_image_edit could not be loaded" in reason and "missing" in reason
