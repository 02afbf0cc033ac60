"""Turbotext photo AI (turbotext.ru): form POSTs, a queue, and results by polling or webhook.

Turbotext takes no uploads: it downloads its inputs from URLs. So the guest photo is put in
the object store under `inputs/` and handed over as a time-limited link (presigned on S3,
an HMAC-signed `/media/...` link in embedded mode), and so is the slot's reference.

Each job is two calls to the same method path: `do=create_queue` with the method's fields,
then `do=get_result` until the answer stops saying `"action": "reconnect"`. With a public
base URL the create call also names a webhook; Turbotext POSTs the result there, the
webhook function publishes it through JobSignals, and `run` wakes up. Callbacks get lost,
so a slow get_result poll runs beside the wait as a safety net; whichever answers first
wins and the other is cancelled, so nothing keeps calling out after `run` returns.

What the real service sends is treated as outside input. Its error texts are Russian prose
("Недостаточно средств"): the failure's reason is a stable ASCII code (`turbotext_error`, with
the documented code as a suffix when the text is one), the text itself is the message, made
one bounded line (the job's detail, for the operator). The result link, from get_result or a
webhook body that anyone holding the URL can POST, is fetched through the UrlFetcher port:
public addresses only (Turbotext's own configured host excepted), redirects followed and
re-checked hop by hop, the API key sent only to Turbotext's own origin.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx
from pydantic import SecretStr

from shared import images, object_keys
from shared.access import Access, Level, Secret
from shared.concurrency import run_cpu, run_io
from shared.config import Settings
from shared.domain import ProcessingType, ProviderName, one_line
from shared.errors import (
    InvalidInput,
    PayloadTooLarge,
    ProviderFailed,
    StorageUnavailable,
    UnsupportedMedia,
)
from shared.job_signals import JobSignals
from shared.ports import ObjectStore, OriginHeaders, UrlFetcher
from shared.provider_keys import KeyCheck, deployment_key, scrub
from shared.providers import prompts
from shared.providers.base import BaseProvider, ProviderContext, ProviderImage, ProviderJob
from shared.safe_fetch import FetchFailed, UrlRefused
from shared.signed_links import LinkSigner, verify_webhook_token, webhook_token
from shared.slot_rules import NEEDS_PROMPT, NEEDS_REFERENCE, Input, TypeRule

# The guest photo is copied under inputs/ and handed over by link, as is the reference; the
# webhook's payload is read from lookups (JobSignals); webhook URLs carry a signed token.
ACCESS = Access(
    tables={"lookups": Level.READ},
    objects={object_keys.INPUTS: Level.CRUD, object_keys.REFERENCES: Level.READ},
    secrets=frozenset({Secret.PROVIDER_KEYS, Secret.SIGNING_KEY}),
)

log = logging.getLogger(__name__)

MAX_SIDE = 2048
# Turbotext asks clients to stay at or below one request per second per job.
MIN_POLL_INTERVAL = 1.0
DEFAULT_POLL_INTERVAL = 1.5
# With a webhook the poll is only a safety net for lost callbacks: much slower.
DEFAULT_SAFETY_POLL_INTERVAL = 5.0
# One HTTP call never waits longer than this, even with plenty of deadline left.
MAX_CALL_SECONDS = 20.0
# The pipeline cancels run() at the deadline and reports "deadline" (504). Our own timers
# are a backstop for callers without one, set a moment later so they never race it.
DEADLINE_GRACE_SECONDS = 0.3
# Error codes Turbotext is known to answer with (its docs and third-party notes). Only these
# become part of a reason (`turbotext_error:LIMIT`); any other text, Russian prose above all,
# is the message, and the reason stays `turbotext_error`.
KNOWN_ERROR_CODES = frozenset({
    "LIMIT", "url_error", "params_error", "face_not_detected", "quality_limit",
})
# "Check key": `available_api`, the account-level method Turbotext's docs list first (the
# methods this key may call; no generation, nothing billed), asked the same two-step way.
CHECK_KEY_METHOD = "available_api"
CHECK_KEY_SECONDS = 10.0
# Words of Turbotext's refusals that say the account has no money or plan left (its texts
# are Russian prose: "Недостаточно средств на балансе"), and ones that say the key is wrong.
_QUOTA_WORDS = ("средств", "баланс", "тариф", "limit", "лимит")
_KEY_WORDS = ("ключ", "токен", "авториз", "auth", "token", "key")
# A queue id is echoed back to Turbotext and logged: a plain token or it is not one.
_QUEUE_ID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-")


@dataclass(frozen=True)
class MethodRoles:
    """Which form field carries which image for one Turbotext method.

    The roles of `url` and `url_image_target` are reversed between methods, so they are
    spelled out here once and tested, instead of being implied by argument order."""

    method: str
    photo_field: str  # the guest photo's link
    reference_field: str | None  # the slot's reference image's link
    prompt_field: str | None  # the slot's prompt text
    prompt_required: bool = False
    fixed: dict[str, str] = field(default_factory=dict)


ROLES: dict[ProcessingType, MethodRoles] = {
    # "Замена лица": `url` is the scene whose face gets replaced, `url_image_target` holds
    # the face to insert. A booth guest is the face; the slot's reference is the scene.
    ProcessingType.FACE_SWAP: MethodRoles(
        method="deepfake_photo",
        photo_field="url_image_target",
        reference_field="url",
        prompt_field=None,
        fixed={"face_restore": "True"},
    ),
    # "Микс-фото": `url_image_target` is the photo to process, `url` lends its
    # background/style, `content` strengthens the effect.
    ProcessingType.BACKGROUND: MethodRoles(
        method="mix_images",
        photo_field="url_image_target",
        reference_field="url",
        prompt_field="content",
    ),
    # Prompt edit: `url` is the photo, `content` the instruction (both required).
    ProcessingType.PROMPT: MethodRoles(
        method="generate_image2image",
        photo_field="url",
        reference_field=None,
        prompt_field="content",
        prompt_required=True,
    ),
}


def webhook_url(public_base_url: str, signer: LinkSigner, job_id: str) -> str:
    return f"{public_base_url}/hooks/turbotext/{job_id}?t={webhook_token(signer, job_id)}"


def _capabilities() -> dict[ProcessingType, TypeRule]:
    """From the method roles: a method with a reference field needs the picture (mix_images
    cannot draw a background from words), one that requires a prompt needs it."""
    table = {}
    for type, roles in ROLES.items():
        needs = ((NEEDS_REFERENCE,) if roles.reference_field else ()) + (
            (NEEDS_PROMPT,) if roles.prompt_required else ())
        uses = ({Input.REFERENCE} if roles.reference_field else set()) | (
            {Input.PROMPT} if roles.prompt_field else set())
        table[type] = TypeRule(needs, frozenset(uses))
    return table


class TurbotextProvider(BaseProvider):
    name = ProviderName.TURBOTEXT
    label = "Turbotext"
    capabilities = _capabilities()
    max_side = MAX_SIDE
    takes_key = True

    def __init__(
        self,
        settings: Settings,
        *,
        store: ObjectStore,
        signer: LinkSigner,
        signals: JobSignals,
        fetcher: UrlFetcher,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        safety_poll_interval: float = DEFAULT_SAFETY_POLL_INTERVAL,
        signal_poll_interval: float = 0.5,
    ) -> None:
        self._settings = settings
        self._store = store
        self._signer = signer
        self._signals = signals
        self._fetcher = fetcher
        self._poll_interval = max(MIN_POLL_INTERVAL, poll_interval)
        self._safety_poll_interval = max(MIN_POLL_INTERVAL, safety_poll_interval)
        self._signal_poll_interval = signal_poll_interval
        self._base = settings.turbotext_base_url.rstrip("/")
        # One client for the provider's life: connection reuse across polls and jobs. It only
        # POSTs to the API and follows no redirect; result files come through the fetcher.
        self._http = httpx.AsyncClient(timeout=MAX_CALL_SECONDS)

    # -- operator side ------------------------------------------------------------------------
    def deployment_key(self) -> SecretStr | None:
        return deployment_key(self._settings, self.name)

    def setup_problem(self) -> str | None:
        if self._settings.storage == "embedded" and not self._settings.public_base_url:
            return ("Turbotext downloads photos by link: set BOOTHAI_PUBLIC_BASE_URL to this "
                    "server's public address first")
        return None

    # -- one photo ------------------------------------------------------------------------------
    async def check_key(self, key: str) -> KeyCheck:
        """`available_api` (create_queue, then get_result until it stops reconnecting):
        free, and refused like any method for a wrong key or an account without a plan."""
        auth = _bearer(key)
        try:
            async with asyncio.timeout(CHECK_KEY_SECONDS):
                response = await self._check_call(auth, {"do": "create_queue"})
                body = _check_body(response)
                queue_id = body.get("queueid", body.get("asyncid")) if body else None
                queued = response.status_code == 200 and body is not None and (
                    body.get("success") is True and queue_id is not None)
                while queued:  # get_result, no faster than Turbotext asks, until it is done
                    await asyncio.sleep(MIN_POLL_INTERVAL)
                    response = await self._check_call(
                        auth, {"do": "get_result", "queueid": str(queue_id)})
                    body = _check_body(response)
                    queued = body is not None and body.get("action") == "reconnect"
        except TimeoutError:
            return KeyCheck(False, "unreachable", "Turbotext did not answer in time")
        except httpx.TransportError as exc:
            return KeyCheck(False, "unreachable", f"cannot reach Turbotext ({type(exc).__name__})")
        return _check_answer(response, body, key)

    async def _check_call(self, auth: dict[str, str], form: dict[str, str]) -> httpx.Response:
        return await self._http.post(f"{self._base}/api_ai/{CHECK_KEY_METHOD}", data=form,
                                     headers=auth, timeout=CHECK_KEY_SECONDS)

    async def run(self, job: ProviderJob) -> ProviderImage:
        auth = _bearer(self.key_for(job))
        self.refuse_unready(job)
        roles = ROLES[job.type]
        form = await self._create_form(job, roles)
        input_key = form.pop("_input_key")
        try:
            webhook = self._settings.public_base_url is not None
            if webhook:
                form["webhook"] = webhook_url(
                    self._settings.public_base_url or "", self._signer, job.job_id
                )
            queue_id = await self._create_queue(job, auth, roles.method, form, webhook=webhook)
            if webhook:
                result = await self._wait_webhook_or_poll(job, auth, roles.method, queue_id)
            else:
                result = await self._poll(job, auth, roles.method, queue_id,
                                          self._poll_interval)
            link = result_link(result, self._base)
            return await self._download(job, auth, link)
        finally:
            await self._forget_input(input_key)

    async def _create_form(self, job: ProviderJob, roles: MethodRoles) -> dict[str, str]:
        """The create_queue fields, with links to the guest photo and the reference."""
        input_key = object_keys.provider_input(job.tenant, job.job_id, job.photo_mime)
        ttl = self._settings.media_link_ttl_seconds
        try:
            await run_io(lambda: self._store.put(input_key, job.photo, job.photo_mime))
            form = {"do": "create_queue", roles.photo_field: await self._link(input_key, ttl)}
            if roles.reference_field and job.reference_key:
                form[roles.reference_field] = await self._link(job.reference_key, ttl)
        except StorageUnavailable as exc:
            raise ProviderFailed("turbotext_no_public_link", str(exc)) from None
        if roles.prompt_field and job.prompt.strip():
            form[roles.prompt_field] = job.prompt.strip()[: prompts.MAX_SLOT_PROMPT_CHARS]
        form.update(roles.fixed)
        form["_input_key"] = input_key
        return form

    async def _link(self, key: str, ttl: int) -> str:
        return await run_io(lambda: self._store.url(key, ttl))

    async def _forget_input(self, key: str) -> None:
        # The copy only existed for Turbotext to fetch; the pipeline keeps the original.
        try:
            await run_io(lambda: self._store.delete(key))
        except Exception:  # best effort: an S3 lifecycle rule on inputs/ is the backstop
            log.warning("could not delete %s", key)

    # -- the two calls ----------------------------------------------------------------------------
    async def _call(self, job: ProviderJob, auth: dict[str, str], method: str,
                    form: dict[str, str]) -> dict[str, Any]:
        """One form POST, bounded by the deadline; HTTP and transport failures named."""
        if job.remaining() <= 0:
            raise ProviderFailed("turbotext_timeout", "Turbotext did not finish in time")
        timeout = min(MAX_CALL_SECONDS, job.remaining() + DEADLINE_GRACE_SECONDS)
        try:
            response = await self._http.post(
                f"{self._base}/api_ai/{method}", data=form, headers=auth, timeout=timeout
            )
        except httpx.TimeoutException:
            raise ProviderFailed("turbotext_timeout", "Turbotext did not answer in time") from None
        except httpx.TransportError as exc:
            raise ProviderFailed(
                "turbotext_unreachable", f"cannot reach Turbotext ({type(exc).__name__})"
            ) from None
        if response.status_code != 200:
            raise ProviderFailed(
                f"turbotext_http_{response.status_code}",
                f"Turbotext answered HTTP {response.status_code}",
            )
        try:
            body = response.json()
        except ValueError:
            raise ProviderFailed("turbotext_bad_answer", "Turbotext answered no JSON") from None
        if not isinstance(body, dict):
            raise ProviderFailed("turbotext_bad_answer", "Turbotext answered unexpected JSON")
        return body

    async def _create_queue(
        self, job: ProviderJob, auth: dict[str, str], method: str, form: dict[str, str], *,
        webhook: bool
    ) -> str:
        body = await self._call(job, auth, method, form)
        check_failure(body)
        # A webhook job answers with `asyncid`; the same number works as get_result's queueid.
        queue_id = body.get("asyncid") if webhook else body.get("queueid")
        queue_id = queue_id if queue_id is not None else body.get("queueid", body.get("asyncid"))
        if queue_id is None:
            raise ProviderFailed("turbotext_bad_answer", "Turbotext returned no queue id")
        queue_id = str(queue_id)
        if not 0 < len(queue_id) <= 64 or not set(queue_id) <= _QUEUE_ID_CHARS:
            raise ProviderFailed("turbotext_bad_answer", "Turbotext returned an odd queue id")
        log.info("turbotext %s job %s queued as %s", method, job.job_id, queue_id)
        return queue_id

    async def _poll(
        self, job: ProviderJob, auth: dict[str, str], method: str, queue_id: str,
        interval: float
    ) -> dict[str, Any]:
        """get_result until done; sleeps `interval` (≥ 1 s) before every call."""
        while True:
            await self._sleep_within(job, interval)
            body = await self._call(job, auth, method, {"do": "get_result", "queueid": queue_id})
            if body.get("action") == "reconnect":
                continue
            check_failure(body)
            return body

    async def _sleep_within(self, job: ProviderJob, seconds: float) -> None:
        if job.remaining() <= seconds:
            # Sleeping past the deadline and then calling would be pointless.
            await asyncio.sleep(job.remaining() + DEADLINE_GRACE_SECONDS)
            raise ProviderFailed("turbotext_timeout", "Turbotext did not finish in time")
        await asyncio.sleep(seconds)

    async def _wait_webhook_or_poll(
        self, job: ProviderJob, auth: dict[str, str], method: str, queue_id: str
    ) -> dict[str, Any]:
        """The webhook's payload, or the safety-net poll's answer, whichever comes first."""
        waiter = asyncio.create_task(
            self._signals.wait(job.job_id, job.remaining(), self._signal_poll_interval)
        )
        poller = asyncio.create_task(
            self._poll(job, auth, method, queue_id, self._safety_poll_interval)
        )
        try:
            pending = {waiter, poller}
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if waiter in done and (payload := waiter.result()) is not None:
                    log.info("turbotext job %s: result by webhook", job.job_id)
                    check_failure(payload)
                    return payload
                if poller in done:
                    log.info("turbotext job %s: result by polling", job.job_id)
                    return poller.result()  # raises the poll's ProviderFailed as is
            raise ProviderFailed("turbotext_timeout", "Turbotext did not finish in time")
        finally:
            # Cancellation of run() lands here too: no task outlives the call.
            for task in (waiter, poller):
                task.cancel()
            await asyncio.gather(waiter, poller, return_exceptions=True)

    async def _download(self, job: ProviderJob, auth: dict[str, str],
                        link: str) -> ProviderImage:
        """The result file, through the safe fetcher: `download.php?f=…` may redirect, and
        the link may come from a webhook body anyone holding its URL can send."""
        # The API key goes only to Turbotext's own origin, never to a CDN a redirect names.
        key = OriginHeaders(origin=self._base, headers=auth)
        timeout = min(MAX_CALL_SECONDS, job.remaining() + DEADLINE_GRACE_SECONDS)
        try:
            async with asyncio.timeout(timeout):
                fetched = await self._fetcher.fetch(link, label="Turbotext result", field=None,
                                                    origin_headers=key)
        except TimeoutError:
            raise ProviderFailed("turbotext_timeout", "result download timed out") from None
        except UrlRefused as exc:
            raise ProviderFailed("turbotext_link_refused", str(exc)) from None
        except FetchFailed as exc:
            raise ProviderFailed("turbotext_download_failed", str(exc)) from None
        except PayloadTooLarge as exc:
            raise ProviderFailed("turbotext_image_too_large", str(exc)) from None
        except UnsupportedMedia as exc:
            raise ProviderFailed("turbotext_bad_image", str(exc)) from None
        except InvalidInput as exc:  # any other refusal of the port
            raise ProviderFailed("turbotext_download_failed", str(exc)) from None
        content = fetched.data
        return await run_cpu(lambda: _as_provider_image(content))

    async def aclose(self) -> None:
        await self._http.aclose()


def create(ctx: ProviderContext) -> TurbotextProvider:
    return TurbotextProvider(ctx.settings, store=ctx.store, signer=ctx.signer,
                             signals=JobSignals(ctx.tables), fetcher=ctx.fetcher)


# -- answers ---------------------------------------------------------------------------------
def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _check_body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _check_answer(response: httpx.Response, body: dict[str, Any] | None, key: str) -> KeyCheck:
    """What a "Check key" call's last answer says, in the provider's own words."""
    said = ""
    if body is not None:
        said = str(body.get("error") or body.get("message") or "")
    said = one_line(scrub(said, key), 300)
    lowered = said.lower()
    if response.status_code in (401, 403):
        return KeyCheck(False, "key_rejected",
                        said or f"Turbotext answered HTTP {response.status_code}")
    if response.status_code == 429 or any(w in lowered for w in _QUOTA_WORDS):
        return KeyCheck(False, "quota", said or "Turbotext answered HTTP 429")
    if response.status_code != 200 or body is None:
        return KeyCheck(False, "error", said or f"Turbotext answered HTTP {response.status_code}"
                        + ("" if body is not None else ", no JSON"))
    if body.get("success") is not True:
        code = "key_rejected" if any(w in lowered for w in _KEY_WORDS) else "error"
        return KeyCheck(False, code, said or "Turbotext refused without a reason")
    if body.get("action") == "reconnect":
        return KeyCheck(False, "unreachable", "Turbotext did not finish the check in time")
    methods = body.get("available_api")
    count = f"; {len(methods)} methods available" if isinstance(methods, list) else ""
    return KeyCheck(True, "ok", f"Turbotext accepted the key{count}")


def check_failure(body: dict[str, Any]) -> None:
    """Raise ProviderFailed for a refusal or an error answer; return for success."""
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    if data.get("forbidden_content") in (True, "true", "True", 1):
        raise ProviderFailed("turbotext_forbidden_content", "Turbotext refused the content")
    if body.get("success") is not True:
        said = body.get("error") or body.get("message")
        text = one_line(str(said)) if said else ""
        reason = f"turbotext_error:{text}" if text in KNOWN_ERROR_CODES else _reason_in_words(text)
        raise ProviderFailed(reason, f"Turbotext reported an error: {text or 'no details'}")


# Turbotext words its errors in Russian prose, not codes. The ones an operator can act on
# are named by words they contain (lower case): no money on the account ("Недостаточно
# средств на балансе"), and a key it does not accept. Anything else stays turbotext_error,
# its words in the message.
_ERROR_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("turbotext_no_funds", ("недостаточно средств", "баланс", "пополните")),
    ("turbotext_key_rejected", ("api ключ", "api-ключ", "ключ api", "неверный ключ",
                                "неверный токен", "auth_error")),
)


def _reason_in_words(text: str) -> str:
    lowered = text.lower()
    for reason, words in _ERROR_WORDS:
        if any(word in lowered for word in words):
            return reason
    return "turbotext_error"


def result_link(body: dict[str, Any], base: str) -> str:
    """Top-level `uploaded_image` (the docs' sample), `data.uploaded_image` (what a
    production driver of this API reads), else `data.image[0]`; relative links are
    relative to the site."""
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    image_list = data.get("image")
    first = image_list[0] if isinstance(image_list, list) and image_list else None
    for link in (body.get("uploaded_image"), data.get("uploaded_image"), first):
        if link and isinstance(link, str):
            return urljoin(base + "/", link.strip())
    raise ProviderFailed("turbotext_no_image", "Turbotext returned no image link")


def _as_provider_image(data: bytes) -> ProviderImage:
    """Trust the bytes, not the file name or header: pass JPEG/PNG through untouched."""
    mime = images.sniff_mime(data)
    if mime in ("image/jpeg", "image/png"):
        return ProviderImage(data=data, mime=mime)
    try:
        prepared = images.prepare_photo(data, max_side=8192, max_pixels=200_000_000)
    except UnsupportedMedia:
        raise ProviderFailed("turbotext_bad_image", "Turbotext returned no usable image") from None
    return ProviderImage(data=prepared.data, mime=prepared.mime)


__all__ = [
    "ROLES",
    "MethodRoles",
    "TurbotextProvider",
    "check_failure",
    "create",
    "result_link",
    "verify_webhook_token",
    "webhook_token",
    "webhook_url",
]
