"""`POST /v1/images/edits` and `GET /ready` over a live server on tiny Qwen-Image-Edit models:
the official `openai` client, seed-style multipart (httpx and curl), every error shape, and
the API-key lifecycle through the admin API and the `boothai apikey` command."""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from shared.config import Settings
from shared.gpu import build_gpu_backend
from shared.services import Services, build_services
from tests.conftest import run
from tests.helpers.tiny_models import png_bytes, tiny_model

torch = pytest.importorskip("torch")
openai = pytest.importorskip("openai")

pytestmark = pytest.mark.gpu_models

SMALL = {"size": "32x32", "num_inference_steps": "2", "seed": "0"}


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {"qwen": tiny_model("qwen_image_edit", root), "janus": tiny_model("janus", root)}


@pytest.fixture(scope="module")
def tiny_backend(tiny_dirs):
    """One in-process backend for the module (the model loads once). Its conditioning sizes
    are shrunk: Settings has no knob for them, and at the real 1024² a tiny edit takes ~60 s."""
    return build_gpu_backend(
        "inprocess", qwen_edit_model=str(tiny_dirs["qwen"]), janus_model=str(tiny_dirs["janus"]),
        qwen_lightning_lora="", device="cpu",
        edit_condition_image_size=32 * 32, edit_vae_image_size=32 * 32,
    )


def gpu_settings(tmp_path: Path, tiny_dirs, **overrides) -> Settings:
    values = {"data_dir": tmp_path / "data", "enabled_providers": ["local"],
              "gpu_backend": "inprocess", "qwen_edit_model": str(tiny_dirs["qwen"]),
              "janus_model": str(tiny_dirs["janus"]), **overrides}
    return Settings(**values)


@pytest.fixture
def api(tmp_path, tiny_dirs, tiny_backend, live_server_factory):
    # The inprocess backend on the tiny models, with tiny conditioning sizes (see tiny_backend).
    services = build_services(gpu_settings(tmp_path, tiny_dirs), gpu=tiny_backend)
    assert services.gpu.kind == "inprocess"
    yield _start(services, live_server_factory)
    run(services.pipeline.drain())


def _start(services: Services, live_server_factory) -> dict:
    run(services.create_tenant("acme", "acme-pass"))
    run(services.create_tenant("rival", "rival-pass"))
    server = live_server_factory(services)
    operator = httpx.Client(base_url=server.url, auth=("acme", "acme-pass"), timeout=60)
    created = operator.post("/api/keys", json={"name": "ci"})
    assert created.status_code == 201, created.text
    return {"url": server.url, "key": created.json()["key"], "operator": operator,
            "services": services}


def decode(b64: str) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    return img


def photo(color=(200, 30, 30), size=(40, 30)) -> bytes:
    return png_bytes(color, size)


def post_edit(api: dict, *, files, data=None, auth=None, headers=None) -> httpx.Response:
    if headers is None and auth is None:
        headers = {"Authorization": f"Bearer {api['key']}"}
    return httpx.post(api["url"] + "/v1/images/edits", files=files, data=data or {},
                      auth=auth, headers=headers, timeout=60)


def assert_error(response: httpx.Response, status: int, code: str, text: str = "") -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail["error"] == code and isinstance(detail["message"], str)
    assert text.lower() in detail["message"].lower(), detail["message"]


# -- the openai client ----------------------------------------------------------------------------
def test_openai_client_one_image_then_three_with_two_variants(api, tmp_path) -> None:
    client = openai.OpenAI(base_url=api["url"] + "/v1", api_key=api["key"], max_retries=0,
                           timeout=60)
    one = client.images.edit(model="qwen-image-edit", image=("a.png", photo(), "image/png"),
                             prompt="make the sky blue", size="32x32",
                             extra_body={"num_inference_steps": 2, "seed": 0})
    assert len(one.data) == 1 and decode(one.data[0].b64_json).size == (32, 32)

    paths = []
    for i, color in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        path = tmp_path / f"in{i}.png"
        path.write_bytes(photo(color))
        paths.append(path)
    handles = [p.open("rb") for p in paths]
    try:
        many = client.images.edit(model="qwen-image-edit", image=handles, prompt="enhance colors",
                                  n=2, size="32x32",
                                  extra_body={"num_inference_steps": 2, "seed": 0})
    finally:
        for handle in handles:
            handle.close()
    assert len(many.data) == 6
    assert all(decode(d.b64_json).format == "PNG" for d in many.data)
    usage = many.model_dump()["usage"]
    assert usage["input_images"] == 3 and usage["generated_images"] == 6
    assert usage["processing_time_seconds"] >= 0
    client.close()


# -- seed-style multipart -------------------------------------------------------------------------
def test_seed_multipart_with_basic_user_and_api_key(api) -> None:
    files = [("images", ("p1.jpg", photo((200, 30, 30)), "image/png")),
             ("images", ("p2.jpg", photo((30, 200, 30), (30, 40)), "image/png"))]
    data = {"prompt": "enhance colors", "negative_prompt": "blurry", "n": "2",
            "guidance_scale": "7.5", "true_cfg_scale": "4.0", "output_type": "pil",
            "max_sequence_length": "512", **SMALL}
    r = post_edit(api, files=files, data=data, auth=("user", api["key"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"created", "data", "usage"} and isinstance(body["created"], int)
    assert len(body["data"]) == 4
    assert body["usage"]["input_images"] == 2 and body["usage"]["generated_images"] == 4
    # Same seed, same inputs → same pixels: variants are grouped by input.
    again = post_edit(api, files=files, data=data, auth=("user", api["key"])).json()
    assert [d["b64_json"] for d in again["data"]] == [d["b64_json"] for d in body["data"]]
    # The operator's own name and password work too (seed: Basic user:secret).
    assert post_edit(api, files=files[:1], data={"prompt": "x", **SMALL},
                     auth=("acme", "acme-pass")).status_code == 200


def test_real_curl_like_the_seed(api, tmp_path) -> None:
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    image = tmp_path / "input.png"
    image.write_bytes(photo())
    token = base64.b64encode(f"user:{api['key']}".encode()).decode()
    result = subprocess.run(
        ["curl", "-sS", "-X", "POST", api["url"] + "/v1/images/edits",
         "-H", f"Authorization: Basic {token}",
         "-F", "prompt=make the sky more vibrant blue", "-F", f"images=@{image}",
         "-F", "size=32x32", "-F", "n=2", "-F", "num_inference_steps=2",
         "-F", "guidance_scale=7.5", "-F", "output_type=pil", "-w", "\n%{http_code}"],
        capture_output=True, text=True, timeout=60,
    )
    body, _, status = result.stdout.rpartition("\n")
    assert status == "200", result.stdout + result.stderr
    import json

    assert json.loads(body)["usage"] == {**json.loads(body)["usage"], "input_images": 1,
                                         "generated_images": 2}


# -- errors ----------------------------------------------------------------------------------------
def test_every_error_has_the_seed_shape(api) -> None:
    one = [("images", ("a.png", photo(), "image/png"))]
    ok = {"prompt": "x", **SMALL}

    r = post_edit(api, files=one, data=ok, headers={})
    assert_error(r, 401, "UNAUTHORIZED")
    assert "Bearer" in r.headers["www-authenticate"]
    assert_error(post_edit(api, files=one, data=ok, headers={"Authorization": "Bearer bth_nope"}),
                 401, "UNAUTHORIZED")
    assert_error(post_edit(api, files=one, data=ok, auth=("user", "bth_wrong")), 401,
                 "UNAUTHORIZED")

    assert_error(post_edit(api, files=one, data={**ok, "prompt": "  "}), 400, "INVALID_INPUT",
                 "Prompt cannot be empty")
    assert_error(post_edit(api, files=[("prompt", (None, "x"))], data={}), 400, "INVALID_INPUT",
                 "at least one image")
    assert_error(post_edit(api, files=[("images", ("a.txt", b"hello", "text/plain"))], data=ok),
                 400, "INVALID_INPUT", "index 0")
    assert_error(post_edit(api, files=one, data={**ok, "n": "11"}), 400, "INVALID_INPUT", "n must")
    assert_error(post_edit(api, files=one, data={**ok, "n": "two"}), 400, "INVALID_INPUT")
    for size in ("1024", "axb", "8x8", "4096x4096"):
        assert_error(post_edit(api, files=one, data={**ok, "size": size}), 400, "INVALID_INPUT",
                     "size")
    assert_error(post_edit(api, files=one, data={**ok, "output_type": "latent"}), 400,
                 "INVALID_INPUT", "output_type")
    eleven = [("images", (f"{i}.png", photo(), "image/png")) for i in range(11)]
    assert_error(post_edit(api, files=eleven, data=ok), 400, "INVALID_INPUT", "at most 10")
    huge = [("images", ("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * (10 * 1024 * 1024), "image/png"))]
    assert_error(post_edit(api, files=huge, data=ok), 413, "INVALID_INPUT", "10 MB")
    r = httpx.post(api["url"] + "/v1/images/edits", json={"prompt": "x"},
                   headers={"Authorization": f"Bearer {api['key']}"})
    assert_error(r, 400, "INVALID_INPUT", "multipart")


def test_ready_and_openapi(api) -> None:
    r = httpx.get(api["url"] + "/ready")
    assert r.status_code == 200 and r.json()["ready"] is True
    schema = httpx.get(api["url"] + "/openapi.json").json()
    op = schema["paths"]["/v1/images/edits"]["post"]
    form = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"prompt", "images", "image[]", "image", "size", "n", "seed"} <= set(form["properties"])
    assert {"200", "400", "401", "500", "503"} <= set(op["responses"])


def test_backend_off_is_model_not_ready(tmp_path, live_server_factory) -> None:
    services = build_services(Settings(data_dir=tmp_path / "data", enabled_providers=["local"],
                                       gpu_backend="off"))
    api = _start(services, live_server_factory)
    r = post_edit(api, files=[("images", ("a.png", photo(), "image/png"))], data={"prompt": "x"})
    assert_error(r, 503, "MODEL_NOT_READY", "BOOTHAI_GPU_BACKEND=off")
    assert_error(httpx.get(api["url"] + "/ready"), 503, "MODEL_NOT_READY", "off")


def test_ready_says_what_the_start_preload_is_loading(tmp_path, tiny_dirs, live_server_factory,
                                                     monkeypatch) -> None:
    """`boothai serve` with the qwen tab on the inprocess backend loads Qwen-Image-Edit at
    start, in the background; `/ready` answers 503 naming it until it is in, then 200."""
    import threading
    import time

    from gpu_jobs.image_edit import QwenImageEditor

    gate = threading.Event()
    original = QwenImageEditor.load

    def gated_load(self) -> None:
        gate.wait(30)
        original(self)

    monkeypatch.setattr(QwenImageEditor, "load", gated_load)
    settings = gpu_settings(tmp_path, tiny_dirs, enabled_providers=["qwen"], qwen_lightning_lora="off",
                            qwen_edit_condition_area=32 * 32, qwen_edit_vae_area=32 * 32)
    api = _start(build_services(settings), live_server_factory)
    assert_error(httpx.get(api["url"] + "/ready"), 503, "MODEL_NOT_READY", "loading qwen_image_edit")
    gate.set()
    for _ in range(300):
        r = httpx.get(api["url"] + "/ready")
        if r.status_code == 200:
            break
        time.sleep(0.1)
    assert r.status_code == 200 and r.json() == {"ready": True, "backend": "inprocess"}


# -- API keys ----------------------------------------------------------------------------------------
def test_api_key_lifecycle_through_the_admin_api(api) -> None:
    operator = api["operator"]
    listed = operator.get("/api/keys").json()["keys"]
    assert [k["name"] for k in listed] == ["ci"]
    assert "key" not in listed[0] and api["key"].startswith(listed[0]["prefix"])
    rival = httpx.Client(base_url=api["url"], auth=("rival", "rival-pass"))
    assert rival.get("/api/keys").json()["keys"] == []
    assert rival.delete(f"/api/keys/{listed[0]['key_id']}").status_code == 404
    assert httpx.get(api["url"] + "/api/keys").status_code == 401
    assert operator.post("/api/keys", json={"name": ""}).status_code == 422

    one = [("images", ("a.png", photo(), "image/png"))]
    assert post_edit(api, files=one, data={"prompt": "x", **SMALL}).status_code == 200
    assert operator.delete(f"/api/keys/{listed[0]['key_id']}").status_code == 204
    assert_error(post_edit(api, files=one, data={"prompt": "x", **SMALL}), 401, "UNAUTHORIZED")
    assert operator.get("/api/keys").json()["keys"] == []
    rival.close()


def boothai(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "functions.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_apikey_commands(tmp_path, monkeypatch, capsys) -> None:
    from functions.cli import main

    data_dir = tmp_path / "data"
    monkeypatch.setenv("BOOTHAI_DATA_DIR", str(data_dir))
    assert main(["tenant", "add", "venue", "--password", "pw"]) == 0
    capsys.readouterr()

    assert main(["apikey", "create", "venue", "laptop"]) == 0
    out = capsys.readouterr().out
    key = out.split("key: ")[1].split()[0]
    key_id = out.split("created API key ")[1].split()[0]
    assert main(["apikey", "list", "venue"]) == 0
    listed = capsys.readouterr().out
    assert key_id in listed and "laptop" in listed and key not in listed
    assert main(["apikey", "create", "ghost", "x"]) == 2
    assert "no tenant 'ghost'" in capsys.readouterr().err

    from shared.apikeys import ApiKeys
    from shared.services import open_repository

    keys = ApiKeys(open_repository(Settings(data_dir=data_dir)).tables)
    assert run(keys.tenant_for(key)) == "venue"
    assert main(["apikey", "revoke", "venue", key_id]) == 0
    assert run(keys.tenant_for(key)) is None
    assert main(["apikey", "revoke", "venue", key_id]) == 2
    assert "no API key" in capsys.readouterr().err


def test_gpu_warm_without_modal_credentials_exits_2(tmp_path) -> None:
    from functions.cli import parse_until

    env = {**os.environ, "BOOTHAI_DATA_DIR": str(tmp_path / "data"),
           "MODAL_CONFIG_PATH": str(tmp_path / "no-modal.toml")}
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        env.pop(name, None)
    warm = boothai("gpu", "warm", "--until", "23:59", env=env)
    assert warm.returncode == 2 and "credentials" in warm.stderr, warm.stderr
    with pytest.raises(SystemExit, match="HH:MM"):
        parse_until("soon")
    from datetime import datetime

    now = datetime(2026, 6, 1, 22, 0).astimezone()
    assert parse_until("23:30", now=now).hour == 23 and parse_until("23:30", now=now).day == 1
    assert parse_until("01:00", now=now).day == 2  # past today → tomorrow morning
