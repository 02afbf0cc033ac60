"""The Gemini provider with the real google-genai client against a fake Gemini on loopback."""

from __future__ import annotations

import asyncio
import io
import logging
import time

import pytest
from PIL import Image

from shared.config import Settings
from shared.domain import ProcessingType, ProviderName, Slot
from shared.errors import InvalidInput, ProviderFailed
from shared.gpu.off import OffGpuBackend
from shared.providers import ProviderContext
from shared.providers import gemini as gemini_module
from shared.providers.gemini import GeminiProvider, nearest_aspect_ratio
from tests.fakes.gemini_server import Behaviour
from tests.providers.conftest import image_bytes, make_job


@pytest.fixture
async def provider(gemini_settings):
    p = GeminiProvider(gemini_settings)
    yield p
    await p.aclose()


def _slot(**kw) -> Slot:
    return Slot(tenant="acme", provider=ProviderName.GEMINI, index=1, upload_token="t", **kw)


# -- happy paths ------------------------------------------------------------------------------
@pytest.mark.parametrize("type", list(ProcessingType))
async def test_each_type_sends_photo_then_reference_then_prompt(
    provider, gemini_fake, photo, reference, type
):
    fake, _ = gemini_fake
    job = make_job(photo, type=type, reference=reference, prompt="golden hour light")

    result = await provider.run(job)

    assert result.mime == "image/png"
    # The tinted guest photo, drawn as 2.5 Flash Image draws 3:4 at ~1 MP.
    assert Image.open(io.BytesIO(result.data)).size == (864, 1184)
    (req,) = fake.requests
    assert req.kinds == ["image", "image", "text"]
    assert req.images[0]["data"] == photo and req.images[0]["mime"] == "image/jpeg"
    assert req.images[1]["mime"] == "image/png"
    assert "golden hour light" in req.prompt
    assert "first image" in req.prompt
    assert req.aspect_ratio == "3:4"
    assert req.version == "v1beta"
    assert req.model == "gemini-2.5-flash-image"
    assert req.generation_config["responseModalities"] == ["IMAGE"]
    assert req.image_size is None  # 2.5 Flash Image refuses imageSize: it is not sent


async def test_prompt_slot_without_reference_sends_one_image(provider, gemini_fake, photo):
    fake, _ = gemini_fake
    await provider.run(make_job(photo, prompt="turn the room into a jungle"))
    (req,) = fake.requests
    assert req.kinds == ["image", "text"]
    assert "turn the room into a jungle" in req.prompt


async def test_slot_model_overrides_the_default(provider, gemini_fake, photo):
    fake, _ = gemini_fake
    await provider.run(make_job(photo, model="gemini-3-pro-image-preview"))
    assert fake.requests[0].model == "gemini-3-pro-image-preview"


async def test_text_part_and_thought_image_are_ignored(provider, gemini_fake, photo):
    fake, _ = gemini_fake
    fake.script(Behaviour.ok(text_before="Here is your picture", thought_image=True))
    result = await provider.run(make_job(photo))
    # The thought draft is a 32x32 green square placed last; the answer is the real image.
    assert Image.open(io.BytesIO(result.data)).size == (864, 1184)


async def test_format_is_sniffed_not_taken_from_declared_mime(provider, gemini_fake, photo):
    fake, _ = gemini_fake
    fake.script(Behaviour.wrong_mime())
    result = await provider.run(make_job(photo))
    assert result.mime == "image/jpeg"
    assert result.data[:3] == b"\xff\xd8\xff"


async def test_png_photo_is_declared_as_png(provider, gemini_fake):
    fake, _ = gemini_fake
    png = image_bytes((800, 600), "PNG")
    await provider.run(make_job(png, size=(800, 600), photo_mime="image/png"))
    (req,) = fake.requests
    assert req.images[0]["mime"] == "image/png"
    assert req.aspect_ratio == "4:3"


async def test_big_reference_is_downscaled_and_request_stays_small(provider, gemini_fake, photo):
    fake, _ = gemini_fake
    # 3600x2400 of noise as uncompressed PNG: over 20 MB before base64.
    noise = Image.effect_noise((3600, 2400), 80).convert("RGB")
    out = io.BytesIO()
    noise.save(out, format="PNG", compress_level=0)
    big = out.getvalue()
    assert len(big) > 20 * 1024 * 1024

    await provider.run(make_job(photo, type=ProcessingType.BACKGROUND, reference=big))

    (req,) = fake.requests
    sent = Image.open(io.BytesIO(req.images[1]["data"]))
    assert max(sent.size) == gemini_module.MAX_SIDE
    assert req.size < 20 * 1024 * 1024


@pytest.mark.parametrize(
    ("size", "ratio"),
    [((600, 800), "3:4"), ((800, 600), "4:3"), ((1000, 1000), "1:1"), ((1920, 1080), "16:9"),
     ((1080, 1920), "9:16"), ((3000, 2000), "3:2"), ((2000, 3000), "2:3"), ((2520, 1080), "21:9"),
     ((1600, 1280), "5:4"), ((1280, 1600), "4:5"), ((4000, 1000), "21:9")],
)
def test_nearest_aspect_ratio(size, ratio):
    assert nearest_aspect_ratio(*size) == ratio


# -- output size --------------------------------------------------------------------------------
GEMINI_3 = "gemini-3-pro-image-preview"


async def test_gemini_3_slot_without_a_size_draws_2k(provider, gemini_fake, photo):
    # Without imageSize Gemini 3 draws 1K (896x1200 for 3:4): too small for a booth print.
    fake, _ = gemini_fake
    result = await provider.run(make_job(photo, model=GEMINI_3))
    assert fake.requests[0].image_size == "2K"
    assert Image.open(io.BytesIO(result.data)).size == (1792, 2400)


@pytest.mark.parametrize(("size", "pixels"), [("1K", (896, 1200)), ("4K", (3584, 4800))])
async def test_slot_size_is_sent_as_the_api_spells_it(provider, gemini_fake, photo, size, pixels):
    fake, _ = gemini_fake
    result = await provider.run(make_job(photo, model="gemini-3.1-flash-image-preview",
                                         image_size=size))
    assert fake.requests[0].image_size == size
    assert Image.open(io.BytesIO(result.data)).size == pixels


async def test_a_size_saved_for_another_model_is_not_sent_to_2_5_flash(provider, gemini_fake,
                                                                         photo):
    # The fake answers 400 "Image size is not supported" as the real API does for 2.5 Flash.
    fake, _ = gemini_fake
    result = await provider.run(make_job(photo, image_size="4K"))
    assert fake.requests[0].image_size is None
    assert result.data


def test_sizes_offered_per_model(gemini_settings):
    provider = GeminiProvider(gemini_settings)
    assert provider.output_sizes(_slot()).choices == ()  # the default, 2.5 Flash Image
    offer = provider.output_sizes(_slot(model=GEMINI_3))
    assert (offer.choices, offer.default) == (("1K", "2K", "4K"), "2K")
    assert gemini_module.image_sizes_for("gemini-3.1-flash-image-preview") == ("1K", "2K", "4K")
    assert gemini_module.image_sizes_for("gemini-2.5-flash-image-preview") == ()
    provider.check_slot(_slot(type=ProcessingType.PROMPT, model=GEMINI_3, image_size="4K"))
    with pytest.raises(InvalidInput) as err:
        provider.check_slot(_slot(type=ProcessingType.PROMPT, image_size="2K"))
    assert err.value.field == "image_size"
    assert "gemini-2.5-flash-image cannot draw at 2K" in str(err.value)


# -- failures ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("behaviour", "reason", "words"),
    [
        (Behaviour.blocked("PROHIBITED_CONTENT"), "gemini_prohibited_content", "usage policy"),
        (Behaviour.blocked("SAFETY"), "gemini_safety", "safety filter"),
        (Behaviour.blocked("BLOCKLIST"), "gemini_blocklist", "reword the prompt"),
        (Behaviour.blocked("SOMETHING_NEW"), "gemini_blocked", "SOMETHING_NEW"),
        (Behaviour.finish("SAFETY"), "gemini_safety", "safety filter"),
        (Behaviour.finish("PROHIBITED_CONTENT"), "gemini_prohibited_content", "usage policy"),
        (Behaviour.finish("IMAGE_SAFETY"), "gemini_image_safety", "safety filter"),
        (Behaviour.finish("IMAGE_PROHIBITED_CONTENT"), "gemini_image_prohibited_content",
         "usage policy"),
        (Behaviour.finish("IMAGE_OTHER"), "gemini_image_other", "gave no further reason"),
        (Behaviour.finish("IMAGE_RECITATION"), "gemini_image_recitation", "existing picture"),
        (Behaviour.finish("RECITATION"), "gemini_recitation", "existing material"),
        (Behaviour.finish("SPII"), "gemini_spii", "personal information"),
        (Behaviour.finish("MADE_UP_REASON"), "gemini_refused", "MADE_UP_REASON"),
        (Behaviour.text_only(), "gemini_text_only", "text instead of an image"),
        (Behaviour.error(400), "gemini_http_400", "400"),
    ],
)
# The SDK warns about a reason its enum lacks (a newer API), and keeps the string.
@pytest.mark.filterwarnings("ignore:.* is not a valid (BlockedReason|FinishReason)")
async def test_refusals_have_named_reasons(provider, gemini_fake, photo, behaviour, reason, words):
    fake, _ = gemini_fake
    fake.script(behaviour)
    with pytest.raises(ProviderFailed) as err:
        await provider.run(make_job(photo))
    assert err.value.reason == reason
    assert words in str(err.value)
    assert len(fake.requests) == 1  # refusals are final: no retry


async def test_refusal_keeps_googles_own_words(provider, gemini_fake, photo):
    # promptFeedback reaches us whole, blockReasonMessage included. (A candidate's
    # finishMessage does not: google-genai's Gemini API converter drops it, Vertex keeps it.)
    fake, _ = gemini_fake
    fake.script(Behaviour.blocked("PROHIBITED_CONTENT", message="The prompt was blocked."))
    with pytest.raises(ProviderFailed) as err:
        await provider.run(make_job(photo))
    assert err.value.reason == "gemini_prohibited_content"
    assert "Gemini said: The prompt was blocked." in str(err.value)


@pytest.mark.parametrize(
    ("status", "reason"), [(429, "gemini_rate_limited"), (503, "gemini_unavailable"),
                           (500, "gemini_http_500")],
)
async def test_retryable_errors_are_retried_once_then_named(
    provider, gemini_fake, photo, status, reason
):
    fake, _ = gemini_fake
    fake.script(Behaviour.error(status), Behaviour.error(status), Behaviour.error(status))
    with pytest.raises(ProviderFailed) as err:
        await provider.run(make_job(photo))
    assert err.value.reason == reason
    assert len(fake.requests) == 2  # attempts=2: the original and one retry


async def test_overloaded_then_ok_succeeds(provider, gemini_fake, photo):
    fake, _ = gemini_fake
    fake.script(Behaviour.error(503))
    result = await provider.run(make_job(photo))
    assert result.mime == "image/png"
    assert len(fake.requests) == 2


async def test_no_retry_when_the_deadline_is_close(provider, gemini_fake, photo):
    fake, _ = gemini_fake
    fake.script(Behaviour.error(503), Behaviour.error(503))
    with pytest.raises(ProviderFailed) as err:
        await provider.run(make_job(photo, seconds=6))
    assert err.value.reason == "gemini_unavailable"
    assert len(fake.requests) == 1


async def test_no_image_is_retried_once(provider, gemini_fake, photo):
    fake, _ = gemini_fake
    fake.script(Behaviour.finish("NO_IMAGE"))
    result = await provider.run(make_job(photo))
    assert result.mime == "image/png"
    assert len(fake.requests) == 2


async def test_no_image_twice_fails(provider, gemini_fake, photo):
    fake, _ = gemini_fake
    fake.script(Behaviour.finish("NO_IMAGE"), Behaviour.finish("NO_IMAGE"))
    with pytest.raises(ProviderFailed) as err:
        await provider.run(make_job(photo))
    assert err.value.reason == "gemini_no_image"
    assert len(fake.requests) == 2


async def test_no_image_not_retried_without_time(gemini_settings, gemini_fake, photo):
    fake, _ = gemini_fake
    fake.script(Behaviour.finish("NO_IMAGE"))
    provider = GeminiProvider(gemini_settings, retry_min_seconds=30)
    try:
        with pytest.raises(ProviderFailed) as err:
            await provider.run(make_job(photo, seconds=20))
    finally:
        await provider.aclose()
    assert err.value.reason == "gemini_no_image"
    assert len(fake.requests) == 1


async def test_hanging_service_times_out_at_the_deadline(provider, gemini_fake, photo):
    fake, _ = gemini_fake
    fake.script(Behaviour.hang())
    started = time.monotonic()
    with pytest.raises(ProviderFailed) as err:
        await provider.run(make_job(photo, seconds=2.0))
    elapsed = time.monotonic() - started
    assert err.value.reason == "gemini_timeout"
    assert 1.5 < elapsed < 3.5


async def test_slow_answer_inside_the_deadline_is_fine(provider, gemini_fake, photo):
    fake, _ = gemini_fake
    fake.script(Behaviour.slow(1.0))
    result = await provider.run(make_job(photo, seconds=5))
    assert result.data


async def test_cancellation_leaves_no_request_running(provider, gemini_fake, photo):
    fake, _ = gemini_fake
    fake.script(Behaviour.hang())
    task = asyncio.create_task(provider.run(make_job(photo, seconds=30)))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(1.0)
    assert len(fake.requests) == 1  # no retry fired after the cancel


async def test_missing_reference_for_face_swap(provider, gemini_fake, photo):
    fake, _ = gemini_fake
    with pytest.raises(ProviderFailed) as err:
        await provider.run(make_job(photo, type=ProcessingType.FACE_SWAP))
    assert err.value.reason == "missing_reference"
    assert fake.requests == []


async def test_wrong_key_is_an_http_error_and_key_never_leaks(gemini_fake, photo, caplog):
    fake, base = gemini_fake
    settings = Settings(gemini_api_key="sk-secret-wrong", gemini_base_url=base)
    provider = GeminiProvider(settings)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(ProviderFailed) as err:
            await provider.run(make_job(photo))
    finally:
        await provider.aclose()
    # Google answers a wrong key with 400 INVALID_ARGUMENT + ErrorInfo API_KEY_INVALID: named
    # apart from a bad request (gemini_http_400), so the operator is told to fix the key.
    assert err.value.reason == "gemini_key_invalid"
    assert "API key not valid" in str(err.value)
    assert "sk-secret-wrong" not in str(err.value)
    assert "sk-secret-wrong" not in caplog.text
    assert fake.unauthorized == 1


# -- operator side ------------------------------------------------------------------------------
def test_a_slot_is_no_less_valid_without_a_deployment_key():
    """Issue 14: accounts bring their own key, so none here is no reason to refuse a slot."""
    provider = GeminiProvider(Settings(gemini_api_key=None))
    provider.check_slot(_slot(type=ProcessingType.PROMPT, prompt="x"))
    assert provider.setup_problem() is None and provider.deployment_key() is None


async def test_run_without_key_fails_with_reason(photo):
    provider = GeminiProvider(Settings(gemini_api_key=None))
    with pytest.raises(ProviderFailed) as err:
        await provider.run(make_job(photo))
    assert err.value.reason == "gemini_no_api_key"
    assert "add your Gemini key" in str(err.value) and "GEMINI_API_KEY" in str(err.value)
    await provider.aclose()


def test_check_slot_refuses_a_bad_model_id(gemini_settings):
    provider = GeminiProvider(gemini_settings)
    with pytest.raises(InvalidInput) as err:
        provider.check_slot(_slot(type=ProcessingType.PROMPT, model="../../v1/files"))
    assert err.value.field == "model"
    provider.check_slot(_slot(type=ProcessingType.PROMPT, model="gemini-3-pro-image-preview"))


async def test_create_from_registry_context(gemini_settings, tables, signer, tmp_path):
    from shared.storage.filesystem_store import FilesystemStore

    store = FilesystemStore(tmp_path / "objects", signer=signer)
    ctx = ProviderContext(settings=gemini_settings, store=store, tables=tables, signer=signer,
                          gpu=OffGpuBackend())
    provider = gemini_module.create(ctx)
    assert provider.name is ProviderName.GEMINI
    assert provider.types == frozenset(ProcessingType)
    await provider.aclose()
