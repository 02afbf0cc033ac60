"""Use cases over real embedded ports (SQLite + files in a temp dir), each component behind
its scoped ports exactly as in production; GPU work on a recording fake backend."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from shared.config import Settings
from shared.services import Services, build_services
from tests.fakes.gpu_backend import RecordingGpu
from tests.helpers.booth import local_booth


@pytest.fixture
def gpu() -> RecordingGpu:
    return RecordingGpu()


@pytest.fixture
async def services(tmp_path, gpu) -> AsyncIterator[Services]:
    svc = build_services(Settings(data_dir=tmp_path / "data", enabled_providers=["local", "qwen"],
                                  booth_window_seconds=10, booth_safety_margin_seconds=1),
                         gpu=gpu)
    yield svc
    await svc.aclose()


@pytest.fixture
async def booth_slot(services):
    """Tenant acme with an enabled Local background slot; (tenant, slot)."""
    return await local_booth(services)


def now() -> float:
    return time.monotonic()
