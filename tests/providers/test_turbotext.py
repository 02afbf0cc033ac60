"""The Turbotext provider (httpx) against a fake Turbotext on loopback that downloads the
signed input links from a real media server and calls back a real webhook route."""

from __future__ import annotations

import asyncio
import io
import logging
import time

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from functions.deps import get_webhooks
from functions.webhooks import router as webhooks_router
from shared.config import Settings
from shared.domain import ProcessingType, ProviderName, Slot
from shared.errors import ProviderFailed
from shared.gpu.off import OffGpuBackend
from shared.job_signals import JobSignals
from shared.providers import ProviderContext
from shared.providers import turbotext as tt
from shared.providers.turbotext import ROLES, TurbotextProvider
from shared.safe_fetch import FetchPolicy, SafeFetcher
from shared.signed_links import webhook_token
from shared.storage.filesystem_store import FilesystemStore
from shared.usecases.webhooks import ProviderWebhooks
from tests.fakes.media_server import media_app
from tests.fakes.server import run_app_in_thread
from tests.fakes.turbotext_server import TBehaviour
from tests.providers.conftest import make_job

REFERENCE_KEY = "references/acme/turbotext/01.png"


@pytest.fixture
def public_app(tmp_path, signer, tables):
    """What Turbotext can reach of us: /media links and the webhook route."""
    signals = JobSignals(tables)
    app = FastAPI()
    app.include_router(webhooks_router)
    app.router.routes.append(Mount("/", app=media_app(tmp_path / "objects", signer)))
    app.dependency_overrides[get_webhooks] = lambda: ProviderWebhooks(signer=signer,
                                                                     signals=signals)
    base, stop = run_app_in_thread(app)
    yield base, signals
    stop()


@pytest.fixture
def store(tmp_path, signer, public_app, reference):
    base, _ = public_app
    store = FilesystemStore(tmp_path / "objects", signer=signer, public_base_url=base)
    store.put(REFERENCE_KEY, reference, "image/png")
    return store


def _fetcher(*bases: str) -> SafeFetcher:
    """What Services gives the provider: public addresses only, except exactly these
    loopback servers (the fake Turbotext, and a fake CDN where a test needs one)."""
    return SafeFetcher(FetchPolicy(
        allow_hosts=frozenset(b.removeprefix("http://") for b in bases)))


def _settings(turbotext_base: str, public_base_url: str | None = None, **kw) -> Settings:
    return Settings(
        turbotext_api_key="test-turbotext-key",
        turbotext_base_url=turbotext_base,
        public_base_url=public_base_url,
        **kw,
    )


@pytest.fixture
async def polling(turbotext_fake, store, signer, tables):
    """Poll mode: no public base URL in the settings (as on AWS with presigned links)."""
    _, base = turbotext_fake
    provider = TurbotextProvider(
        _settings(base), store=store, signer=signer, signals=JobSignals(tables),
        fetcher=_fetcher(base), poll_interval=1.0,
    )
    yield provider
    await provider.aclose()


@pytest.fixture
async def hooked(turbotext_fake, store, signer, public_app):
    """Webhook mode: the public base URL is set, so Turbotext calls back."""
    _, base = turbotext_fake
    public_base, signals = public_app
    provider = TurbotextProvider(
        _settings(base, public_base), store=store, signer=signer, signals=signals,
        fetcher=_fetcher(base), safety_poll_interval=30,
    )
    yield provider
    await provider.aclose()


def _job(photo, type=ProcessingType.PROMPT, **kw):
    kw.setdefault("reference_key", REFERENCE_KEY if type is not ProcessingType.PROMPT else None)
    return make_job(photo, type=type, **kw)


# -- roles ------------------------------------------------------------------------------------
def test_method_roles_are_explicit():
    face = ROLES[ProcessingType.FACE_SWAP]
    assert (face.method, face.photo_field, face.reference_field) == (
        "deepfake_photo", "url_image_target", "url")
    assert face.fixed == {"face_restore": "True"}
    mix = ROLES[ProcessingType.BACKGROUND]
    assert (mix.method, mix.photo_field, mix.reference_field, mix.prompt_field) == (
        "mix_images", "url_image_target", "url", "content")
    edit = ROLES[ProcessingType.PROMPT]
    assert (edit.method, edit.photo_field, edit.reference_field, edit.prompt_field) == (
        "generate_image2image", "url", None, "content")


@pytest.mark.parametrize(
    ("type", "method", "photo_field", "reference_field"),
    [
        (ProcessingType.FACE_SWAP, "deepfake_photo", "url_image_target", "url"),
        (ProcessingType.BACKGROUND, "mix_images", "url_image_target", "url"),
        (ProcessingType.PROMPT, "generate_image2image", "url", None),
    ],
)
async def test_each_type_reaches_its_method_with_the_right_roles(
    polling, turbotext_fake, store, photo, reference, type, method, photo_field, reference_field
):
    fake, _ = turbotext_fake
    result = await polling.run(_job(photo, type=type, prompt="neon city"))

    assert result.mime == "image/png"
    assert Image.open(io.BytesIO(result.data)).size == (600, 800)
    job = fake.only_job
    assert job.method == method
    # Turbotext really downloaded our signed links, and got the right image for each role.
    assert job.inputs[photo_field] == photo
    if reference_field:
        assert job.inputs[reference_field] == reference
    if type is ProcessingType.FACE_SWAP:
        assert job.fields["face_restore"] == "True"
    else:
        assert job.fields["content"] == "neon city"
    assert "webhook" not in job.fields
    # The result was fetched from Turbotext's own host, with the bearer header.
    assert fake.downloads == [("/download.php", True)]
    # The temporary input copy is gone; the reference stays.
    assert store.list("inputs/") == []
    assert store.head(REFERENCE_KEY) is not None


@pytest.mark.parametrize(("shape", "path"), [
    ("uploaded_image", "/download.php"),  # the docs' first sample
    ("data_uploaded_image", "/download.php"),  # what a production driver of the API reads
    ("relative", "/image/generate_image2image_id"),  # only data.image[0], site-relative
])
async def test_every_result_shape_arrives(polling, turbotext_fake, photo, shape, path):
    fake, _ = turbotext_fake
    fake.script(TBehaviour(shape=shape))
    result = await polling.run(_job(photo))
    assert result.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(result.data)).size == (600, 800)
    assert fake.downloads[0][0].startswith(path) and fake.downloads[0][1]


async def test_download_php_redirect_is_followed(polling, turbotext_fake, photo):
    """download.php?f=… answers 302 to /image/… like the real site: the image arrives, and
    the bearer header goes to both hops because both are Turbotext's own origin."""
    fake, _ = turbotext_fake
    fake.script(TBehaviour(redirect=True))
    result = await polling.run(_job(photo))
    assert Image.open(io.BytesIO(result.data)).size == (600, 800)
    assert [p for p, _ in fake.downloads] == [
        "/download.php", f"/image/generate_image2image_id{fake.only_job.id}_0.png"]
    assert all(bearer for _, bearer in fake.downloads)


@pytest.fixture
def cdn(turbotext_fake):
    """Another origin serving Turbotext's result files."""
    fake, _ = turbotext_fake
    base, stop = run_app_in_thread(fake.cdn_app())
    yield base
    stop()


async def test_redirect_to_another_origin_carries_no_api_key(
    turbotext_fake, cdn, store, signer, tables, photo
):
    fake, base = turbotext_fake
    provider = TurbotextProvider(_settings(base), store=store, signer=signer,
                                 signals=JobSignals(tables), fetcher=_fetcher(base, cdn))
    fake.script(TBehaviour(redirect_to=cdn))
    try:
        result = await provider.run(_job(photo))
    finally:
        await provider.aclose()
    assert Image.open(io.BytesIO(result.data)).size == (600, 800)
    assert fake.downloads == [("/download.php", True)]  # Turbotext's own host: the key
    assert fake.cdn_downloads == [(f"/image/generate_image2image_id{fake.only_job.id}_0.png",
                                   False)]  # the other origin: no Authorization at all


async def test_result_link_on_an_internal_address_is_refused(polling, turbotext_fake, photo):
    """The link in an answer is outside input: a private address other than Turbotext's own
    configured host is refused, and nothing is fetched from it."""
    fake, _ = turbotext_fake
    fake.script(TBehaviour(redirect_to="http://169.254.169.254"))
    with pytest.raises(ProviderFailed) as err:
        await polling.run(_job(photo))
    assert err.value.reason == "turbotext_link_refused"
    assert fake.downloads == [("/download.php", True)]


async def test_expired_result_link_is_a_named_download_failure(polling, turbotext_fake, photo):
    fake, _ = turbotext_fake
    fake.script(TBehaviour(expired=True))
    with pytest.raises(ProviderFailed) as err:
        await polling.run(_job(photo))
    assert err.value.reason == "turbotext_download_failed"
    assert "HTTP 404" in str(err.value)


async def test_polls_at_most_once_per_second(polling, turbotext_fake, photo):
    fake, _ = turbotext_fake
    fake.script(TBehaviour(reconnects=3))
    await polling.run(_job(photo))
    polls = fake.only_job.polls
    assert len(polls) == 4
    gaps = [b - a for a, b in zip(polls, polls[1:], strict=False)]
    assert min(gaps) >= 0.95


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (TBehaviour(forbidden=True), "turbotext_forbidden_content"),
        (TBehaviour(error="face_not_detected"), "turbotext_error:face_not_detected"),
        # Not a documented code: the reason stays one stable code, the text goes to the message.
        (TBehaviour(error="quota exceeded, try later"), "turbotext_error"),
        (TBehaviour(create_status=429), "turbotext_http_429"),
        (TBehaviour(create_status=503), "turbotext_http_503"),
        (TBehaviour(poll_status=500), "turbotext_http_500"),
    ],
)
async def test_failures_have_named_reasons(polling, turbotext_fake, photo, behaviour, reason):
    fake, _ = turbotext_fake
    fake.script(behaviour)
    with pytest.raises(ProviderFailed) as err:
        await polling.run(_job(photo, type=ProcessingType.FACE_SWAP))
    assert err.value.reason == reason


@pytest.mark.parametrize("script", [
    TBehaviour(error="Недостаточно средств"),  # in the result
    TBehaviour(create_error="Недостаточно средств"),  # refused at create_queue already
])
async def test_russian_error_text_is_the_message_and_the_reason_a_code(
    polling, turbotext_fake, photo, script
):
    fake, _ = turbotext_fake
    fake.script(script)
    with pytest.raises(ProviderFailed) as err:
        await polling.run(_job(photo))
    # Named by its words (no money on the account), as stable ASCII: it reaches headers
    # and stats; the operator reads the provider's own words in the message.
    assert err.value.reason == "turbotext_no_funds"
    assert "Недостаточно средств" in str(err.value)


async def test_error_text_with_line_breaks_is_one_bounded_line(
    polling, turbotext_fake, photo, caplog
):
    caplog.set_level(logging.DEBUG)
    fake, _ = turbotext_fake
    fake.script(TBehaviour(error="Ошибка\r\nX-Injected: 1\u2028" + "я" * 2000))
    with pytest.raises(ProviderFailed) as err:
        await polling.run(_job(photo))
    message = str(err.value)
    assert err.value.reason == "turbotext_error"
    assert "Ошибка X-Injected: 1" in message
    assert not any(c in message for c in "\r\n\u2028") and len(message) <= 500
    assert not any("\r" in r.getMessage() or "\nX-Injected" in r.getMessage()
                   for r in caplog.records)


async def test_unreachable_input_link_is_url_error(polling, turbotext_fake, photo):
    with pytest.raises(ProviderFailed) as err:
        await polling.run(_job(photo, type=ProcessingType.BACKGROUND,
                               reference_key="references/acme/turbotext/missing.png"))
    assert err.value.reason == "turbotext_error:url_error"


async def test_wrong_key_is_an_http_error(turbotext_fake, store, signer, tables, photo):
    fake, base = turbotext_fake
    settings = _settings(base).model_copy(update={"turbotext_api_key": SecretStr("wrong")})
    provider = TurbotextProvider(settings, store=store, signer=signer, signals=JobSignals(tables),
                                 fetcher=_fetcher(base))
    try:
        with pytest.raises(ProviderFailed) as err:
            await provider.run(_job(photo))
    finally:
        await provider.aclose()
    assert err.value.reason == "turbotext_http_401"
    assert "wrong" not in str(err.value)


async def test_missing_reference_fails_before_any_call(polling, turbotext_fake, photo):
    fake, _ = turbotext_fake
    with pytest.raises(ProviderFailed) as err:
        await polling.run(make_job(photo, type=ProcessingType.FACE_SWAP))
    assert err.value.reason == "missing_reference"
    assert fake.calls == []


async def test_hanging_create_times_out_by_the_deadline(polling, turbotext_fake, photo):
    fake, _ = turbotext_fake
    fake.script(TBehaviour(hang=True))
    started = time.monotonic()
    with pytest.raises(ProviderFailed) as err:
        await polling.run(_job(photo, seconds=2))
    assert err.value.reason == "turbotext_timeout"
    assert time.monotonic() - started < 3


async def test_deadline_while_queued_stops_all_calls(polling, turbotext_fake, photo):
    fake, _ = turbotext_fake
    fake.script(TBehaviour(ready_after=60))
    with pytest.raises(ProviderFailed) as err:
        await polling.run(_job(photo, seconds=3.5))
    assert err.value.reason == "turbotext_timeout"
    ended = time.monotonic()
    await asyncio.sleep(2.0)
    assert fake.calls_after(ended) == []


async def test_cancelled_run_stops_polling(polling, turbotext_fake, photo):
    """The pipeline cancels run() at its deadline; nothing may call Turbotext after that."""
    fake, _ = turbotext_fake
    fake.script(TBehaviour(ready_after=60))
    task = asyncio.create_task(polling.run(_job(photo, seconds=30)))
    await asyncio.sleep(2.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    cancelled = time.monotonic()
    await asyncio.sleep(2.0)
    assert fake.calls_after(cancelled) == []


# -- webhook mode -----------------------------------------------------------------------------
async def test_webhook_delivers_the_result(hooked, turbotext_fake, photo, public_app):
    fake, _ = turbotext_fake
    public_base, _ = public_app
    # Polling would only see the result after 60 s: a fast answer proves the webhook won.
    fake.script(TBehaviour(ready_after=60, webhook_delay=0.3))
    started = time.monotonic()
    result = await hooked.run(_job(photo, job_id="jobhook1"))
    assert time.monotonic() - started < 2.5
    assert result.mime == "image/png"
    job = fake.only_job
    assert job.webhook.startswith(f"{public_base}/hooks/turbotext/jobhook1?t=")
    assert job.webhook_statuses == [200]
    assert job.polls == []


async def test_duplicate_webhook_is_harmless(hooked, turbotext_fake, photo):
    fake, _ = turbotext_fake
    fake.script(TBehaviour(ready_after=60, webhook_times=2))
    result = await hooked.run(_job(photo, job_id="jobdup1"))
    assert result.data
    await asyncio.sleep(0.3)
    assert fake.only_job.webhook_statuses == [200, 200]


async def test_webhook_failure_payload_is_a_named_failure(hooked, turbotext_fake, photo):
    fake, _ = turbotext_fake
    fake.script(TBehaviour(error="LIMIT"))
    with pytest.raises(ProviderFailed) as err:
        await hooked.run(_job(photo, job_id="jobfail1"))
    assert err.value.reason == "turbotext_error:LIMIT"


@pytest.fixture
def bystander():
    """Some other service on loopback that a forged result link points at."""
    hits: list[str] = []

    async def anything(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(b"internal secrets", media_type="image/png")

    base, stop = run_app_in_thread(Starlette(routes=[Route("/{path:path}", anything)]))
    yield base, hits
    stop()


async def test_webhook_body_naming_an_internal_url_fetches_nothing(
    hooked, turbotext_fake, photo, public_app, signer, bystander
):
    """Whoever holds a webhook URL (valid token) can POST any body: its link is fetched
    through the safe fetcher, which refuses a loopback server that is not Turbotext."""
    fake, _ = turbotext_fake
    public_base, _ = public_app
    other, hits = bystander
    fake.script(TBehaviour(ready_after=60, webhook_times=0))  # only the forged body arrives
    task = asyncio.create_task(hooked.run(_job(photo, job_id="jobssrf1")))
    while not fake.jobs:
        await asyncio.sleep(0.05)
    forged = {"success": True, "error": "", "uploaded_image": f"{other}/x"}
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{public_base}/hooks/turbotext/jobssrf1"
                              f"?t={webhook_token(signer, 'jobssrf1')}", json=forged)
    assert r.status_code == 200
    with pytest.raises(ProviderFailed) as err:
        await task
    assert hits == []  # not one request reached it
    assert err.value.reason == "turbotext_link_refused"


async def test_lost_callback_is_caught_by_the_safety_poll(
    turbotext_fake, store, signer, public_app, photo
):
    fake, base = turbotext_fake
    public_base, signals = public_app
    provider = TurbotextProvider(
        _settings(base, public_base), store=store, signer=signer, signals=signals,
        fetcher=_fetcher(base), safety_poll_interval=1.0,
    )
    fake.script(TBehaviour(webhook_times=0, reconnects=1))  # 1st safety poll: not yet
    try:
        result = await provider.run(_job(photo, job_id="joblost1"))
    finally:
        await provider.aclose()
    assert result.data
    assert fake.only_job.webhook_statuses == []
    assert len(fake.only_job.polls) == 2


async def test_webhook_mode_deadline_stops_everything(hooked, turbotext_fake, photo):
    fake, _ = turbotext_fake
    fake.script(TBehaviour(ready_after=60, webhook_times=0))
    task = asyncio.create_task(hooked.run(_job(photo, job_id="jobslow1", seconds=30)))
    await asyncio.sleep(1.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    cancelled = time.monotonic()
    await asyncio.sleep(1.5)
    assert fake.calls_after(cancelled) == []


# -- helpers and operator side ------------------------------------------------------------------
def test_webhook_token_round_trip(signer):
    token = tt.webhook_token(signer, "job1")
    assert tt.verify_webhook_token(signer, "job1", token)
    assert not tt.verify_webhook_token(signer, "job2", token)
    assert not tt.verify_webhook_token(signer, "job1", None)
    assert not tt.verify_webhook_token(signer, "job1", token[:-1] + "A")


def test_result_link_shapes():
    base = "https://www.turbotext.ru"
    assert tt.result_link({"uploaded_image": "https://cdn.example/x.png"}, base) == (
        "https://cdn.example/x.png")
    assert tt.result_link({"data": {"image": ["image/a_0.png"]}}, base) == (
        "https://www.turbotext.ru/image/a_0.png")
    assert tt.result_link({"data": {"uploaded_image": "download.php?f=b.png"}}, base) == (
        "https://www.turbotext.ru/download.php?f=b.png")
    with pytest.raises(ProviderFailed) as err:
        tt.result_link({"success": True, "data": {}}, base)
    assert err.value.reason == "turbotext_no_image"


def _slot() -> Slot:
    return Slot(tenant="acme", provider=ProviderName.TURBOTEXT, index=1, upload_token="t",
                type=ProcessingType.PROMPT, prompt="x")


def _bare(settings: Settings, signer, tables, tmp_path) -> TurbotextProvider:
    store = FilesystemStore(tmp_path / "o", signer=signer)
    return TurbotextProvider(settings, store=store, signer=signer, signals=JobSignals(tables),
                             fetcher=SafeFetcher())


async def test_a_missing_key_or_public_url_never_refuses_a_slot(signer, tables, tmp_path):
    """Issue 14: slots save in any state. What the deployment lacks is its setup problem
    (shown on the tab and the cards); a missing key is the account's (ProviderRegistry)."""
    no_key = _bare(Settings(turbotext_api_key=None, public_base_url="https://b.example"),
                   signer, tables, tmp_path)
    no_key.check_slot(_slot())
    assert no_key.setup_problem() is None and no_key.deployment_key() is None

    no_url = _bare(Settings(turbotext_api_key="k", storage="embedded"), signer, tables, tmp_path)
    no_url.check_slot(_slot())
    assert "BOOTHAI_PUBLIC_BASE_URL" in (no_url.setup_problem() or "")

    # On AWS the links are presigned S3 URLs: no public base URL needed.
    on_aws = _bare(Settings(turbotext_api_key="k", storage="aws"), signer, tables, tmp_path)
    assert on_aws.setup_problem() is None
    for p in (no_key, no_url, on_aws):
        await p.aclose()


async def test_create_from_registry_context(signer, tables, tmp_path):
    settings = Settings(turbotext_api_key="k")
    store = FilesystemStore(tmp_path / "o", signer=signer)
    ctx = ProviderContext(settings=settings, store=store, tables=tables, signer=signer,
                          gpu=OffGpuBackend())
    provider = tt.create(ctx)
    assert provider.name is ProviderName.TURBOTEXT
    assert provider.types == frozenset(ProcessingType)
    await provider.aclose()
