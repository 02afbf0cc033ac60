"""Thumbnails are made once, when their image is stored, and served from the store: a
Statistics refresh (50 job thumbnails) costs no decode. Through a real server: booth
uploads, the admin API's reference and job-image routes, a failed job's trash move."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

import shared.images
import shared.media
import shared.thumbnails
from shared import object_keys
from shared.domain import JobStatus, ProviderName
from shared.errors import NotFound, ProviderFailed
from shared.providers.base import BaseProvider, ProviderJob
from shared.providers.local import LocalProvider
from shared.services import Services
from tests.conftest import run
from tests.helpers import photos
from tests.helpers.booth import local_booth


@pytest.fixture
def booth(services: Services, live_server):
    tenant, slot = run(local_booth(services, password="acme-pass"))
    operator = httpx.Client(base_url=live_server.url, auth=("acme", "acme-pass"), timeout=60)
    yield {"url": f"{live_server.url}/u/{slot.upload_token}", "password": tenant.upload_password,
           "services": services, "operator": operator}
    operator.close()


def _upload(booth, photo: bytes) -> httpx.Response:
    return httpx.post(booth["url"], data=photos.dslr_fields(booth["password"]),
                      files={"fileToUpload": ("IMG_0001.JPG", photo, "image/jpeg")}, timeout=60)


def _settled(services: Services, job_id: str, *keys: str):
    """The job once it is closed and the thumbnails of `keys` ("original", "result") are
    stored (they are made after the answer, on the side)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = run(services.repo.get_job("acme", job_id))
        if job and job.status in (JobStatus.DONE, JobStatus.FAILED):
            wanted = [getattr(job, f"{k}_key") for k in keys]
            if all(k and services.store.head(object_keys.thumbnail(k)) for k in wanted):
                return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never settled with thumbnails of {keys}")


def refuse_decoding(monkeypatch) -> None:
    """From here on, any thumbnail made by decoding a stored image fails the request (the
    Media's own decode, which is also how a reference's thumbnail is made when stored)."""
    def refuse(*args, **kwargs):
        raise AssertionError("a thumbnail was decoded at read time")

    monkeypatch.setattr(shared.media, "thumbnail", refuse)


def test_booth_job_thumbnails_are_stored_beside_the_images(booth, monkeypatch) -> None:
    # 24 MP: the original's thumbnail comes from the prepared 2400 px photo, not a new decode.
    response = _upload(booth, photos.green_screen(6000, 4000, noise=True, quality=90))
    assert response.status_code == 200, response.text
    job = _settled(booth["services"], response.headers["x-boothai-job"], "original", "result")
    store = booth["services"].store
    for key in (job.original_key, job.result_key):
        thumb = store.get(object_keys.thumbnail(key))
        assert photos.decode(thumb).format == "JPEG"
        assert max(photos.decode(thumb).size) == 256
    # The Statistics panel's requests: served from the store, no decode.
    refuse_decoding(monkeypatch)
    for which in ("original", "result"):
        got = booth["operator"].get(f"/api/jobs/{job.job_id}/{which}", params={"thumb": 1})
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "image/jpeg"
        assert got.content == store.get(object_keys.thumbnail(getattr(job, f"{which}_key")))
    # Full size is still the image itself.
    full = booth["operator"].get(f"/api/jobs/{job.job_id}/original")
    assert photos.decode(full.content).size == (6000, 4000)


def test_a_failed_jobs_thumbnail_goes_to_trash_with_its_original(booth, services) -> None:
    class Refusing(BaseProvider):
        name, label = LocalProvider.name, "Refusing"
        capabilities, max_side = LocalProvider.capabilities, 2400

        async def run(self, job: ProviderJob):
            raise ProviderFailed("local_refused", "no")

    services.providers.providers[ProviderName.LOCAL] = Refusing()
    response = _upload(booth, photos.green_screen(1600, 1067, noise=True))
    assert response.status_code == 502
    job_id = _job_id_of_latest(services)
    job = _settled(services, job_id, "original")
    assert job.original_key.startswith(object_keys.TRASH)
    original = object_keys.ORIGINALS + job.original_key.removeprefix(object_keys.TRASH)
    assert services.store.head(object_keys.thumbnail(job.original_key)) is not None
    assert services.store.head(object_keys.thumbnail(original)) is None
    with pytest.raises(NotFound):
        services.store.get(original)


def _job_id_of_latest(services: Services) -> str:
    return run(services.repo.recent_jobs("acme", limit=1))[0].job_id


def test_reference_thumbnail_follows_its_image(booth, monkeypatch) -> None:
    operator, store = booth["operator"], booth["services"].store
    first = operator.put("/api/slots/local/2/reference",
                         files={"file": ("beach.jpg", photos.background(), "image/jpeg")})
    assert first.status_code == 200, first.text
    jpeg_key = run(booth["services"].repo.get_slot("acme", ProviderName.LOCAL, 2)).reference_key
    assert store.head(object_keys.thumbnail(jpeg_key)) is not None
    with monkeypatch.context() as patched:
        refuse_decoding(patched)
        got = operator.get("/api/slots/local/2/reference", params={"thumb": 1})
    assert got.status_code == 200 and max(photos.decode(got.content).size) == 256

    # Replaced by a PNG (another key): the old thumbnail goes with the old image.
    second = operator.put("/api/slots/local/2/reference",
                          files={"file": ("cut.png", photos.png_with_alpha(), "image/png")})
    assert second.status_code == 200, second.text
    png_key = run(booth["services"].repo.get_slot("acme", ProviderName.LOCAL, 2)).reference_key
    assert png_key != jpeg_key
    assert store.head(object_keys.thumbnail(jpeg_key)) is None
    assert store.head(object_keys.thumbnail(png_key)) is not None

    assert operator.delete("/api/slots/local/2/reference").status_code == 200
    assert store.head(png_key) is None and store.head(object_keys.thumbnail(png_key)) is None


def test_an_image_stored_before_thumbnails_is_still_shown(booth) -> None:
    """Jobs from before this change have no stored thumbnail: decoded as they always were."""
    response = _upload(booth, photos.green_screen(800, 600))
    job = _settled(booth["services"], response.headers["x-boothai-job"], "original", "result")
    booth["services"].store.delete(object_keys.thumbnail(job.result_key))
    got = booth["operator"].get(f"/api/jobs/{job.job_id}/result", params={"thumb": 1})
    assert got.status_code == 200 and max(photos.decode(got.content).size) == 256


def test_the_booth_does_not_wait_for_thumbnails(booth, monkeypatch) -> None:
    """Thumbnails are made after the answer: one held back until the booth has its photo
    would hang the upload if the answer waited for it."""
    answered = threading.Event()
    real = shared.thumbnails.thumbnail

    def after_the_answer(data, **kwargs):
        assert answered.wait(20), "the booth never got its answer"
        return real(data, **kwargs)

    monkeypatch.setattr(shared.thumbnails, "thumbnail", after_the_answer)
    response = _upload(booth, photos.green_screen(800, 600))
    answered.set()
    assert response.status_code == 200
    _settled(booth["services"], response.headers["x-boothai-job"], "original", "result")


def test_thumbnails_are_made_off_the_booths_path(booth, monkeypatch) -> None:
    """A thumbnail that cannot be made costs the guest nothing: the photo comes back."""
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(shared.images, "thumbnail", broken)
    monkeypatch.setattr("shared.thumbnails.thumbnail", broken)
    response = _upload(booth, photos.green_screen(800, 600))
    assert response.status_code == 200
    job_id = response.headers["x-boothai-job"]
    deadline = time.monotonic() + 10
    while run(booth["services"].repo.get_job("acme", job_id)).status is not JobStatus.DONE:
        assert time.monotonic() < deadline
        time.sleep(0.05)
