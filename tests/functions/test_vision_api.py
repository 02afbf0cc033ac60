"""The vision API (seeds 000, 001) over a live server, on tiny random Qwen3-VL, Qwen2-VL and
GOT-OCR2 models loaded through the real path: Settings(gpu_backend="inprocess",
vision_model_dir=<one folder per model id>). Comparison images come as base64 and from a
loopback image server that only an explicit allow-list entry lets the fetcher reach."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from functions.deps import install_services
from shared.apikeys import ApiKeys
from shared.config import Settings
from shared.gpu import TextAnswer, VisionChatRequest
from shared.gpu.off import OffGpuBackend
from shared.safe_fetch import FetchPolicy, SafeFetcher
from shared.services import Services, build_services
from tests.conftest import LiveServer
from tests.fakes.server import run_app_in_thread

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu_models

SMALL = {"min_pixels": 1024, "max_pixels": 4096}  # few vision tokens: fast on CPU


def image_bytes(fmt: str, color: tuple[int, int, int] = (200, 30, 30), size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", size, color)
    (img.convert("P") if fmt == "GIF" else img).save(buf, format=fmt)
    return buf.getvalue()


RED, GREEN, BLUE, GREY = (image_bytes("PNG", c) for c in
                          [(200, 30, 30), (30, 200, 30), (30, 30, 200), (90, 90, 90)])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- fixtures: tiny models, an image server, one live app for the module ------------------------
@pytest.fixture(scope="module")
def vision_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.helpers.tiny_models import tiny_model

    root = tmp_path_factory.mktemp("vision-api-models")
    folder = root / "vision"
    folder.mkdir()
    for model_id, family in [("qwen3_vl_2b", "qwen3_vl"), ("qwen_vl_2b", "qwen2_vl"),
                             ("got_ocr", "got_ocr2")]:
        (folder / model_id).symlink_to(tiny_model(family, root), target_is_directory=True)
    return folder


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    files = {"/a.png": RED, "/b.png": GREEN, "/c.jpg": image_bytes("JPEG", (30, 30, 200)),
             "/d.gif": image_bytes("GIF")}

    async def serve(request: Request) -> Response:
        if request.url.path == "/to-metadata":
            return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=302)
        data = files.get(request.url.path)
        return Response(data, media_type="image/png") if data else Response(status_code=404)

    url, stop = run_app_in_thread(Starlette(routes=[Route("/{name:path}", serve)]))
    yield url
    stop()


class Api:
    def __init__(self, server: LiveServer, services: Services, key: str) -> None:
        self.server, self.services, self.key = server, services, key
        self.url = server.url
        self.client = httpx.Client(base_url=server.url, timeout=60,
                                   headers={"Authorization": f"Bearer {key}"})


@pytest.fixture(scope="module")
def api(tmp_path_factory, vision_dir, image_server) -> Iterator[Api]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    settings = Settings(data_dir=tmp_path_factory.mktemp("vision-api-data"),
                        enabled_providers=["local"], gpu_backend="inprocess",
                        vision_model_dir=str(vision_dir), gpu_admins="acme")
    # The loopback image server is reachable through exactly one allow-list entry; every
    # other address (and every redirect away from it) meets the strict default policy.
    fetcher = SafeFetcher(FetchPolicy(allow_hosts=frozenset({image_server.removeprefix("http://")})))
    services = build_services(settings, fetcher=fetcher)
    asyncio.run(services.create_tenant("acme", "operator-pass-1"))
    _, key = asyncio.run(ApiKeys(services.tables).create("acme", "tests"))
    server = LiveServer(services).start()
    api = Api(server, services, key)
    yield api
    api.client.close()
    server.stop()
    asyncio.run(services.aclose())
    install_services(None)
    torch.set_num_threads(previous)


def compare(api: Api, **body: Any) -> httpx.Response:
    return api.client.post("/api/v1/image/comparison", json=body)


def assert_envelope_error(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["result"] is None and body["metadata"] is None
    assert fragment in body["error"], body["error"]


# --- POST /api/v1/image/comparison -------------------------------------------------------------
def test_comparison_json_on_a_real_model_keeps_the_raw_text(api: Api) -> None:
    r = compare(api, image_base64_list=[b64(RED), b64(GREEN)], max_tokens=12, **SMALL)
    assert r.status_code == 200, r.text
    body = r.json()
    # A tiny random model writes garbage: no JSON in it, so success is false and the raw
    # text is kept beside an empty result of the seed's shape.
    assert body["success"] is False
    assert "no readable JSON" in body["error"] and "result.raw_text" in body["error"]
    assert isinstance(body["result"]["raw_text"], str)
    assert body["result"]["differences"] == [] and body["result"]["common_elements"] == []
    meta = body["metadata"]
    assert {k: meta[k] for k in ("task", "num_images", "comparison_type", "output_format", "model",
                                 "image_source", "parsed")} == {
        "task": "image_comparison", "num_images": 2, "comparison_type": "differences",
        "output_format": "json", "model": "qwen3_vl_2b", "image_source": "base64", "parsed": False}
    assert meta["processing_time"] >= 0


def test_comparison_of_urls_from_a_loopback_server_in_text_mode(api: Api, image_server: str) -> None:
    r = compare(api, image_urls=[f"{image_server}/a.png", f"{image_server}/b.png",
                                 f"{image_server}/c.jpg"],
                comparison_type="changes", output_format="text", max_tokens=6, **SMALL)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["error"] is None
    assert isinstance(body["result"]["text"], str)
    assert body["metadata"]["image_source"] == "urls" and body["metadata"]["num_images"] == 3


def test_comparison_of_four_images_on_qwen2_vl_is_reproducible_with_a_seed(api: Api) -> None:
    body = {"image_base64_list": [b64(RED), b64(GREEN), b64(BLUE), "data:image/png;base64," + b64(GREY)],
            "comparison_type": "similarities", "output_format": "text", "model": "qwen_vl_2b",
            "temperature": 0.9, "top_p": 0.8, "seed": 42, "max_tokens": 8, **SMALL}
    first, second = compare(api, **body), compare(api, **body)
    assert first.status_code == 200, first.text
    assert first.json()["result"] == second.json()["result"]
    assert first.json()["metadata"]["model"] == "qwen_vl_2b"


@pytest.mark.parametrize(("body", "status", "fragment"), [
    ({"image_base64_list": [b64(RED)]}, 400, "Number of images must be between 2 and 4"),
    ({"image_base64_list": [b64(RED)] * 5}, 400, "Number of images must be between 2 and 4"),
    ({"image_urls": ["http://x/1", "http://x/2"], "image_base64_list": [b64(RED)] * 2}, 400,
     "exactly one of image_urls or image_base64_list"),
    ({}, 400, "exactly one of image_urls or image_base64_list"),
    ({"image_base64_list": [b64(RED)] * 2, "comparison_type": "everything"}, 400, "comparison_type"),
    ({"image_base64_list": [b64(RED)] * 2, "output_format": "xml"}, 400, "output_format"),
    ({"image_base64_list": [b64(RED)] * 2, "top_p": 0}, 400, "top_p"),
    ({"image_base64_list": [b64(RED)] * 2, "max_tokens": 0}, 400, "max_tokens"),
    ({"image_base64_list": [b64(RED)] * 2, "min_pixels": 8192, "max_pixels": 4096}, 400,
     "min_pixels must not exceed max_pixels"),
    ({"image_base64_list": [b64(RED)] * 2, "model": "gpt-9"}, 400, "unknown model 'gpt-9'"),
    ({"image_base64_list": [b64(RED)] * 2, "model": "dots_ocr"}, 400, "dots_ocr is unavailable"),
    ({"image_base64_list": [b64(RED), "%%% not base64"]}, 400, "image 2 is not valid base64"),
    ({"image_base64_list": [b64(RED), b64(image_bytes("GIF"))]}, 415, "image 2 is GIF"),
    ({"image_base64_list": [b64(RED), b64(RED[: len(RED) // 2])]}, 415, "image 2 is damaged"),
    ({"image_base64_list": [b64(RED), b64(b"\0" * (10 * 1024 * 1024 + 10))]}, 413,
     "image 2 is larger than 10 MB"),
])
def test_comparison_request_errors_use_the_seed_envelope(api: Api, body: dict, status: int,
                                                         fragment: str) -> None:
    assert_envelope_error(compare(api, **body), status, fragment)


def test_comparison_body_that_is_not_json(api: Api) -> None:
    r = api.client.post("/api/v1/image/comparison", content=b"{not json",
                        headers={"Content-Type": "application/json"})
    assert_envelope_error(r, 400, "not valid JSON")


def test_comparison_urls_cannot_reach_internal_addresses(api: Api, image_server: str) -> None:
    ok = f"{image_server}/a.png"
    for bad, fragment in [
        (f"{api.url}/health", "loopback address"),  # the API itself, on another loopback port
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata address"),
        ("http://localhost/admin", "this machine"),
        ("http://[::1]/", "loopback address"),
        (f"{image_server}/to-metadata", "cloud metadata address"),  # via a redirect
        ("file:///etc/passwd", "only http and https"),
    ]:
        assert_envelope_error(compare(api, image_urls=[ok, bad], **SMALL), 400, fragment)
    assert_envelope_error(compare(api, image_urls=[ok, f"{image_server}/d.gif"]), 415, "image 2 is GIF")
    assert_envelope_error(compare(api, image_urls=[ok, f"{image_server}/nope.png"]), 400, "HTTP 404")


class ScriptedVision:
    """A GPU backend that answers vision_chat with a fixed text (what a real model wrote)."""

    kind = "inprocess"

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    async def vision_chat(self, request: VisionChatRequest, *, timeout: float | None = None
                          ) -> TextAnswer:
        self.calls.append({**dataclasses.asdict(request), "model": request.model_id,
                           "images": list(request.images), "timeout": timeout})
        return TextAnswer(self.answer)


def test_comparison_parses_a_realistic_fenced_answer(api: Api, monkeypatch) -> None:
    answer = ("Sure! Here is the comparison:\n```json\n{\n  \"summary\": \"The sofa changed colour.\",\n"
              "  \"differences\": [\n    {\"description\": \"grey sofa is now red\", \"location\": "
              "\"centre\", \"images_affected\": [1, 2]},\n  ],\n  \"common_elements\": [\"window\", "
              "\"floor\"]\n}\n```\nLet me know if you need more.")
    scripted = ScriptedVision(answer)
    monkeypatch.setattr(api.services.vision, "gpu", scripted)
    r = compare(api, image_base64_list=[b64(RED), b64(GREEN)], prompt="Focus on furniture",
                seed=7, max_tokens=300)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {
        "success": True,
        "result": {"summary": "The sofa changed colour.",
                   "differences": [{"description": "grey sofa is now red", "location": "centre",
                                    "images_affected": [1, 2]}],
                   "common_elements": ["window", "floor"]},
        "error": None,
        "metadata": {**body["metadata"], "task": "image_comparison", "num_images": 2, "parsed": True},
    }
    call = scripted.calls[0]
    assert call["images"] == [RED, GREEN] and call["model"] == "qwen3_vl_2b"
    assert "Focus on furniture" in call["prompt"] and '"images_affected"' in call["prompt"]
    assert (call["max_tokens"], call["temperature"], call["top_p"], call["seed"],
            call["min_pixels"], call["max_pixels"]) == (300, 0.0, 1.0, 7, 65536, 4194304)


# --- backend off / absent ------------------------------------------------------------------------
def test_backend_off_is_503_with_the_reason(api: Api, monkeypatch) -> None:
    monkeypatch.setattr(api.services.vision, "gpu", OffGpuBackend())
    assert_envelope_error(compare(api, image_base64_list=[b64(RED)] * 2), 503, "GPU backend is off")
    r = api.client.post("/ocr", files={"file": ("a.png", RED, "image/png")})
    assert r.status_code == 503 and "GPU backend is off" in r.json()["detail"]
    r = api.client.delete("/models/qwen3_vl_2b")
    assert r.status_code == 503
    listing = api.client.get("/models").json()
    assert listing["available"] == [] and listing["backend"] == "off"
    reasons = {m["id"]: m["reason"] for m in listing["unavailable"]}
    assert "BOOTHAI_GPU_BACKEND=off" in reasons["qwen3_vl_2b"]
    assert "trust_remote_code" in reasons["dots_ocr"]
    r = api.client.post("/chat", files={"file": ("a.png", RED, "image/png")})
    assert r.status_code == 503 and "GPU backend is off" in r.json()["detail"]
    # The caller's mistakes are still theirs to fix while the GPU is off: 4xx, not 503.
    r = api.client.post("/ocr", files={"file": ("doc.pdf", b"%PDF-1.7", "application/pdf")})
    assert r.status_code == 415 and "not an image" in r.json()["detail"]
    r = api.client.post("/chat", files={"file": ("a.png", RED)}, data={"max_pixels": "10"})
    assert r.status_code == 400 and "max_pixels" in r.json()["detail"]
    assert_envelope_error(compare(api, image_base64_list=[b64(RED), "bm90IGFuIGltYWdl"]), 415,
                          "image 2")


# --- auth ---------------------------------------------------------------------------------------
def test_every_endpoint_needs_an_api_key(api: Api) -> None:
    bare = httpx.Client(base_url=api.url, timeout=30)
    r = bare.post("/api/v1/image/comparison", json={"image_base64_list": [b64(RED)] * 2})
    assert_envelope_error(r, 401, "API key")
    assert bare.get("/models").status_code == 401
    assert bare.post("/ocr", files={"file": ("a.png", RED)}).status_code == 401
    # Basic user:api-key works as well as Bearer
    assert bare.get("/models", auth=("anyone", api.key)).status_code == 200
    bare.close()


# --- /ocr, /chat, /batch/ocr -----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF"])
def test_ocr_accepts_the_seed_formats(api: Api, fmt: str) -> None:
    data = image_bytes(fmt, size=(48, 32))
    r = api.client.post("/ocr", files={"file": (f"doc.{fmt.lower()}", data)},
                        data={"model": "got_ocr", "language": "Russian", "max_tokens": "4"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"text", "model", "processing_time", "image_size", "language"}
    assert (body["model"], body["image_size"], body["language"]) == ("got_ocr", [48, 32], "Russian")
    assert isinstance(body["text"], str)


def test_ocr_takes_model_and_language_as_query_parameters_too(api: Api) -> None:
    r = api.client.post("/ocr", files={"file": ("doc.png", RED)},
                        params={"model": "qwen3_vl_2b", "language": "English"},
                        data={"max_tokens": "3"})
    assert r.status_code == 200, r.text
    assert (r.json()["model"], r.json()["language"]) == ("qwen3_vl_2b", "English")


@pytest.mark.parametrize(("files", "data", "status", "fragment"), [
    ({"file": ("anim.gif", image_bytes("GIF"))}, {}, 415, "the file is GIF"),
    ({"file": ("doc.png", RED[: len(RED) // 2])}, {}, 415, "damaged or truncated"),
    ({"file": ("doc.pdf", b"%PDF-1.7")}, {}, 415, "not an image"),
    ({"file": ("big.png", b"\0" * (10 * 1024 * 1024 + 1))}, {}, 413, "larger than 10 MB"),
    ({}, {"model": "got_ocr"}, 400, "file is required"),
    ({"file": ("doc.png", RED)}, {"model": "gpt-9"}, 400, "unknown model"),
    ({"file": ("doc.png", RED)}, {"max_tokens": "0"}, 400, "max_tokens"),
])
def test_ocr_errors(api: Api, files: dict, data: dict, status: int, fragment: str) -> None:
    r = api.client.post("/ocr", files=files or None, data=data)
    assert r.status_code == status, r.text
    assert fragment in r.json()["detail"]


def test_chat(api: Api) -> None:
    r = api.client.post("/chat", files={"file": ("a.png", RED)},
                        data={"prompt": "Что изображено на картинке?", "model": "qwen_vl_2b",
                              "temperature": "0.7", "max_tokens": "5"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"response", "model", "processing_time", "prompt"}
    assert (body["model"], body["prompt"]) == ("qwen_vl_2b", "Что изображено на картинке?")
    r = api.client.post("/chat", files={"file": ("a.png", RED)}, data={"max_tokens": "2"})
    assert r.status_code == 200 and r.json()["prompt"] == "Describe this image"
    # GOT-OCR reads text; it does not chat
    r = api.client.post("/chat", files={"file": ("a.png", RED)}, data={"model": "got_ocr"})
    assert r.status_code == 400 and "only does OCR" in r.json()["detail"]
    r = api.client.post("/chat", files={"file": ("a.png", RED)}, data={"temperature": "1.5"})
    assert r.status_code == 400 and "temperature" in r.json()["detail"]


def test_batch_ocr_one_bad_file_does_not_sink_the_batch(api: Api) -> None:
    files = [("files", ("doc1.png", RED)), ("files", ("doc2.png", b"\x89PNG\r\n\x1a\ncorrupt")),
             ("files", ("doc3.jpg", image_bytes("JPEG"))), ("files", ("anim.gif", image_bytes("GIF")))]
    r = api.client.post("/batch/ocr", files=files, params={"model": "got_ocr"}, data={"max_tokens": "3"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["total"], body["successful"], body["failed"], body["model"]) == (4, 2, 2, "got_ocr")
    statuses = {item["filename"]: item["status"] for item in body["results"]}
    assert statuses == {"doc1.png": "success", "doc2.png": "error", "doc3.jpg": "success",
                        "anim.gif": "error"}
    bad = body["results"][1]
    assert bad["text"] is None and "not an image" in bad["error"]
    assert "GIF" in body["results"][3]["error"]
    too_many = [("files", (f"d{i}.png", RED)) for i in range(11)]
    r = api.client.post("/batch/ocr", files=too_many)
    assert r.status_code == 400 and "at most 10 files" in r.json()["detail"]


# --- models: list, unload, health ----------------------------------------------------------------
def test_models_list_unload_and_health(api: Api) -> None:
    r = api.client.post("/ocr", files={"file": ("a.png", RED)}, data={"model": "qwen3_vl_2b",
                                                                      "max_tokens": "2"})
    assert r.status_code == 200, r.text
    listing = api.client.get("/models").json()
    ids = {m["id"] for m in listing["available"]}
    assert {"got_ocr", "qwen_vl_2b", "qwen_vl_7b", "qwen3_vl_2b", "qwen3_vl_4b", "qwen3_vl_8b"} <= ids
    assert "qwen_image_edit" not in ids  # the vision API lists vision models only
    assert all(set(m) == {"id", "name", "params"} for m in listing["available"])
    assert [m["id"] for m in listing["unavailable"]] == ["dots_ocr"]
    assert "qwen3_vl_2b" in listing["loaded"]
    assert (listing["default"], listing["backend"]) == ("qwen3_vl_2b", "inprocess")

    health = httpx.get(api.url + "/health").json()  # no auth: load balancers call it
    assert "qwen3_vl_2b" in health["loaded_models"] and health["models_loaded"] >= 1
    assert health["gpu"]["backend"] == "inprocess" and health["gpu"]["ready"] is True

    r = api.client.delete("/models/qwen3_vl_2b")
    assert r.json() == {"status": "success", "message": "Model qwen3_vl_2b unloaded", "unloaded": True}
    assert "qwen3_vl_2b" not in api.client.get("/models").json()["loaded"]
    r = api.client.delete("/models/qwen3_vl_2b")
    assert r.status_code == 200 and r.json()["unloaded"] is False
    r = api.client.delete("/models/gpt-9")
    assert r.status_code == 404 and "unknown model" in r.json()["detail"]


def test_openapi_documents_the_vision_api_with_examples(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    comparison = spec["paths"]["/api/v1/image/comparison"]["post"]
    body = comparison["requestBody"]["content"]["application/json"]
    assert {"urls", "sequence", "base64"} <= set(body["examples"])
    assert {"json", "text", "unparsed"} <= set(comparison["responses"]["200"]["content"]
                                                ["application/json"]["examples"])
    for path in ("/models", "/ocr", "/chat", "/batch/ocr", "/models/{model_name}"):
        assert path in spec["paths"]
    assert "example" in spec["paths"]["/ocr"]["post"]["responses"]["200"]["content"]["application/json"]
