"""Vision: model choice, images by decoding (base64 or fetched through the UrlFetcher port),
typed requests to the GPU backend, and the model's answer read into seed 000's shape."""

from __future__ import annotations

import base64

import pytest

from shared.errors import InvalidInput, ModelNotReady, NotFound, UnsupportedMedia
from shared.gpu import OcrRequest, VisionChatRequest
from shared.gpu.off import OffGpuBackend
from shared.ports import Fetched
from shared.usecases.vision import ComparisonRequest, Vision
from tests.fakes.gpu_backend import RecordingGpu
from tests.helpers import photos

RED, BLUE = photos.solid_png(color=(200, 0, 0)), photos.solid_png(color=(0, 0, 200))


class FakeFetcher:
    """The UrlFetcher port over a dict of URL → bytes (the SSRF rules are SafeFetcher's own
    tests: tests/shared/test_safe_fetch.py)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.asked = files, []

    async def fetch(self, url: str, *, label: str = "image") -> Fetched:
        self.asked.append(url)
        if url not in self.files:
            raise InvalidInput(f"{label}: HTTP 404")
        return Fetched(self.files[url], url, "image/png")


def vision(services, gpu, fetcher=None) -> Vision:
    # "acme" is a GPU admin here: unloading a shared model is for the ones the deployment names.
    settings = services.settings.model_copy(update={"gpu_admins": "acme"})
    return Vision(settings=settings, gpu=gpu, fetcher=fetcher or FakeFetcher({}))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_comparison_reads_the_models_json(services):
    gpu = RecordingGpu(text='```json\n{"summary": "colour", "differences": [{"description": '
                            '"red is blue", "images_affected": [1, 2]}], "common_elements": []}\n```')
    answer = await vision(services, gpu).compare(
        ComparisonRequest(image_base64_list=[b64(RED), b64(BLUE)], seed=3))
    assert answer.success and answer.metadata["parsed"] is True
    assert answer.result["differences"][0]["images_affected"] == [1, 2]
    (request,) = gpu.requests
    assert isinstance(request, VisionChatRequest) and request.model_id == "qwen3_vl_2b"
    assert request.images == (RED, BLUE) and request.seed == 3 and '"summary"' in request.prompt


async def test_comparison_by_url_and_an_unreadable_answer(services):
    fetcher = FakeFetcher({"https://x.example/a.png": RED, "https://x.example/b.png": BLUE})
    gpu = RecordingGpu(text="They differ in colour.")
    answer = await vision(services, gpu, fetcher).compare(
        ComparisonRequest(image_urls=list(fetcher.files)))
    assert not answer.success and answer.result["raw_text"] == "They differ in colour."
    assert answer.metadata["image_source"] == "urls" and "result.raw_text" in answer.error


async def test_one_bad_image_sinks_the_comparison_before_the_model(services):
    gpu = RecordingGpu()
    fetcher = FakeFetcher({"https://x.example/a.png": RED, "https://x.example/c.gif": b"GIF89a"})
    with pytest.raises(UnsupportedMedia, match="image 2"):
        await vision(services, gpu, fetcher).compare(ComparisonRequest(image_urls=list(fetcher.files)))
    assert gpu.requests == []


async def test_models_are_checked_before_the_backend(services):
    gpu = RecordingGpu()
    with pytest.raises(InvalidInput) as err:
        await vision(services, gpu).ocr(RED, model="gpt-9", language=None, max_tokens=10)
    assert err.value.field == "model"
    answer = await vision(services, gpu).ocr(RED, model="got_ocr", language="Russian", max_tokens=9)
    assert answer.model == "got_ocr" and answer.image.width == 16
    assert gpu.requests[-1] == OcrRequest(model_id="got_ocr", image=RED, language="Russian",
                                          max_tokens=9, max_pixels=4194304)


async def test_the_callers_input_is_judged_before_the_backends_readiness(services):
    """A caller's mistake is a 4xx even while the GPU is off: the model, then the file, and
    only then whether the backend can serve (503)."""
    off = vision(services, OffGpuBackend())
    with pytest.raises(UnsupportedMedia, match="not an image"):
        await off.ocr(b"%PDF-1.7", model=None, language=None, max_tokens=5)
    with pytest.raises(UnsupportedMedia):
        await off.chat(b"GIF89a", prompt="?", model=None, temperature=0, max_tokens=5)
    with pytest.raises(InvalidInput):
        await off.compare(ComparisonRequest(image_base64_list=[b64(RED), "not base64!"]))
    with pytest.raises(InvalidInput, match="unknown model"):
        await off.ocr(RED, model="gpt-9", language=None, max_tokens=5)
    with pytest.raises(ModelNotReady):
        await off.ocr(RED, model=None, language=None, max_tokens=5)


async def test_every_route_caps_the_pixels_a_model_sees(services):
    """Seed 000's default (max_pixels 4194304) bounds every vision request, not only the
    comparison: Qwen3-VL's own default would let one photo become ~16k tokens."""
    gpu = RecordingGpu()
    v = vision(services, gpu)
    await v.ocr(RED, model=None, language=None, max_tokens=5)
    await v.chat(RED, prompt="?", model=None, temperature=0, max_tokens=5)
    await v.chat(RED, prompt="?", model=None, temperature=0, max_tokens=5, max_pixels=1048576)
    await v.batch_ocr([("a.png", RED)], model=None, language=None, max_tokens=5)
    await v.compare(ComparisonRequest(image_base64_list=[b64(RED), b64(BLUE)]))
    assert [r.max_pixels for r in gpu.requests] == [4194304, 4194304, 1048576, 4194304, 4194304]


async def test_batch_keeps_going_past_a_bad_file(services):
    gpu = RecordingGpu(text="<think>hmm</think>TEXT")
    model, items = await vision(services, gpu).batch_ocr(
        [("a.png", RED), ("b.gif", b"GIF89a not an image")], model=None, language=None,
        max_tokens=20)
    assert model == "qwen3_vl_2b"
    assert [(i.filename, i.text, i.error is None) for i in items] == [
        ("a.png", "TEXT", True), ("b.gif", None, False)]


async def test_backend_off_sinks_everything_with_the_reason(services):
    off = vision(services, OffGpuBackend())
    with pytest.raises(ModelNotReady, match="BOOTHAI_GPU_BACKEND=off"):
        await off.batch_ocr([("a.png", RED)], model=None, language=None, max_tokens=5)
    with pytest.raises(ModelNotReady):
        await off.chat(RED, prompt="?", model=None, temperature=0, max_tokens=5)
    view = await off.models()
    assert view.available == [] and view.backend == "off"
    assert {m.id for m in view.unavailable} >= {"qwen3_vl_2b", "dots_ocr"}


async def test_model_listing_and_unload(services):
    gpu = RecordingGpu()
    v = vision(services, gpu)
    await v.chat(RED, prompt="what?", model="qwen3_vl_2b", temperature=0.0, max_tokens=4)
    view = await v.models()
    assert view.loaded == ["qwen3_vl_2b"] and "qwen_image_edit" not in {m.id for m in view.available}
    assert await v.unload("qwen3_vl_2b", by="acme") is True
    assert await v.unload("qwen3_vl_2b", by="acme") is False
    with pytest.raises(NotFound):
        await v.unload("gpt-9", by="acme")
