"""Fixtures for provider tests: fake services on loopback, photos, jobs, storage."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from shared.config import Settings
from shared.domain import ProcessingType
from shared.providers.base import ProviderJob
from shared.signed_links import LinkSigner
from shared.storage.sqlite_tables import SQLiteTables
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.server import run_app_in_thread
from tests.fakes.turbotext_server import FakeTurbotext


def image_bytes(size: tuple[int, int], fmt: str = "JPEG", color=(120, 160, 200)) -> bytes:
    """A small picture with a gradient, so re-encodes and tints are visible."""
    img = Image.new("RGB", size, color)
    for x in range(0, size[0], max(1, size[0] // 16)):
        img.paste((x % 256, 80, 200 - x % 200), (x, 0, x + 2, size[1]))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def photo() -> bytes:
    return image_bytes((600, 800))  # portrait 3:4, like a booth camera on its side


@pytest.fixture
def reference() -> bytes:
    return image_bytes((640, 480), "PNG", color=(30, 90, 40))


def make_job(
    photo: bytes,
    *,
    type: ProcessingType = ProcessingType.PROMPT,
    prompt: str = "make it a watercolour painting",
    reference: bytes | None = None,
    reference_key: str | None = None,
    seconds: float = 20.0,
    size: tuple[int, int] = (600, 800),
    job_id: str = "job0001",
    model: str | None = None,
    image_size: str | None = None,
    photo_mime: str = "image/jpeg",
) -> ProviderJob:
    return ProviderJob(
        job_id=job_id,
        tenant="acme",
        slot_index=1,
        type=type,
        prompt=prompt,
        photo=photo,
        photo_mime=photo_mime,
        photo_size=size,
        deadline=time.monotonic() + seconds,
        reference=reference,
        reference_mime="image/png" if reference else None,
        reference_key=reference_key,
        model=model,
        image_size=image_size,
    )


@pytest.fixture
def gemini_fake() -> Iterator[tuple[FakeGemini, str]]:
    fake = FakeGemini(api_key="test-gemini-key")
    base, stop = run_app_in_thread(fake.app)
    yield fake, base
    stop()


@pytest.fixture
def turbotext_fake() -> Iterator[tuple[FakeTurbotext, str]]:
    fake = FakeTurbotext(api_key="test-turbotext-key")
    base, stop = run_app_in_thread(fake.app)
    yield fake, base
    stop()


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(b"0123456789abcdef0123456789abcdef")


@pytest.fixture
def tables(tmp_path: Path) -> SQLiteTables:
    return SQLiteTables(tmp_path / "tables.sqlite3")


@pytest.fixture
def gemini_settings(gemini_fake) -> Settings:
    _, base = gemini_fake
    return Settings(gemini_api_key="test-gemini-key", gemini_base_url=base, _env_file=None)
