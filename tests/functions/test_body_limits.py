"""Request bodies are refused by size before they are read, in the shape of the route asked:
on AWS Lambda under the Function URL's payload limit (a 6 MB invocation carries ~4.5 MB of
base64-encoded body), with an answer that says what to change; elsewhere at the settings'
limits. Real clients: httpx as the booth, the official openai client for /v1/images/edits."""

from __future__ import annotations

import asyncio
import base64
import os

import httpx
import openai
import pytest

from functions.body_limits import SMALL_BODY_BYTES, body_rule
from shared.apikeys import ApiKeys
from shared.config import Settings
from shared.domain import ProcessingType, ProviderName
from shared.platform_limits import LAMBDA_BODY_BYTES
from shared.providers.base import BaseProvider, ProviderImage, ProviderJob
from shared.services import build_services
from shared.slot_rules import EDIT_MODEL
from tests.fakes.gpu_backend import RecordingGpu
from tests.helpers import photos
from tests.helpers.booth import local_booth

# Random bytes do not compress: a JPEG header in front makes it look like a camera file.
JUST_OVER_LAMBDA = b"\xff\xd8\xff\xe0" + os.urandom(LAMBDA_BODY_BYTES + 1024)


@pytest.fixture(params=["lambda", "embedded"])
def deployment(request, tmp_path, live_server_factory):
    on_lambda = request.param == "lambda"
    settings = Settings(data_dir=tmp_path / "data", enabled_providers=["local"],
                        gpu_backend="inprocess",
                        lambda_function_name="boothai-Ingest" if on_lambda else None)
    gpu = RecordingGpu()
    services = build_services(settings, gpu=gpu)
    tenant, slot = asyncio.run(local_booth(services))
    _, key = asyncio.run(ApiKeys(services.tables).create("acme", "tests"))
    server = live_server_factory(services)
    yield {"on_lambda": on_lambda, "url": server.url, "services": services, "gpu": gpu,
           "booth": f"{server.url}/u/{slot.upload_token}", "password": tenant.upload_password,
           "key": key}
    asyncio.run(services.aclose())


def test_the_limit_on_lambda_is_the_platforms_for_every_route() -> None:
    on_lambda = Settings(lambda_function_name="f", max_upload_mb=25, max_api_request_mb=101)
    for path in ("/u/token", "/v1/images/edits", "/api/v1/image/comparison",
                 "/api/slots/x/1/reference"):
        rule = body_rule(on_lambda, path)
        assert rule.limit == LAMBDA_BODY_BYTES and rule.platform
        # base64 of the body plus the event around it stays inside the 6 MB invocation
        assert rule.limit * 4 / 3 + 64 * 1024 < 6 * 1024 * 1024
    small = Settings(lambda_function_name="f", max_upload_mb=1)
    assert body_rule(small, "/u/token").limit < LAMBDA_BODY_BYTES
    assert not body_rule(small, "/u/token").platform
    assert body_rule(Settings(), "/v1/images/edits").limit == 101 * 1024 * 1024


def test_routes_without_a_file_take_a_small_body() -> None:
    """25 MB of JSON to PUT /api/slots/local/1 was read and parsed (630 MB) before its 401."""
    for path in ("/api/slots/local/1", "/api/keys", "/hooks/turbotext/j1", "/api/stats"):
        assert body_rule(Settings(), path).limit == SMALL_BODY_BYTES
    for path in ("/api/slots/local/1/reference", "/api/slots/local/1/test", "/ocr", "/chat"):
        assert body_rule(Settings(max_upload_mb=25), path).limit > 25 * 1024 * 1024


def test_a_booth_photo_over_the_lambda_limit_says_which_booth_setting_to_change(deployment) -> None:
    response = httpx.post(deployment["booth"], data=photos.dslr_fields(deployment["password"]),
                          files={"fileToUpload": ("IMG_0001.JPG", JUST_OVER_LAMBDA, "image/jpeg")},
                          timeout=60)
    services = deployment["services"]
    if deployment["on_lambda"]:
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("text/plain")
        assert "Max image size" in response.text and "2400 pixels" in response.text
        assert services.store.list("originals/") == []  # refused before a byte was stored
    else:  # 25 MB here: the upload is read and judged as an image (random bytes are not one)
        assert response.status_code == 415, response.text


def test_an_image_edit_over_the_lambda_limit_is_a_json_413_through_the_openai_client(deployment) -> None:
    client = openai.OpenAI(base_url=f"{deployment['url']}/v1", api_key=deployment["key"],
                           max_retries=0)
    big_png = photos.noise_png(1400, 1100)
    assert len(big_png) > LAMBDA_BODY_BYTES
    try:
        if not deployment["on_lambda"]:
            result = client.images.edit(image=("a.png", big_png, "image/png"), prompt="a hat")
            assert len(result.data) == 1
            return
        with pytest.raises(openai.APIStatusError) as refused:
            client.images.edit(image=("a.png", big_png, "image/png"), prompt="a hat")
    finally:
        client.close()
    assert refused.value.status_code == 413
    body = refused.value.response.json()
    assert body["detail"]["error"] == "INVALID_INPUT"
    assert "AWS Lambda" in body["detail"]["message"]
    assert deployment["gpu"].requests == []


def test_a_comparison_over_the_lambda_limit_answers_in_the_seeds_envelope(deployment) -> None:
    image = base64.b64encode(JUST_OVER_LAMBDA).decode()
    response = httpx.post(f"{deployment['url']}/api/v1/image/comparison", timeout=60,
                          headers={"Authorization": f"Bearer {deployment['key']}"},
                          json={"image_base64_list": [image, image]})
    body = response.json()
    assert body["success"] is False and body["result"] is None
    if deployment["on_lambda"]:
        assert response.status_code == 413 and "AWS Lambda" in body["error"]
    else:  # 101 MB here: read, decoded and judged (random bytes are no image)
        assert response.status_code == 415 and "image 1" in body["error"]


class FourKProvider(BaseProvider):
    """Answers like Gemini at 4K: a ~4096×2730 PNG, far over a Lambda response."""

    name, label, max_side = ProviderName.GEMINI, "Gemini", 2048
    capabilities = {ProcessingType.PROMPT: EDIT_MODEL[ProcessingType.PROMPT]}

    def __init__(self) -> None:
        self.image = photos.noise_png(2600, 1733)

    async def run(self, job: ProviderJob) -> ProviderImage:
        return ProviderImage(self.image, "image/png")


@pytest.mark.parametrize("on_lambda", [True, False])
def test_a_result_too_large_for_a_lambda_answer_reaches_the_booth_as_a_fitting_jpeg(
        on_lambda, tmp_path, live_server_factory) -> None:
    settings = Settings(data_dir=tmp_path / "data", enabled_providers=["gemini", "local"],
                        lambda_function_name="boothai-Ingest" if on_lambda else None)
    services = build_services(settings)
    provider = FourKProvider()
    assert len(provider.image) > LAMBDA_BODY_BYTES
    services.providers.providers[ProviderName.GEMINI] = provider
    services.providers.unavailable.pop(ProviderName.GEMINI, None)
    tenant, _ = asyncio.run(services.create_tenant("acme", "pw-acme"))
    slot = asyncio.run(services.repo.get_slot("acme", ProviderName.GEMINI, 1))
    slot.type, slot.prompt, slot.enabled = ProcessingType.PROMPT, "a hat", True
    asyncio.run(services.repo.save_slot(slot))
    server = live_server_factory(services)
    response = httpx.post(f"{server.url}/u/{slot.upload_token}", timeout=60,
                          data=photos.dslr_fields(tenant.upload_password),
                          files={"fileToUpload": ("a.jpg", photos.green_screen(640, 427), "image/jpeg")})
    assert response.status_code == 200, response.text
    job = asyncio.run(services.repo.get_job("acme", response.headers["x-boothai-job"]))
    stored = services.store.get(job.result_key)
    assert stored == provider.image  # the operator keeps the provider's full quality
    if on_lambda:
        assert response.headers["content-type"] == "image/jpeg"
        assert len(response.content) <= LAMBDA_BODY_BYTES
        assert photos.decode(response.content).size[0] > 1600  # still a print, not a thumbnail
    else:
        assert response.content == provider.image
    asyncio.run(services.aclose())
