"""The `qwen` and `deepseek` booth providers: what they send the GPU backend (a recording fake),
how backend errors reach the pipeline, and the booth path end to end on tiny in-process models
(`POST /u/{token}` → 200 image)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from shared.config import Settings
from shared.domain import JobStatus, ProcessingType, ProviderName
from shared.errors import DeadlineExceeded, ModelNotReady, ProviderFailed
from shared.gpu import EditAnswer, EditRequest, ImageAnswer, JanusRequest
from shared.providers import prompts
from shared.providers.base import ProviderJob
from shared.providers.deepseek import TYPES_NOTE, DeepSeekProvider
from shared.providers.qwen import NEGATIVE_PROMPT, QwenProvider, output_size
from shared.services import build_services
from tests.conftest import run
from tests.helpers import photos as booth_photos
from tests.helpers.tiny_models import png_bytes


class RecordingGpu:
    """A GPU backend that records its calls and answers with a PNG (or raises `error`)."""

    kind = "inprocess"

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, object, float | None]] = []
        self.error = error

    async def edit(self, request: EditRequest, *, timeout: float | None = None) -> EditAnswer:
        self.calls.append(("edit", request, timeout))
        if self.error:
            raise self.error
        return EditAnswer(images=[png_bytes((10, 200, 10), request.size)])

    async def janus(self, request: JanusRequest, *, timeout: float | None = None) -> ImageAnswer:
        self.calls.append(("janus", request, timeout))
        if self.error:
            raise self.error
        return ImageAnswer(image=png_bytes((10, 10, 200), request.size))


def make_job(photo: bytes, *, type=ProcessingType.FACE_SWAP, prompt="", reference=None,
             seconds=30.0) -> ProviderJob:
    with Image.open(io.BytesIO(photo)) as img:
        size = img.size
    return ProviderJob(job_id="j1", tenant="acme", slot_index=1, type=type, prompt=prompt,
                       photo=photo, photo_mime="image/jpeg", photo_size=size,
                       deadline=time.monotonic() + seconds, reference=reference,
                       reference_mime="image/png" if reference else None)


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


# -- what the providers send -------------------------------------------------------------------------
def test_output_size_keeps_the_aspect_ratio_at_about_one_megapixel() -> None:
    for photo_size in [(6000, 4000), (600, 800), (1080, 1920), (1000, 1000), (50, 30)]:
        w, h = output_size(photo_size)
        assert w % 32 == 0 and h % 32 == 0
        assert 0.85 < w * h / 1024**2 < 1.15
        assert abs(w / h - photo_size[0] / photo_size[1]) < 0.05
    assert output_size((600, 800), area=96 * 128) == (96, 128)


async def test_qwen_sends_guest_then_reference_with_the_type_prompt(photo, reference) -> None:
    gpu = RecordingGpu()
    provider = QwenProvider(gpu)
    job = make_job(photo, reference=reference, prompt="pirate captain")
    result = await provider.run(job)
    (method, request, timeout), = gpu.calls
    assert method == "edit" and isinstance(request, EditRequest)
    assert request.images == (photo, reference)
    assert request.prompt == prompts.build_prompt(
        ProcessingType.FACE_SWAP, "pirate captain", has_reference=True)
    assert "first image is a photo of a guest" in request.prompt
    assert request.per_input is False and request.n == 1
    assert request.negative_prompt == NEGATIVE_PROMPT
    assert request.size == output_size((600, 800))
    assert request.steps is None and request.true_cfg_scale is None  # the backend's defaults
    assert 25 < timeout <= 30
    assert result.mime == "image/jpeg" and size_of(result.data) == request.size

    # A background slot described in words needs no picture: one image only.
    await provider.run(make_job(photo, type=ProcessingType.BACKGROUND, prompt="a beach"))
    assert gpu.calls[-1][1].images == (photo,)
    with pytest.raises(ProviderFailed) as failed:
        await provider.run(make_job(photo, type=ProcessingType.FACE_SWAP))
    assert failed.value.reason == "missing_reference"


async def test_deepseek_describes_and_answers_at_the_photo_size(photo) -> None:
    gpu = RecordingGpu()
    provider = DeepSeekProvider(gpu)
    assert provider.types == {ProcessingType.PROMPT} and provider.types_note == TYPES_NOTE
    result = await provider.run(make_job(photo, type=ProcessingType.PROMPT, prompt=" astronaut "))
    (method, request, timeout), = gpu.calls
    assert method == "janus" and request == JanusRequest(photo=photo, prompt="astronaut",
                                                         size=(600, 800))
    assert 25 < timeout <= 30
    assert result.mime == "image/jpeg" and size_of(result.data) == (600, 800)


@pytest.mark.parametrize("cls,type", [(QwenProvider, ProcessingType.PROMPT),
                                      (DeepSeekProvider, ProcessingType.PROMPT)])
async def test_backend_errors_become_what_the_pipeline_knows(photo, cls, type) -> None:
    job = make_job(photo, type=type, prompt="make it snow")
    with pytest.raises(ProviderFailed) as failed:
        await cls(RecordingGpu(ModelNotReady("Modal app 'boothai-gpu' is not deployed"))).run(job)
    assert failed.value.reason == "gpu_not_ready" and "not deployed" in str(failed.value)
    with pytest.raises(TimeoutError):  # the pipeline reports it as `deadline` (504)
        await cls(RecordingGpu(DeadlineExceeded("model did not answer within 30 s"))).run(job)
    with pytest.raises(ProviderFailed) as failed:
        await cls(RecordingGpu(ProviderFailed("generation_error", "CUDA OOM"))).run(job)
    assert failed.value.reason == "generation_error"


# -- the booth path on tiny models ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def _one_torch_thread():
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory, _one_torch_thread) -> dict[str, Path]:
    from tests.helpers.tiny_models import tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    return {"qwen": tiny_model("qwen_image_edit", root), "janus": tiny_model("janus", root)}


@pytest.fixture(scope="module")
def tiny_backend(tiny_dirs):
    from shared.gpu import build_gpu_backend

    # Conditioning sizes shrunk (Settings has no knob for them; at 1024² a tiny edit is ~60 s).
    return build_gpu_backend(
        "inprocess", qwen_edit_model=str(tiny_dirs["qwen"]), janus_model=str(tiny_dirs["janus"]),
        qwen_lightning_lora="", device="cpu",
        edit_condition_image_size=32 * 32, edit_vae_image_size=32 * 32,
    )


def booth_settings(tmp_path: Path, backend: str, tiny_dirs: dict | None = None) -> Settings:
    models = {"qwen_edit_model": str(tiny_dirs["qwen"]),
              "janus_model": str(tiny_dirs["janus"])} if tiny_dirs else {}
    return Settings(data_dir=tmp_path / "data", enabled_providers=["qwen", "deepseek", "local"],
                    gpu_backend=backend, **models)


@pytest.fixture
def gpu_booth(tmp_path, tiny_dirs, tiny_backend, live_server_factory):
    services = build_services(booth_settings(tmp_path, "inprocess", tiny_dirs))
    assert isinstance(services.providers.get(ProviderName.QWEN), QwenProvider)
    assert isinstance(services.providers.get(ProviderName.DEEPSEEK), DeepSeekProvider)
    # Tiny sizes: the real ~1 MP output at 2 steps takes ~70 s on the tiny CPU model.
    services.gpu = tiny_backend
    services.providers.providers[ProviderName.QWEN] = QwenProvider(
        tiny_backend, output_area=96 * 128, steps=2)
    services.providers.providers[ProviderName.DEEPSEEK] = DeepSeekProvider(tiny_backend)
    yield _booth(services, live_server_factory)
    run(services.pipeline.drain())


def _booth(services, live_server_factory) -> dict:
    tenant, _ = run(services.create_tenant("acme", "acme-pass"))
    server = live_server_factory(services)
    operator = httpx.Client(base_url=server.url, auth=("acme", "acme-pass"), timeout=60)
    return {"url": server.url, "operator": operator, "services": services,
            "password": tenant.upload_password}


def configure(booth: dict, provider: str, body: dict, reference: bytes | None = None):
    operator = booth["operator"]
    if reference is not None:
        r = operator.put(f"/api/slots/{provider}/1/reference",
                         files={"file": ("scene.png", reference, "image/png")})
        assert r.status_code == 200, r.text
    return operator.put(f"/api/slots/{provider}/1", json={"enabled": True, **body})


def post_photo(booth: dict, slot: dict, data: bytes) -> httpx.Response:
    return httpx.post(slot["upload_url"], data=booth_photos.dslr_fields(booth["password"]),
                      files={"fileToUpload": ("IMG_0001.JPG", data, "image/jpeg")}, timeout=60)


@pytest.mark.gpu_models
def test_booth_face_swap_on_qwen_and_prompt_on_deepseek(gpu_booth, photo, reference) -> None:
    saved = configure(gpu_booth, "qwen", {"type": "face_swap", "prompt": "keep the smile"},
                      reference)
    assert saved.status_code == 200, saved.text
    r = post_photo(gpu_booth, saved.json(), photo)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg" and size_of(r.content) == (96, 128)
    job = run(gpu_booth["services"].repo.get_job("acme", r.headers["x-boothai-job"]))
    assert job.status is JobStatus.DONE and job.attempts[0]["provider"] == "qwen"

    tabs = {t["provider"]: t for t in gpu_booth["operator"].get("/api/slots").json()["tabs"]}
    assert tabs["deepseek"]["types"] == ["prompt"]
    assert tabs["deepseek"]["types_note"] == TYPES_NOTE
    refused = configure(gpu_booth, "deepseek", {"type": "face_swap"}, reference)
    assert refused.status_code == 422 and refused.json()["field"] == "type"
    assert "cannot edit faces or backgrounds" in refused.json()["detail"]

    saved = configure(gpu_booth, "deepseek", {"type": "prompt", "prompt": "as an astronaut"})
    assert saved.status_code == 200, saved.text
    r = post_photo(gpu_booth, saved.json(), photo)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg" and size_of(r.content) == (600, 800)


def test_gpu_backend_off_shows_on_the_saved_slot_and_fails_the_booth_by_name(
    tmp_path, live_server_factory, photo
) -> None:
    services = build_services(booth_settings(tmp_path, "off"))
    booth = _booth(services, live_server_factory)
    # Issue 14: slots save in any state; what stops one is on its card, not a 422.
    for provider, body in [("qwen", {"type": "prompt", "prompt": "snow"}),
                           ("deepseek", {"type": "prompt", "prompt": "snow"})]:
        saved = configure(booth, provider, body)
        assert saved.status_code == 200, saved.text
        assert "BOOTHAI_GPU_BACKEND" in saved.json()["problem"]
        assert saved.json()["problem_code"] == "setup"

    # A slot saved while the backend was on, served after it was switched off:
    slot = run(services.repo.get_slot("acme", ProviderName.QWEN, 1))
    slot.type, slot.prompt, slot.enabled = ProcessingType.PROMPT, "snow", True
    run(services.repo.save_slot(slot))
    r = post_photo(booth, {"upload_url": f"{booth['url']}/u/{slot.upload_token}"}, photo)
    assert r.status_code == 502 and "BOOTHAI_GPU_BACKEND" in r.text
    run(services.pipeline.drain())
    job = run(services.repo.recent_jobs("acme", limit=1))[0]
    assert job.status is JobStatus.FAILED and job.reason == "gpu_not_ready"


@pytest.mark.gpu_models
def test_a_booth_slot_with_a_lora_configured_runs_8_steps_without_cfg(tmp_path, tiny_dirs) -> None:
    """The booth's Qwen slot as `Settings` builds it (no steps, no CFG sent) over the inprocess
    backend with a Lightning LoRA configured: 8 denoiser passes for guest + reference, not
    the base model's 50 steps × 2 (true CFG)."""
    from tests.helpers.tiny_models import LIGHTNING_WEIGHT, tiny_model

    lora = f"{tiny_model('qwen_lightning_lora', tiny_dirs['qwen'].parent)}::{LIGHTNING_WEIGHT}"
    settings = Settings(data_dir=tmp_path / "data", enabled_providers=["qwen"], gpu_backend="inprocess",
                        qwen_edit_model=str(tiny_dirs["qwen"]), qwen_lightning_lora=lora, gpu_device="cpu",
                        qwen_edit_condition_area=32 * 32, qwen_edit_vae_area=32 * 32,
                        qwen_booth_area=32 * 48)
    services = build_services(settings)
    provider = services.providers.get(ProviderName.QWEN)
    assert isinstance(provider, QwenProvider)
    passes: list[int] = []
    from gpu_jobs.image_edit import QwenImageEditor

    original = QwenImageEditor.load

    def load_and_count(self) -> None:
        fresh = not self.loaded
        original(self)
        if fresh:
            self._pipe.transformer.register_forward_pre_hook(lambda m, a: passes.append(1))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(QwenImageEditor, "load", load_and_count)
        guest = png_bytes((200, 120, 90), (60, 40))
        job = make_job(guest, type=ProcessingType.FACE_SWAP, reference=png_bytes((20, 90, 200), (40, 40)),
                       seconds=120)
        result = run(provider.run(job))
    assert result.mime == "image/jpeg"
    assert len(passes) == 8
    run(services.aclose())
