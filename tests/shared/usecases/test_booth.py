"""BoothIngest: link → password → pipeline, inside one booth window."""

from __future__ import annotations

import pytest

from shared.domain import JobStatus
from shared.errors import InvalidInput, NotFound, StorageUnavailable, TooManyAttempts, Unauthorized
from tests.helpers import photos
from tests.shared.usecases.conftest import now


async def test_a_booth_photo_runs_on_the_slot(services, booth_slot):
    tenant, slot = booth_slot
    visit = await services.booth.open(slot.upload_token, received_at=now())
    assert visit.slot.key == slot.key and visit.tenant.name == "acme"
    admitted = await services.booth.admit(visit, tenant.upload_password, "10.0.0.1")
    answer = await services.booth.process(admitted, photos.green_screen(320, 240))
    assert answer.mime == "image/jpeg" and not answer.served_original
    await services.drain()
    job = await services.repo.get_job("acme", answer.job.job_id)
    assert job.status is JobStatus.DONE and job.result_key.startswith("results/acme/")


async def test_the_window_is_computed_once_from_arrival(services, booth_slot):
    _, slot = booth_slot
    arrived = now() - 3.0  # the body took three seconds to arrive
    visit = await services.booth.open(slot.upload_token, received_at=arrived)
    assert visit.deadline.answer_by == pytest.approx(arrived + 9.0)  # window 10 − margin 1
    assert visit.deadline.providers_by < visit.deadline.answer_by


async def test_unknown_link_wrong_password_missing_file(services, booth_slot):
    tenant, slot = booth_slot
    with pytest.raises(NotFound):
        await services.booth.open("no-such-token", received_at=now())
    visit = await services.booth.open(slot.upload_token, received_at=now())
    with pytest.raises(Unauthorized):
        await services.booth.admit(visit, "wrong", "10.0.0.2")
    admitted = await services.booth.admit(visit, tenant.upload_password, "10.0.0.2")
    with pytest.raises(InvalidInput) as err:
        await services.booth.process(admitted, None)
    assert err.value.field == "fileToUpload"


async def test_wrong_passwords_are_throttled_per_client(services, booth_slot):
    tenant, slot = booth_slot
    visit = await services.booth.open(slot.upload_token, received_at=now())
    for _ in range(services.settings.auth_failures_allowed):
        with pytest.raises(Unauthorized):
            await services.booth.admit(visit, "wrong", "10.0.0.3")
    with pytest.raises(TooManyAttempts):
        await services.booth.admit(visit, tenant.upload_password, "10.0.0.3")
    await services.booth.admit(visit, tenant.upload_password, "10.0.0.4")  # another client


async def test_a_window_already_spent_answers_storage_too_slow(services, booth_slot):
    _, slot = booth_slot
    with pytest.raises(StorageUnavailable, match="looking up the upload link"):
        await services.booth.open(slot.upload_token, received_at=now() - 60)
