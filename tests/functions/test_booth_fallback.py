"""A slot's fallback provider runs inside the same booth window when the first fails early;
statistics count each attempt under its own provider."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from shared.config import Settings
from shared.domain import JobStatus, ProcessingType, ProviderName
from shared.errors import ModelNotReady, ProviderFailed
from shared.providers.base import BaseProvider, ProviderImage, ProviderJob
from shared.services import build_services
from shared.slot_rules import EDIT_MODEL
from tests.conftest import run
from tests.helpers import photos


class ScriptedProvider(BaseProvider):
    capabilities = {t: EDIT_MODEL[t] for t in (ProcessingType.BACKGROUND, ProcessingType.PROMPT)}
    max_side = 2048

    def __init__(self, name: ProviderName, behaviour: str, delay: float = 0.0) -> None:
        self.name, self.label, self.behaviour, self.delay = name, name.capitalize(), behaviour, delay
        self.calls = 0

    async def run(self, job: ProviderJob) -> ProviderImage:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.behaviour == "fail":
            raise ProviderFailed(f"{self.name}_refused", "scripted refusal")
        if self.behaviour == "not_ready":
            raise ModelNotReady("GPU backend is off")
        if self.behaviour == "hang":
            await asyncio.sleep(3600)
        return ProviderImage(photos.background(64, 48, color=(1, 2, 3)), "image/jpeg")


@pytest.fixture
def two_providers(tmp_path, live_server_factory):
    def make(first: ScriptedProvider, second: ScriptedProvider, window: float = 6.0,
             fallback_min: float = 1.0):
        settings = Settings(data_dir=tmp_path / "fb", enabled_providers=["gemini", "local"],
                            booth_window_seconds=window, booth_safety_margin_seconds=1.0,
                            fallback_min_seconds=fallback_min)
        services = build_services(settings)
        services.providers.providers.update({ProviderName.GEMINI: first,
                                             ProviderName.LOCAL: second})
        services.providers.unavailable.clear()
        tenant, _ = run(services.create_tenant("acme", "pw"))
        slot = run(services.repo.get_slot("acme", ProviderName.GEMINI, 1))
        slot.type, slot.prompt, slot.enabled = ProcessingType.PROMPT, "a beach", True
        slot.fallback_provider = ProviderName.LOCAL
        run(services.repo.save_slot(slot))
        server = live_server_factory(services)
        return services, f"{server.url}/u/{slot.upload_token}", tenant.upload_password
    return make


def post(url: str, password: str) -> httpx.Response:
    return httpx.post(url, data={"password": password}, timeout=30,
                      files={"fileToUpload": ("a.jpg", photos.green_screen(320, 213), "image/jpeg")})


def wait_counts(services, provider, done: int, failed: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        total = run(services.repo.read_stats("acme")).get(provider, {}).get("total")
        if total and (total.done, total.failed) == (done, failed):
            return
        time.sleep(0.05)
    raise AssertionError(f"{provider}: expected done={done} failed={failed}, got {total}")


def test_fallback_runs_when_first_provider_fails_early(two_providers) -> None:
    first = ScriptedProvider(ProviderName.GEMINI, "fail")
    second = ScriptedProvider(ProviderName.LOCAL, "ok")
    services, url, password = two_providers(first, second)
    response = post(url, password)
    assert response.status_code == 200
    assert photos.decode(response.content).size == (64, 48)
    job = run(services.repo.get_job("acme", response.headers["x-boothai-job"]))
    assert job.status is JobStatus.DONE
    assert [a["provider"] for a in job.attempts] == ["gemini", "local"]
    assert [a["outcome"] for a in job.attempts] == ["gemini_refused", "done"]
    wait_counts(services, ProviderName.GEMINI, done=0, failed=1)
    wait_counts(services, ProviderName.LOCAL, done=1, failed=0)


def test_gpu_not_ready_is_a_named_failure_and_falls_back(two_providers) -> None:
    services, url, password = two_providers(ScriptedProvider(ProviderName.GEMINI, "not_ready"),
                                            ScriptedProvider(ProviderName.LOCAL, "ok"))
    response = post(url, password)
    assert response.status_code == 200
    job = run(services.repo.get_job("acme", response.headers["x-boothai-job"]))
    assert job.attempts[0]["outcome"] == "gemini_model_not_ready"


def test_no_fallback_when_too_little_time_is_left(two_providers) -> None:
    first = ScriptedProvider(ProviderName.GEMINI, "fail", delay=3.0)
    second = ScriptedProvider(ProviderName.LOCAL, "ok")
    services, url, password = two_providers(first, second, window=6.0, fallback_min=3.0)
    response = post(url, password)
    assert response.status_code == 502 and "gemini_refused" in response.text
    assert second.calls == 0


def test_both_fail_answers_with_the_last_reason_in_time(two_providers) -> None:
    first = ScriptedProvider(ProviderName.GEMINI, "fail")
    second = ScriptedProvider(ProviderName.LOCAL, "hang")
    services, url, password = two_providers(first, second, window=4.0)
    started = time.monotonic()
    response = post(url, password)
    assert response.status_code == 504 and time.monotonic() - started < 3.5
    wait_counts(services, ProviderName.GEMINI, done=0, failed=1)
    wait_counts(services, ProviderName.LOCAL, done=0, failed=1)
