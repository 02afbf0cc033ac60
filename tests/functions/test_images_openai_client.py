"""`/v1/images/edits` as the official `openai` client sees it: its error attributes, its own
retries, and the options it can send. A recording GPU backend stands in for the model
(tests/fakes/gpu_backend.py): what is under test is the wire, not the edit."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from shared.config import Settings
from shared.errors import DeadlineExceeded, ProviderFailed
from shared.services import build_services
from tests.conftest import run
from tests.fakes.gpu_backend import RecordingGpu
from tests.helpers import photos

openai = pytest.importorskip("openai")


@pytest.fixture
def edits(tmp_path, live_server_factory):
    gpu = RecordingGpu()
    services = build_services(Settings(data_dir=tmp_path / "data", enabled_providers=["local"]),
                              gpu=gpu)
    run(services.create_tenant("acme", "acme-pass"))
    server = live_server_factory(services)
    operator = httpx.Client(base_url=server.url, auth=("acme", "acme-pass"), timeout=30)
    key = operator.post("/api/keys", json={"name": "ci"}).json()["key"]
    # The client as an API user makes it: default retries (2) and back-off.
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=key)
    yield client, gpu
    client.close()


def _image() -> tuple[str, bytes, str]:
    return ("in.png", photos.solid_png(40, 30), "image/png")


@pytest.mark.parametrize(("error", "exc_class", "status"), [
    (ProviderFailed("gpu_oom", "CUDA out of memory"), "InternalServerError", 500),
    (DeadlineExceeded("the edit took longer than 600 s"), "APIStatusError", 504),
])
def test_a_failed_generation_runs_once_and_the_client_reads_its_code(edits, error, exc_class,
                                                                     status):
    client, gpu = edits
    gpu.edit_error = error
    with pytest.raises(getattr(openai, exc_class)) as caught:
        client.images.edit(image=_image(), prompt="make the sky blue")
    assert caught.value.status_code == status
    assert len(gpu.requests) == 1  # not three: x-should-retry: false
    assert caught.value.code == "GENERATION_ERROR" and caught.value.type == "server_error"
    assert "Image generation failed" in caught.value.message


@pytest.mark.parametrize(("options", "param"), [
    ({"quality": "high"}, "quality"),
    ({"background": "transparent"}, "background"),
    ({"input_fidelity": "high"}, "input_fidelity"),
    ({"mask": ("mask.png", photos.solid_png(40, 30), "image/png")}, "mask"),
    ({"output_format": "gif"}, "output_format"),
    ({"output_compression": 101}, "output_compression"),
    ({"response_format": "url"}, "response_format"),
    ({"n": 11}, "n"),
])
def test_what_the_model_cannot_do_is_a_400_naming_the_field(edits, options, param):
    client, gpu = edits
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(image=_image(), prompt="make the sky blue", **options)
    err = caught.value
    assert (err.code, err.type, err.param) == ("INVALID_INPUT", "invalid_request_error", param)
    assert param in err.message
    assert err.body["message"] in err.message  # the client's body is the `error` object
    assert gpu.requests == []  # refused before any GPU run


def test_what_asks_for_nothing_is_accepted(edits):
    client, gpu = edits
    answer = client.images.edit(image=_image(), prompt="make the sky blue", quality="auto",
                                background="opaque", response_format="b64_json", user="u1")
    assert len(answer.data) == 1 and len(gpu.requests) == 1


@pytest.mark.parametrize(("fmt", "pil"), [("jpeg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")])
def test_output_format_and_compression(edits, fmt, pil):
    client, _ = edits
    answer = client.images.edit(image=_image(), prompt="make the sky blue", n=2,
                                output_format=fmt, output_compression=40)
    assert answer.output_format == (None if fmt == "png" else fmt)  # the seeds' shape for PNG
    for item in answer.data:
        img = Image.open(io.BytesIO(base64.b64decode(item.b64_json)))
        assert img.format == pil and img.size == (16, 16)


def test_seed_detail_stays_beside_the_openai_error(edits):
    client, _ = edits
    response = httpx.post(str(client.base_url) + "images/edits",
                          headers={"Authorization": f"Bearer {client.api_key}"},
                          data={"prompt": "x", "quality": "high"}, files={"image": _image()})
    body = response.json()
    assert response.status_code == 400 and response.headers["x-should-retry"] == "false"
    assert body["detail"]["error"] == "INVALID_INPUT"
    assert body["error"] == {"message": body["detail"]["message"], "type": "invalid_request_error",
                             "code": "INVALID_INPUT", "param": "quality"}


def test_unauthorized_has_the_client_s_authentication_error(edits):
    client, gpu = edits
    with pytest.raises(openai.AuthenticationError) as caught:
        client.with_options(api_key="bth_wrong").images.edit(image=_image(), prompt="x")
    assert caught.value.code == "UNAUTHORIZED"
    assert gpu.requests == []


def test_response_format_url_links_download_the_images(tmp_path, live_server_factory):
    """Embedded: the links are the app's own signed /media links (BOOTHAI_PUBLIC_BASE_URL),
    valid for the edits/ key they name only."""
    from tests.conftest import free_port

    port = free_port()
    gpu = RecordingGpu(edit_image=photos.solid_png(64, 48))
    services = build_services(Settings(data_dir=tmp_path / "data", enabled_providers=["local"],
                                       public_base_url=f"http://127.0.0.1:{port}"), gpu=gpu)
    run(services.create_tenant("acme", "acme-pass"))
    server = live_server_factory(services, port)
    key = httpx.post(server.url + "/api/keys", json={"name": "ci"}, auth=("acme", "acme-pass"),
                     timeout=30).json()["key"]
    with openai.OpenAI(base_url=server.url + "/v1", api_key=key) as client:
        answer = client.images.edit(image=_image(), prompt="make the sky blue", n=2,
                                    response_format="url", output_format="webp")
    assert len(answer.data) == 2 and all(item.b64_json is None for item in answer.data)
    for item in answer.data:
        assert item.url.startswith(server.url + "/media/edits/acme/")
        got = httpx.get(item.url, timeout=30)
        assert got.status_code == 200 and got.headers["content-type"] == "image/webp"
        assert Image.open(io.BytesIO(got.content)).size == (64, 48)
    tampered = answer.data[0].url.replace("/0.webp", "/1.webp")
    assert httpx.get(tampered, timeout=30).status_code in (401, 403)
