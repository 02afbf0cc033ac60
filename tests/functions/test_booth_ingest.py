"""The booth path end to end: a real uvicorn server on loopback, DSLR-shaped multipart
requests from real HTTP clients (httpx and curl), the Local chroma-key provider."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from shared.config import Settings
from shared.domain import JobStatus, ProviderName
from shared.errors import ProviderFailed
from shared.providers.base import BaseProvider, ProviderImage, ProviderJob
from shared.providers.local import LocalProvider
from shared.services import Services, build_services
from tests.conftest import run
from tests.helpers import photos
from tests.helpers.booth import local_booth


@pytest.fixture
def booth(services: Services, live_server):
    tenant, slot = run(local_booth(services))
    return {"url": f"{live_server.url}/u/{slot.upload_token}", "password": tenant.upload_password,
            "tenant": tenant, "slot": slot, "server": live_server, "services": services}


def post_photo(url: str, data: bytes, password: str, *, filename="IMG_0003.JPG",
               mime="image/jpeg", timeout=60.0) -> httpx.Response:
    return httpx.post(url, data=photos.dslr_fields(password),
                      files={"fileToUpload": (filename, data, mime)}, timeout=timeout)


def assert_composited(data: bytes, width: int, height: int) -> None:
    """The green screen is gone: corners show the blue 'sky' of the reference."""
    img = photos.decode(data).convert("RGB")
    arr = np.asarray(img, dtype=np.int16)
    corner = arr[: arr.shape[0] // 10, : arr.shape[1] // 10].reshape(-1, 3).mean(axis=0)
    assert corner[1] < 100 and corner[2] > 120, f"corner still green-ish: {corner}"
    centre = arr[int(arr.shape[0] * 0.7), arr.shape[1] // 2]
    assert abs(int(centre[0]) - 222) < 25, f"guest lost: {centre}"
    assert max(img.size) <= max(width, height)


def settled_job(services: Services, tenant: str = "acme"):
    """The newest job once its bookkeeping has finished (it may end after the answer)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = run(services.repo.recent_jobs(tenant, limit=1))[0]
        if job.status in (JobStatus.DONE, JobStatus.FAILED) and (
                job.status is JobStatus.DONE or job.original_key.startswith("trash/")):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job never settled: {job}")


def stats_for(services: Services, tenant: str) -> dict:
    counts = run(services.repo.read_stats(tenant))
    return counts.get(ProviderName.LOCAL, {})


@pytest.mark.parametrize(
    "size,quality",
    [((640, 427), 85), ((1600, 1067), 92), ((6000, 4000), 95)],
    ids=["50KB-preview", "1600px", "24MP"],
)
def test_booth_photo_comes_back_composited(booth, size, quality) -> None:
    data = photos.green_screen(*size, noise=True, quality=quality)
    before = stats_for(booth["services"], "acme").get("total")
    response = post_photo(booth["url"], data, booth["password"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert_composited(response.content, *size)
    job_id = response.headers["x-boothai-job"]
    job = run(booth["services"].repo.get_job("acme", job_id))
    assert job.status is JobStatus.DONE and job.result_key and job.original_key
    # The original is kept byte-for-byte; the result is stored too.
    assert booth["services"].store.get(job.original_key) == data
    assert booth["services"].store.get(job.result_key) == response.content
    after = stats_for(booth["services"], "acme")["total"]
    assert after.done == (before.done if before else 0) + 1


def test_curl_with_expect_100_continue(booth, tmp_path: Path) -> None:
    """curl sends `Expect: 100-continue` for large bodies, like DSLR Remote Pro does."""
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    photo = tmp_path / "IMG_0003.JPG"
    photo.write_bytes(photos.green_screen(1600, 1067, noise=True))
    out = tmp_path / "out.jpg"
    fields = []
    for name, value in photos.dslr_fields(booth["password"]).items():
        fields += ["-F", f"{name}={value}"]
    result = subprocess.run(
        ["curl", "-sS", "-v", "-o", str(out), "-w", "%{http_code}", "-H", "Expect: 100-continue",
         *fields, "-F", f"fileToUpload=@{photo};type=image/jpeg", booth["url"]],
        capture_output=True, text=True, timeout=60,
    )
    assert result.stdout == "200", result.stderr
    assert "HTTP/1.1 100 Continue" in result.stderr
    assert_composited(out.read_bytes(), 1600, 1067)


def test_png_with_alpha_composites_by_its_transparency(booth) -> None:
    response = post_photo(booth["url"], photos.png_with_alpha(), booth["password"],
                          filename="IMG_0004.png", mime="image/png")
    assert response.status_code == 200
    img = photos.decode(response.content).convert("RGB")
    corner = np.asarray(img)[:20, :20].reshape(-1, 3).mean(axis=0)
    assert corner[2] > 120 and corner[1] < 100  # transparent area shows the new background


def test_exif_orientation_is_honoured(booth) -> None:
    # Stored landscape, tagged "rotate 90° CW to display": the guest must come back portrait.
    data = photos.green_screen(1200, 800, exif_orientation=6)
    response = post_photo(booth["url"], data, booth["password"])
    assert response.status_code == 200
    img = photos.decode(response.content)
    assert img.height > img.width


def test_wrong_password_is_401_and_repeated_failures_429(booth) -> None:
    data = photos.green_screen(320, 213)
    response = post_photo(booth["url"], data, "wrong")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/plain")
    limit = booth["services"].settings.auth_failures_allowed
    codes = [post_photo(booth["url"], data, "wrong").status_code for _ in range(limit)]
    assert codes[-1] == 429
    last = post_photo(booth["url"], data, booth["password"])
    assert last.status_code == 429 and int(last.headers["retry-after"]) > 0


def test_unknown_token_is_404(booth) -> None:
    response = post_photo(booth["server"].url + "/u/not-a-token", b"x", booth["password"])
    assert response.status_code == 404
    assert response.text.strip() == "unknown upload link"


def test_not_an_image_is_415_whatever_its_name(booth) -> None:
    response = post_photo(booth["url"], b"%PDF-1.4 definitely not a photo", booth["password"])
    assert response.status_code == 415
    truncated = photos.green_screen(800, 600)[:5000]
    assert post_photo(booth["url"], truncated, booth["password"]).status_code == 415


def test_oversized_upload_is_413(services: Services, live_server_factory, tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "small", enabled_providers=["local"], max_upload_mb=1)
    small = build_services(settings)
    tenant, slot = run(local_booth(small))
    server = live_server_factory(small)
    big = photos.green_screen(4000, 3000, noise=True, quality=95)
    assert len(big) > 1024 * 1024
    response = post_photo(f"{server.url}/u/{slot.upload_token}", big, tenant.upload_password)
    assert response.status_code == 413
    assert small.store.list("originals/") == []


def test_pixel_bomb_is_413_without_decoding(booth) -> None:
    bomb = photos.pixel_bomb()
    assert len(bomb) < 100_000
    started = time.monotonic()
    response = post_photo(booth["url"], bomb, booth["password"], mime="image/png")
    assert response.status_code == 413
    assert "MP" in response.text
    assert time.monotonic() - started < 2


def test_disabled_or_unconfigured_slot_is_409(booth) -> None:
    services = booth["services"]
    slot = run(services.repo.get_slot("acme", ProviderName.LOCAL, 2))
    url = f"{booth['server'].url}/u/{slot.upload_token}"
    response = post_photo(url, photos.green_screen(320, 213), booth["password"])
    assert response.status_code == 409 and "disabled" in response.text
    slot.enabled = True
    run(services.repo.save_slot(slot))
    response = post_photo(url, photos.green_screen(320, 213), booth["password"])
    assert response.status_code == 409 and "no processing type" in response.text


def test_many_requests_to_one_slot_are_all_served(booth) -> None:
    async def burst():
        async with httpx.AsyncClient(timeout=60) as client:
            data = photos.green_screen(640, 427)
            return await asyncio.gather(*[
                client.post(booth["url"], data=photos.dslr_fields(booth["password"]),
                            files={"fileToUpload": ("a.jpg", data, "image/jpeg")})
                for _ in range(12)
            ])

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 12
    assert len({r.headers["x-boothai-job"] for r in responses}) == 12


# -- a provider that hangs or fails ----------------------------------------------------------------
class HangingProvider(BaseProvider):
    name = ProviderName.LOCAL
    label = "Local"
    capabilities = LocalProvider.capabilities
    max_side = 2400

    def __init__(self) -> None:
        self.cancelled = False

    async def run(self, job: ProviderJob) -> ProviderImage:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")


class FailingProvider(HangingProvider):
    async def run(self, job: ProviderJob) -> ProviderImage:
        raise ProviderFailed("local_test_refusal", "refused for the test")


@pytest.fixture
def short_window(tmp_path, live_server_factory):
    def make(provider, *, fallback: bool):
        settings = Settings(data_dir=tmp_path / "short", enabled_providers=["local"],
                            booth_window_seconds=3.0, booth_safety_margin_seconds=1.0)
        services = build_services(settings)
        services.providers.providers[ProviderName.LOCAL] = provider
        tenant, slot = run(local_booth(services, fallback=fallback))
        server = live_server_factory(services)
        return services, f"{server.url}/u/{slot.upload_token}", tenant.upload_password
    return make


def test_hanging_provider_answers_504_before_the_window(short_window) -> None:
    provider = HangingProvider()
    services, url, password = short_window(provider, fallback=False)
    data = photos.green_screen(640, 427)
    started = time.monotonic()
    response = post_photo(url, data, password)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert elapsed < 3.0 - 0.5, f"answered after {elapsed:.2f}s"
    assert provider.cancelled
    job = settled_job(services)
    assert job.status is JobStatus.FAILED and job.reason == "deadline"
    assert job.original_key.startswith("trash/")
    assert services.store.get(job.original_key) == data
    assert services.store.list("originals/") == []
    assert stats_for(services, "acme")["today"].failed == 1


def test_hanging_provider_with_fallback_flag_returns_original(short_window) -> None:
    services, url, password = short_window(HangingProvider(), fallback=True)
    data = photos.green_screen(640, 427)
    response = post_photo(url, data, password)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["x-boothai-original"] == "deadline"
    job = settled_job(services)
    assert job.status is JobStatus.FAILED and job.original_key.startswith("trash/")


def test_provider_refusal_is_502_with_reason_in_stats(short_window) -> None:
    services, url, password = short_window(FailingProvider(), fallback=False)
    response = post_photo(url, photos.green_screen(640, 427), password)
    assert response.status_code == 502
    assert "local_test_refusal" in response.text
    job = settled_job(services)
    assert job.reason == "local_test_refusal" and job.original_key.startswith("trash/")
