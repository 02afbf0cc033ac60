"""Gemini image models ("Nano Banana") through the official google-genai SDK.

One request per photo: guest photo, optional reference, then the prompt from
`shared.providers.prompts`; the image comes back inline. What this module adds to the SDK:

- one async client per API key (the account's own or the deployment's), kept for the
  provider's life in a small pool keyed by the key's hash (a discarded client closes its
  HTTP session, so one is closed only once no call is using it);
- a timeout and a bounded retry on *every* call, both derived from the job's deadline —
  the SDK's defaults are no timeout and no retry, which a 50 s booth window cannot afford;
- inputs declared by their real format and kept well under the 20 MB request limit;
- the answer read defensively (last non-thought image part, format sniffed from bytes) and
  every way of getting no image turned into a short, stable `ProviderFailed.reason`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import SecretStr

from shared import images
from shared.access import Access, Secret
from shared.concurrency import run_cpu
from shared.config import Settings
from shared.domain import ProviderName, Slot, one_line
from shared.errors import InvalidInput, PayloadTooLarge, ProviderFailed, UnsupportedMedia
from shared.provider_keys import KeyCheck, deployment_key, digest, scrub
from shared.providers import prompts
from shared.providers.base import (
    BaseProvider,
    OutputSizes,
    ProviderContext,
    ProviderImage,
    ProviderJob,
)
from shared.slot_rules import EDIT_MODEL

# Inline images in, inline image out: no storage port; the deployment's key comes from the
# stack secret (an account's own comes sealed on its row, opened by the caller).
ACCESS = Access(secrets=frozenset({Secret.PROVIDER_KEYS}))

log = logging.getLogger(__name__)

API_VERSION = "v1beta"  # SDK 3.x defaults to v1; the image models are documented on v1beta
MAX_SIDE = 2048  # guest photo and reference: ~4 MP, plenty for the model, small on the wire
# Raw bytes per input image. Base64 adds a third, so two inputs stay far below 20 MB.
MAX_INPUT_BYTES = 6 * 1024 * 1024

SUPPORTED_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")

# A second attempt (SDK retry on 429/5xx, or our own retry on NO_IMAGE) only makes sense
# when a typical Flash call (~10 s, often less) could still finish before the deadline.
DEFAULT_RETRY_MIN_SECONDS = 5.0
RETRY_STATUS_CODES = [429, 500, 503]
# The pipeline cancels run() at the deadline and reports "deadline" (504). Our own timers
# are a backstop for callers without one, set a moment later so they never race it: first
# the SDK's per-attempt timeout, which its transport turns into its own timeout error (mapped
# below), then, later still, run()'s hard stop, which also ends a retry the SDK would start
# after a timed-out attempt (it retries timeouts and refused connections by itself).
TRANSPORT_GRACE_SECONDS = 0.3
HARD_STOP_GRACE_SECONDS = 1.0
# Clients kept alive at once, one per key: accounts with their own key plus the deployment's.
# Past this the least recently used one is closed once no call is using it.
MAX_CLIENTS = 64
# "Check key": one models.list page of one model, bounded like a short booth call.
CHECK_KEY_SECONDS = 10.0

# google-genai picks its async transport at run time: aiohttp when it can import it (our
# venv has it through modal; a core install does not), else httpx2, its default, or httpx
# with GOOGLE_GENAI_HTTP_CLIENT=httpx. Each raises its own classes (httpx2's are not httpx's),
# so the errors of every transport installed are mapped. aiohttp's overall timeout is the
# builtin TimeoutError. Timeouts are listed first: they are transport errors too.
_TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, httpx.TimeoutException)
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx.RequestError,)
try:
    import httpx2
except ImportError:  # pragma: no cover - google-genai 3.x depends on it
    pass
else:
    _TIMEOUT_ERRORS += (httpx2.TimeoutException,)
    _TRANSPORT_ERRORS += (httpx2.RequestError,)
try:
    import aiohttp
except ImportError:  # a core install
    pass
else:
    _TIMEOUT_ERRORS += (aiohttp.ServerTimeoutError,)
    _TRANSPORT_ERRORS += (aiohttp.ClientError,)

# Output resolution ("imageSize"): the Gemini 3 image models (Pro, 3.1 Flash) take "1K",
# "2K" or "4K" (an uppercase K) and draw 1K without it; 2.5 Flash Image draws ~1 MP only and
# refuses the field. A booth print (10x15 cm at 300 dpi is 1800x1200 px) wants more than
# 1K, so slots that leave the size unset get 2K where the model can draw it.
IMAGE_SIZES = ("1K", "2K", "4K")
DEFAULT_IMAGE_SIZE = "2K"
_SIZED_MODEL_RE = re.compile(r"^gemini-(\d+)(?:\.\d+)?-(?:pro|flash)-image(?:-[A-Za-z0-9.-]+)?$")

_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$")

# Why Gemini drew nothing, by the finish reason of its candidate or the block reason of its
# prompt feedback: what the operator can do about it. The code is "gemini_" + the reason in
# lower case (it becomes the X-Boothai-Original header: ASCII, no spaces); a reason not
# listed here is "gemini_refused" (or "gemini_blocked"), its name kept in the message only.
_REFUSALS: dict[str, str] = {
    "SAFETY": "Gemini's safety filter refused this photo or prompt; try a different prompt",
    "IMAGE_SAFETY": "Gemini's safety filter refused the image it drew; try a different prompt",
    "PROHIBITED_CONTENT": "Gemini refused this photo or prompt as prohibited by its usage "
                          "policy; change the prompt or the reference image",
    "IMAGE_PROHIBITED_CONTENT": "Gemini refused the image it drew as prohibited by its usage "
                                "policy; change the prompt",
    "BLOCKLIST": "the prompt contains a term on Gemini's blocklist; reword the prompt",
    "SPII": "Gemini refused because the result would show sensitive personal information; "
            "remove names, numbers or documents from the prompt and the reference image",
    "RECITATION": "Gemini refused because the result would copy existing material too "
                  "closely; reword the prompt",
    "IMAGE_RECITATION": "Gemini refused because the image would copy an existing picture too "
                        "closely; use another reference image or prompt",
    "IMAGE_OTHER": "Gemini could not draw this image and gave no further reason; try again "
                   "or change the prompt",
    "OTHER": "Gemini refused for a reason it does not name; try again or change the prompt",
    "JAILBREAK": "Gemini took the prompt for an attempt to get around its rules; reword it",
    "MODEL_ARMOR": "the Google Cloud project's Model Armor policy blocked the request",
}


class GeminiProvider(BaseProvider):
    name = ProviderName.GEMINI
    label = "Google Gemini"
    capabilities = EDIT_MODEL  # draws from text too: a background may be words alone
    max_side = MAX_SIDE
    takes_key = True

    def __init__(
        self, settings: Settings, *, retry_min_seconds: float = DEFAULT_RETRY_MIN_SECONDS
    ) -> None:
        self._settings = settings
        self._retry_min_seconds = retry_min_seconds
        self._clients = ClientPool(settings)

    # -- operator side ------------------------------------------------------------------------
    def deployment_key(self) -> SecretStr | None:
        return deployment_key(self._settings, self.name)

    async def check_key(self, key: str) -> KeyCheck:
        """`models.list`, one model: Gemini's cheapest call that proves the key (free, no
        tokens), through the same client the key's jobs use."""
        options = types.HttpOptions(timeout=int(CHECK_KEY_SECONDS * 1000),
                                    retry_options=types.HttpRetryOptions(attempts=1))
        try:
            async with asyncio.timeout(CHECK_KEY_SECONDS + HARD_STOP_GRACE_SECONDS):
                async with self._clients.lease(key) as client:
                    pager = await client.aio.models.list(
                        config=types.ListModelsConfig(page_size=1, http_options=options))
        except genai_errors.APIError as exc:
            code = ("quota" if exc.code == 429 else
                    "key_rejected" if _key_rejected(exc) else "error")
            said = exc.message or f"HTTP {exc.code} {exc.status or ''}".strip()
            return KeyCheck(False, code, _detail(said, key))
        except _TIMEOUT_ERRORS:
            return KeyCheck(False, "unreachable", "Gemini did not answer in time")
        except _TRANSPORT_ERRORS as exc:
            return KeyCheck(False, "unreachable",
                            f"cannot reach Gemini ({type(exc).__name__})")
        names = [m.name for m in pager.page if m.name]
        seen = f"; it lists {names[0]}" if names else ""
        return KeyCheck(True, "ok", _detail(f"Gemini accepted the key{seen}", key))

    def check_slot(self, slot: Slot) -> None:
        if slot.model and not _MODEL_RE.match(slot.model):
            raise InvalidInput("not a valid Gemini model id", field="model")
        model = slot.model or self._settings.gemini_model
        sizes = image_sizes_for(model)
        if slot.image_size and slot.image_size not in sizes:
            can = f"it draws {', '.join(sizes)}" if sizes else "it draws ~1K only"
            raise InvalidInput(f"{model} cannot draw at {slot.image_size}: {can}",
                               field="image_size")

    def output_sizes(self, slot: Slot) -> OutputSizes:
        sizes = image_sizes_for(slot.model or self._settings.gemini_model)
        return OutputSizes(sizes, DEFAULT_IMAGE_SIZE if sizes else None)

    # -- one photo ------------------------------------------------------------------------------
    async def run(self, job: ProviderJob) -> ProviderImage:
        key = self.key_for(job)
        model = job.model or self._settings.gemini_model
        if not _MODEL_RE.match(model):
            raise ProviderFailed("gemini_bad_model", "the slot's Gemini model id is not valid")
        self.refuse_unready(job)

        contents = await run_cpu(lambda: _build_contents(job))
        image_config = types.ImageConfig(aspect_ratio=nearest_aspect_ratio(*job.photo_size),
                                         image_size=self._image_size(job, model))
        started = time.monotonic()
        try:
            async with (asyncio.timeout(job.remaining() + HARD_STOP_GRACE_SECONDS),
                        self._clients.lease(key) as client):
                data = await self._generate_with_retry(client, job, model, contents,
                                                       image_config)
        except TimeoutError:
            raise ProviderFailed("gemini_timeout", "Gemini did not answer in time") from None
        log.info("gemini %s job %s done in %.1fs", model, job.job_id, time.monotonic() - started)
        return await run_cpu(lambda: _as_provider_image(data))

    def _image_size(self, job: ProviderJob, model: str) -> str | None:
        sizes = image_sizes_for(model)
        if not sizes:
            if job.image_size:  # saved for another model (the deployment default changed)
                log.warning("gemini job %s: %s takes no image size; %s not sent",
                            job.job_id, model, job.image_size)
            return None
        return job.image_size if job.image_size in sizes else DEFAULT_IMAGE_SIZE

    async def _generate_with_retry(
        self, client: genai.Client, job: ProviderJob, model: str, contents: list,
        image_config: types.ImageConfig
    ) -> bytes:
        # Operators saw NO_IMAGE with HTTP 200 now and then; one quick retry usually draws.
        try:
            return await self._generate(client, job, model, contents, image_config)
        except ProviderFailed as exc:
            if exc.reason != "gemini_no_image" or job.remaining() < self._retry_min_seconds:
                raise
            log.info("gemini job %s: no image, retrying once", job.job_id)
            return await self._generate(client, job, model, contents, image_config)

    async def _generate(self, client: genai.Client, job: ProviderJob, model: str,
                        contents: list, image_config: types.ImageConfig) -> bytes:
        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=image_config,
            http_options=self._http_options(job.remaining()),
        )
        try:
            response = await client.aio.models.generate_content(
                model=model, contents=contents, config=config
            )
        except genai_errors.APIError as exc:
            raise _api_failure(exc) from None
        except _TIMEOUT_ERRORS:
            raise ProviderFailed("gemini_timeout", "Gemini did not answer in time") from None
        except _TRANSPORT_ERRORS as exc:
            raise ProviderFailed(
                "gemini_unreachable",
                f"cannot reach Gemini, or the connection broke ({type(exc).__name__})",
            ) from None
        return extract_image(response)

    def _http_options(self, remaining: float) -> types.HttpOptions:
        """Per-call timeout and retry, both inside what is left of the booth window."""
        timeout_ms = max(1000, math.floor((remaining + TRANSPORT_GRACE_SECONDS) * 1000))
        # The SDK applies the timeout per attempt, so a retry is allowed only when two
        # attempts plus the back-off could fit; run()'s hard stop ends whatever outlasts it.
        attempts = 2 if remaining >= 2 * self._retry_min_seconds else 1
        return types.HttpOptions(
            timeout=timeout_ms,
            retry_options=types.HttpRetryOptions(
                attempts=attempts,
                initial_delay=0.5,
                max_delay=1.0,
                jitter=0.25,
                http_status_codes=RETRY_STATUS_CODES,
            ),
        )

    async def aclose(self) -> None:
        await self._clients.aclose()


@dataclass
class _Pooled:
    client: genai.Client
    users: int = 0
    evicted: bool = False


class ClientPool:
    """One google-genai client per API key, reused across jobs (its connection pool with
    it), keyed by the key's SHA-256 so the pool's keys reveal nothing. At most MAX_CLIENTS;
    the least recently used one past that is closed when its last call ends."""

    def __init__(self, settings: Settings, size: int = MAX_CLIENTS) -> None:
        self._settings = settings
        self._size = size
        self._clients: OrderedDict[str, _Pooled] = OrderedDict()

    def __len__(self) -> int:
        return len(self._clients)

    def client(self, key: str) -> genai.Client:
        """The client for `key`, made on first use (tests read its transport)."""
        return self._entry(key).client

    def _entry(self, key: str) -> _Pooled:
        name = digest(key)
        pooled = self._clients.get(name)
        if pooled is None:
            pooled = self._clients[name] = _Pooled(_make_client(self._settings, key))
        self._clients.move_to_end(name)
        return pooled

    @asynccontextmanager
    async def lease(self, key: str) -> AsyncIterator[genai.Client]:
        pooled = self._entry(key)
        pooled.users += 1
        try:
            await self._evict_past_size()
            yield pooled.client
        finally:
            pooled.users -= 1
            if pooled.evicted and pooled.users == 0:
                await _close(pooled.client)

    async def _evict_past_size(self) -> None:
        while len(self._clients) > self._size:
            _, oldest = self._clients.popitem(last=False)
            oldest.evicted = True
            if oldest.users == 0:
                await _close(oldest.client)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for pooled in clients:
            await _close(pooled.client)


async def _close(client: genai.Client) -> None:
    await client.aio.aclose()
    client.close()


def create(ctx: ProviderContext) -> GeminiProvider:
    return GeminiProvider(ctx.settings)


def image_sizes_for(model: str) -> tuple[str, ...]:
    """The `imageSize` values `model` takes: the Gemini 3+ Pro and Flash image models take
    all of IMAGE_SIZES; others (2.5 Flash Image, Flash Lite) none."""
    match = _SIZED_MODEL_RE.match(model)
    return IMAGE_SIZES if match and int(match.group(1)) >= 3 else ()


def _make_client(settings: Settings, key: str) -> genai.Client:
    return genai.Client(
        api_key=key,
        http_options=types.HttpOptions(
            base_url=settings.gemini_base_url,
            api_version=API_VERSION,
            # Defaults for any call that does not pass its own (every call here does).
            timeout=int(settings.answer_budget_seconds * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
        ),
    )


# -- request ---------------------------------------------------------------------------------
def _build_contents(job: ProviderJob) -> list:
    """Guest photo first, reference second, prompt last (runs in a worker thread)."""
    parts: list = [_image_part(job.photo)]
    if job.reference is not None:
        parts.append(_image_part(job.reference))
    parts.append(
        prompts.build_prompt(job.type, job.prompt, has_reference=job.reference is not None)
    )
    return parts


def _image_part(data: bytes) -> types.Part:
    """Declare the mime type from the bytes (a JPEG labelled PNG is a 400), re-encoding
    anything too large or of a format the model may not take."""
    mime = images.sniff_mime(data)
    if mime is None or len(data) > MAX_INPUT_BYTES or _longest_side(data) > MAX_SIDE:
        data, mime = fit_image(data)
    return types.Part.from_bytes(data=data, mime_type=mime)


def _longest_side(data: bytes) -> int:
    try:
        header = images.read_header(data, max_pixels=200_000_000)
    except (UnsupportedMedia, PayloadTooLarge):
        return MAX_SIDE + 1  # let fit_image decide and name the failure
    return max(header.width, header.height)


def fit_image(data: bytes) -> tuple[bytes, str]:
    """Downscale to MAX_SIDE and re-encode until the bytes fit MAX_INPUT_BYTES."""
    try:
        prepared = images.prepare_photo(data, max_side=MAX_SIDE, max_pixels=200_000_000)
    except (UnsupportedMedia, PayloadTooLarge) as exc:
        raise ProviderFailed("gemini_bad_input", str(exc)) from None
    if len(prepared.data) <= MAX_INPUT_BYTES:
        return prepared.data, prepared.mime
    # A huge PNG even at 2048 px: JPEG is a fraction of it, and the model needs no alpha.
    img = images.load_rgb(prepared.data)
    encoded, mime = images.encode(img, keep_alpha=False, quality=85)
    return encoded, mime


def nearest_aspect_ratio(width: int, height: int) -> str:
    """The supported ratio closest to the photo's, compared on a log scale so that 3:2 and
    2:3 are equally far from 1:1."""
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = (int(n) for n in ratio.split(":"))
        return abs(math.log(w / h) - target)

    return min(SUPPORTED_RATIOS, key=distance)


# -- response --------------------------------------------------------------------------------
def extract_image(response: types.GenerateContentResponse) -> bytes:
    """The image bytes, or ProviderFailed naming why there are none."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        raise _refusal(_enum_name(feedback.block_reason), feedback.block_reason_message,
                       blocked=True)

    candidates = response.candidates or []
    if not candidates:
        raise ProviderFailed("gemini_no_image", "Gemini returned no candidates")
    candidate = candidates[0]
    parts = (candidate.content.parts if candidate.content else None) or []

    # Thinking models may send draft images marked `thought`; the answer is the last real one.
    drawn = [
        p.inline_data.data
        for p in parts
        if p.inline_data is not None and p.inline_data.data and not p.thought
    ]
    if drawn:
        return drawn[-1]

    finish = _enum_name(candidate.finish_reason) if candidate.finish_reason else ""
    if finish == "NO_IMAGE":
        raise ProviderFailed("gemini_no_image", "Gemini returned no image")
    if finish and finish not in ("STOP", "FINISH_REASON_UNSPECIFIED"):
        raise _refusal(finish, candidate.finish_message, blocked=False)
    if any(p.text for p in parts if not p.thought):
        raise ProviderFailed("gemini_text_only", "Gemini answered with text instead of an image")
    raise ProviderFailed("gemini_no_image", "Gemini returned no image")


def _refusal(reason: str, said: str | None, *, blocked: bool) -> ProviderFailed:
    """A named refusal: the code from the reason's name when it is a known one (the name comes
    from the answer, so an unknown one never becomes a code), the operator's next step, and
    Google's own words when it sent any."""
    advice = _REFUSALS.get(reason)
    when = "blocked the request" if blocked else "stopped without an image"
    if advice is None:
        code = "gemini_blocked" if blocked else "gemini_refused"
        message = f"Gemini {when} ({reason})"
    else:
        code, message = f"gemini_{reason.lower()}", f"{advice} (Gemini {when}: {reason})"
    if said:
        message += f"; Gemini said: {said}"
    return ProviderFailed(code, message)


def _enum_name(value: object) -> str:
    return str(getattr(value, "value", value))


def _key_rejected(exc: genai_errors.APIError) -> bool:
    """Google's answer to a key it does not take: 400 INVALID_ARGUMENT with the reason
    API_KEY_INVALID in its details ("API key not valid. Please pass a valid API key."), or
    401/403 (a key without access to the Generative Language API, a revoked one)."""
    if exc.code in (401, 403):
        return True
    details = exc.details.get("error", {}).get("details", []) if isinstance(
        exc.details, dict) else []
    reasons = {d.get("reason") for d in details if isinstance(d, dict)}
    return exc.code == 400 and bool(reasons & {"API_KEY_INVALID", "API_KEY_EXPIRED"})


def _detail(text: str, key: str) -> str:
    return one_line(scrub(str(text), key), 300)


def _api_failure(exc: genai_errors.APIError) -> ProviderFailed:
    """An HTTP error answer, by what the operator must do about it. Google answers a wrong
    key with 400 INVALID_ARGUMENT (the same status as a bad request) and says which in an
    ErrorInfo detail (`API_KEY_INVALID`); a blocked or leaked key is 403 PERMISSION_DENIED.
    The message carries the status and Google's own words (which never echo the key)."""
    status = exc.status or ""
    said = f"; Google said: {one_line(exc.message, 200)}" if exc.message else ""
    if "API_KEY_INVALID" in _error_info_reasons(exc):
        return ProviderFailed("gemini_key_invalid",
                              f"Gemini refused the API key as not valid (HTTP {exc.code} "
                              f"{status}): replace it at the top of the Gemini tab{said}")
    if exc.code in (401, 403):
        return ProviderFailed("gemini_permission_denied",
                              f"Gemini refused the API key (HTTP {exc.code} {status}): replace "
                              f"it at the top of the Gemini tab{said}")
    if exc.code == 429:
        return ProviderFailed("gemini_rate_limited",
                              f"Gemini quota or rate limit reached (HTTP 429){said}")
    if exc.code == 503:
        return ProviderFailed("gemini_unavailable", "Gemini is overloaded (HTTP 503)")
    if status == "FAILED_PRECONDITION":  # e.g. a region without the free tier, no billing
        return ProviderFailed("gemini_failed_precondition",
                              f"Gemini cannot serve this project (HTTP {exc.code} {status}){said}")
    return ProviderFailed(f"gemini_http_{exc.code}",
                          f"Gemini answered HTTP {exc.code} {status}".strip() + said)


def _error_info_reasons(exc: genai_errors.APIError) -> set[str]:
    """The `reason`s of the google.rpc.ErrorInfo details of an error answer."""
    error = exc.details.get("error", exc.details) if isinstance(exc.details, dict) else {}
    details = error.get("details") if isinstance(error, dict) else None
    return {str(d.get("reason")) for d in details or () if isinstance(d, dict) and d.get("reason")}


def _as_provider_image(data: bytes) -> ProviderImage:
    """Trust the bytes, not the declared mime type; pass JPEG/PNG through untouched."""
    mime = images.sniff_mime(data)
    if mime in ("image/jpeg", "image/png"):
        return ProviderImage(data=data, mime=mime)
    if mime == "image/webp":
        prepared = images.prepare_photo(data, max_side=8192, max_pixels=200_000_000)
        return ProviderImage(data=prepared.data, mime=prepared.mime)
    raise ProviderFailed("gemini_bad_image", "Gemini returned data that is not an image")
