"""The operator console: what the operator UI does through the admin API, for one tenant.

Tabs and their 20 slots (with each slot's upload link and what keeps it from running),
saving a slot's preset, its reference image, Try it, statistics, the upload password,
API keys, and the account's own provider keys (shared/provider_keys.py). Every refusal is
an InvalidInput naming the field the operator must change. A slot saves in any state: what
keeps it from running (no key, no GPU backend) is shown on its card instead.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from shared import object_keys, qr_stamp
from shared.access import Access, Level, Secret, union
from shared.apikeys import ApiKey, ApiKeys
from shared.auth import UNREADABLE_UPLOAD_PASSWORD, Authenticator
from shared.booth_trace import MAX_LIMIT as MAX_TRACE_LIMIT
from shared.booth_trace import TraceEntry, TraceLog
from shared.concurrency import run_cpu
from shared.config import Settings
from shared.deadline import BoothDeadline
from shared.domain import (
    DEFAULT_KEY_TOLERANCE,
    DEFAULT_LATE_LIMIT,
    DEFAULT_SHARE_DAYS,
    KEY_TOLERANCE_MAX,
    KEY_TOLERANCE_MIN,
    LATE_LIMIT_MAX,
    LATE_LIMIT_MIN,
    MAX_LATE_TEXT_CHARS,
    SHARE_DAYS_MAX,
    SHARE_DAYS_MIN,
    SLOTS_PER_PROVIDER,
    Job,
    JobSource,
    LateAnswer,
    ProcessingType,
    ProviderCounts,
    ProviderName,
    Slot,
    Tenant,
    new_token,
    one_line,
)
from shared.errors import InvalidInput, NotFound, TooManyAttempts
from shared.galleries import DAYS_MAX as GALLERY_DAYS_MAX
from shared.galleries import DAYS_MIN as GALLERY_DAYS_MIN
from shared.galleries import DEFAULT_DAYS as GALLERY_DEFAULT_DAYS
from shared.galleries import MAX_NAME_CHARS as MAX_GALLERY_NAME_CHARS
from shared.galleries import MAX_SLOTS as MAX_GALLERY_SLOTS
from shared.galleries import Galleries, Gallery, PhotoPage, gallery_url, parse_slot
from shared.galleries import photos as gallery_photos
from shared.images import prepare_photo
from shared.media import Media, StoredImage
from shared.pipeline import BoothAnswer, BoothPipeline
from shared.prompt_fields import MAX_FIELDS as MAX_PROMPT_FIELDS
from shared.prompt_fields import check_fields, check_prompt
from shared.prompt_fields import values as field_values
from shared.provider_keys import (
    KEYED,
    KeyCheck,
    KeyInEffect,
    KeySpec,
    OwnKey,
    check_key_text,
    in_effect,
    no_key_message,
)
from shared.providers import Provider, ProviderRegistry
from shared.providers.base import OutputSizes
from shared.providers.local import KeyPreview, LocalProvider
from shared.repository import Repository
from shared.secret_box import SealedSecretError
from shared.share_links import TOKEN_BYTES as SHARE_TOKEN_BYTES
from shared.share_links import ShareLink, ShareLinks, share_base, share_url
from shared.slot_rules import Capabilities, SlotProblem, slot_problem
from shared.throttle import RequestBudget, Throttle

# "Check key" is a call on a paid key: a session may make this many per window.
KEY_CHECK_SCOPE = "keycheck"

MAX_PROMPT_CHARS = 2000
MAX_SLOT_NAME_CHARS = 60
# A chroma-key preview is shown in a card, not printed: a photo's long side is cut to this
# first, so the key itself costs ~20 ms of CPU whatever the camera sent (measured: 18 ms at
# 1024 px; decoding a 24 MP sample adds ~0.2 s, a 1600 px one ~25 ms).
PREVIEW_MAX_SIDE = 1024


class SlotSettings(BaseModel):
    """What the operator sets on a slot (`PUT /api/slots/{provider}/{index}`)."""

    # Shown on the card, in statistics and the job list, and in the booth's error text.
    name: str = Field(default="", max_length=MAX_SLOT_NAME_CHARS)
    type: ProcessingType | None = None
    prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    # The booth fields the prompt may name, `{team}` or `{team|a default}`
    # (shared/prompt_fields.py): checked in save_slot, 422 naming the field.
    prompt_fields: list[Annotated[str, Field(max_length=32)]] = Field(
        default_factory=list, max_length=MAX_PROMPT_FIELDS)
    enabled: bool = False
    fallback_to_original: bool = False
    fallback_provider: ProviderName | None = None
    model: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9._:/-]*$")
    # Output resolution where the provider and model offer one (Gemini 3 image models); None:
    # the provider's default. Whether the slot's model can draw it is the provider's check.
    image_size: Literal["1K", "2K", "4K"] | None = None
    # How eagerly the Local chroma key takes a colour for the screen (shared/providers/local.py).
    key_tolerance: int = Field(default=DEFAULT_KEY_TOLERANCE, ge=KEY_TOLERANCE_MIN,
                               le=KEY_TOLERANCE_MAX)
    # Public share pages for the slot's jobs (shared/share_links.py), and how long a link
    # lives once made.
    share_pages: bool = False
    share_days: int = Field(default=DEFAULT_SHARE_DAYS, ge=SHARE_DAYS_MIN, le=SHARE_DAYS_MAX)
    # When the booth's window runs out (shared/late_results.py): the answer, how long the job
    # may keep working, the line printed under the QR code; and the QR on every AI result.
    when_late: LateAnswer = LateAnswer.ERROR
    late_limit_seconds: int = Field(default=DEFAULT_LATE_LIMIT, ge=LATE_LIMIT_MIN,
                                    le=LATE_LIMIT_MAX)
    late_text: str = Field(default="", max_length=MAX_LATE_TEXT_CHARS)
    qr_on_results: bool = False


class GallerySettings(BaseModel):
    """A new event gallery (`POST /api/galleries`, shared/galleries.py)."""

    # The page's title for the guests ("Anna & Max — 12 June").
    name: str = Field(min_length=1, max_length=MAX_GALLERY_NAME_CHARS)
    # The account's own slots, as the cards name them: "gemini#03" (their shape is checked
    # by shared/galleries.parse_slot, so a refusal names the field `slots`).
    slots: list[str] = Field(min_length=1, max_length=MAX_GALLERY_SLOTS)
    days: int = Field(default=GALLERY_DEFAULT_DAYS, ge=GALLERY_DAYS_MIN, le=GALLERY_DAYS_MAX)
    # The event's time in unix seconds: from `since` (None: 00:00 UTC today) to `until`
    # (None: open, photos keep appearing while the link lives).
    since: float | None = Field(default=None, ge=0)
    until: float | None = Field(default=None, ge=0)


@dataclass(frozen=True)
class LatePreview:
    """A sample of the late answer's print: the stamped picture, the line as it is drawn,
    and whether it is not the whole line (cut with "…" to fit, or characters the print's
    font does not have left out)."""

    data: bytes
    mime: str
    printed_text: str
    cut: bool


@dataclass(frozen=True)
class LinkBase:
    """Where the upload links point, where that address came from, and why a booth PC may
    not reach it: "loopback" (this machine only) or "private" (this network only; warned
    only when the address was guessed from the browser, not set by the operator)."""

    url: str
    source: Literal["upload_base_url", "public_base_url", "browser"]
    warning: Literal["loopback", "private"] | None


def _unreachable_from_booths(url: str, *, guessed: bool) -> Literal["loopback", "private"] | None:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: what it resolves to from the venue is not ours to know
    if address.is_loopback or address.is_unspecified:
        return "loopback"
    if guessed and (address.is_private or address.is_link_local):
        return "private"
    return None


@dataclass(frozen=True)
class SlotView:
    slot: Slot
    upload_url: str
    problem: SlotProblem | None  # why it cannot run as saved, or None
    sizes: OutputSizes = OutputSizes()  # the image_size choices the provider offers


@dataclass(frozen=True)
class Tab:
    provider: ProviderName
    label: str
    capabilities: Capabilities  # sent to the UI as data (slot_rules.as_data)
    types_note: str | None
    unavailable_reason: str | None  # what this deployment or account lacks; None = usable
    # "no_key" (the account must add a key), "setup" (the deployment lacks something) or
    # "unavailable" (not installed); None = usable
    unavailable_code: str | None = None

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None

    @property
    def editable(self) -> bool:
        """The UI lets the operator prepare its slots: usable, or lacking only the account's
        key (the operator can add it). A deployment's setup problem (no GPU backend) keeps
        the cards read-only in the UI; the API saves slots in any state either way."""
        return self.unavailable_code in (None, "no_key")


@dataclass(frozen=True)
class TabWithSlots:
    tab: Tab
    slots: list[SlotView]


@dataclass(frozen=True)
class ProviderStats:
    provider: ProviderName
    label: str
    today: ProviderCounts
    total: ProviderCounts


@dataclass(frozen=True)
class ShareState:
    """A job's share page as the operator sees it: whether its slot allows one, for how
    many days a new link lives, and the live link (None: none made, expired or revoked)."""

    allowed: bool
    days: int
    link: ShareLink | None
    url: str | None


@dataclass(frozen=True)
class GalleryView:
    """A gallery as the operator's list shows it: the gallery and its public address."""

    gallery: Gallery
    url: str


@dataclass(frozen=True)
class ConsoleStats:
    upload_password: str  # "" when it cannot be opened: see upload_password_problem
    providers: list[ProviderStats]
    recent_jobs: list[Job]
    upload_password_problem: str | None = None


class OperatorConsole:
    ACCESS = Access(
        # throttle: the chroma-key previews' budget (RequestBudget), and "Check key" (it calls
        # a paid key, so each account has an allowance).
        tables={"tenants": Level.CRUD, "slots": Level.CRUD, "lookups": Level.CRUD,
                "jobs": Level.READ, "stats": Level.READ, "throttle": Level.CRUD},
        objects={object_keys.REFERENCES: Level.CRUD, object_keys.ORIGINALS: Level.READ,
                 object_keys.RESULTS: Level.READ, object_keys.TRASH: Level.READ},
        # The upload password is shown sealed at rest (shared/secret_box.py), and so are the
        # account's own provider keys.
        secrets=frozenset({Secret.SIGNING_KEY}),
    )

    @classmethod
    def access(cls) -> Access:
        # Try it runs the booth pipeline on the slot's provider; the booth's trace is read
        # per slot.
        return union(cls.ACCESS, Authenticator.ACCESS, BoothPipeline.access(), TraceLog.ACCESS,
                     ShareLinks.ACCESS, Galleries.ACCESS)

    def __init__(self, *, settings: Settings, repo: Repository, media: Media, api_keys: ApiKeys,
                 providers: ProviderRegistry, pipeline: BoothPipeline, trace: TraceLog,
                 key_checks: Throttle | None = None,
                 shares: ShareLinks | None = None,
                 galleries: Galleries | None = None) -> None:
        self.settings = settings
        self.shares = shares or ShareLinks(repo.tables)
        self.galleries = galleries or Galleries(repo.tables)
        self.repo = repo
        self.media = media
        self.api_keys = api_keys
        self.providers = providers
        self.pipeline = pipeline
        self.previews = RequestBudget(
            repo.tables, scope="key-preview", limit=settings.key_previews_per_minute,
            message="too many previews in a minute; wait a moment and move the slider again")
        self.trace_log = trace
        self.key_checks = key_checks or Throttle(
            repo.tables, limit=settings.key_checks_allowed,
            window_seconds=settings.key_check_window_seconds)

    # -- tabs and slots -----------------------------------------------------------------------
    def tab(self, name: ProviderName, own_keys: Collection[ProviderName] | None = None) -> Tab:
        """The tab as the deployment has it, or as an account sees it (`own_keys`: the
        providers the account holds a key for; a keyed tab with neither its key nor the
        deployment's says to add one)."""
        provider = self.providers.get(name)
        problem = self.providers.problem(name, own_keys)
        if provider is None:
            return Tab(name, name.capitalize(), {}, None, problem, "unavailable")
        code = None
        if problem is not None:
            no_key = own_keys is not None and problem == self.providers.key_problem(name,
                                                                                    own_keys)
            code = "no_key" if no_key else "setup"
        return Tab(name, provider.label, provider.capabilities, provider.types_note,
                   problem, code)

    def upload_base(self, request_base: str) -> str:
        """Where upload links point: the ingest function's URL when it is served apart, else
        the public address, else the address the operator's browser used."""
        return self.link_base(request_base).url

    def link_base(self, request_base: str) -> LinkBase:
        settings = self.settings
        if settings.upload_base_url:
            url, source = settings.upload_base_url, "upload_base_url"
        elif settings.public_base_url:
            url, source = settings.public_base_url, "public_base_url"
        else:
            url, source = request_base, "browser"
        url = url.rstrip("/")
        return LinkBase(url, source, _unreachable_from_booths(url, guessed=source == "browser"))

    def view(self, slot: Slot, request_base: str,
             own_keys: Collection[ProviderName] | None = None) -> SlotView:
        provider = self.providers.get(slot.provider)
        return SlotView(slot, f"{self.upload_base(request_base)}/u/{slot.upload_token}",
                        self._problem(slot, own_keys),
                        provider.output_sizes(slot) if provider else OutputSizes())

    async def tabs(self, tenant: str, request_base: str, *,
                   own_keys: Collection[ProviderName] | None = None) -> list[TabWithSlots]:
        enabled = list(self.settings.enabled_providers)
        slots = await self.repo.list_slots(tenant)
        if len(slots) < len(enabled) * SLOTS_PER_PROVIDER:  # a tab enabled after sign-up
            await self.repo.ensure_slots(tenant, enabled)
            slots = await self.repo.list_slots(tenant)
        by_tab: dict[ProviderName, list[SlotView]] = {name: [] for name in enabled}
        for slot in slots:
            if slot.provider in by_tab:
                by_tab[slot.provider].append(self.view(slot, request_base, own_keys))
        return [TabWithSlots(self.tab(name, own_keys), by_tab[name]) for name in enabled]

    async def slot(self, tenant: str, provider: str, index: int) -> Slot:
        try:
            name = ProviderName(provider)
        except ValueError:
            raise NotFound(f"no provider tab {provider!r}") from None
        if name not in self.settings.enabled_providers:
            raise NotFound(f"the {name} tab is not enabled on this server")
        return await self.repo.get_slot(tenant, name, index)

    async def save_slot(self, tenant: str, provider: str, index: int,
                        settings: SlotSettings) -> Slot:
        """Saved whatever the tab lacks (a key, a GPU backend): only the slot's own settings
        are refused when they make no sense (a type the provider does not do, enabling it
        without what its type needs, a fallback that cannot stand in, a model or size the
        provider does not have)."""
        slot = await self.slot(tenant, provider, index)
        impl = self._usable(slot.provider)
        slot.name = one_line(settings.name, MAX_SLOT_NAME_CHARS)
        slot.type = settings.type
        slot.prompt = settings.prompt.strip()
        slot.prompt_fields = check_fields(settings.prompt_fields)
        check_prompt(slot.prompt, slot.prompt_fields)
        slot.enabled = settings.enabled
        slot.fallback_to_original = settings.fallback_to_original
        slot.fallback_provider = settings.fallback_provider
        slot.model = settings.model or None
        slot.image_size = settings.image_size
        slot.key_tolerance = settings.key_tolerance
        slot.share_pages = settings.share_pages
        slot.share_days = settings.share_days
        slot.when_late = settings.when_late
        slot.late_limit_seconds = settings.late_limit_seconds
        slot.late_text = one_line(settings.late_text, MAX_LATE_TEXT_CHARS)
        slot.qr_on_results = settings.qr_on_results
        self._check_qr(slot)
        problem = slot_problem(slot, impl.capabilities, impl.label)
        if problem and problem.code == "unsupported_type":  # refused whether enabled or not
            note = f" ({impl.types_note})" if impl.types_note else ""
            raise InvalidInput(problem.message + note, field="type", code=problem.code)
        if slot.fallback_provider is not None:
            self._check_fallback(slot)
        if slot.enabled and problem:
            raise InvalidInput(f"cannot enable: {problem.message}", field=problem.field,
                               code=problem.code)
        if slot.type is not None:
            impl.check_slot(slot)
        self._check_image_size(slot, impl)
        return await self.repo.save_slot(slot)

    @staticmethod
    def _check_qr(slot: Slot) -> None:
        """A QR code opens the job's share page: printing one for a slot whose share pages are
        off would hand the guest a code that answers 404."""
        if slot.share_pages:
            return
        if slot.when_late is LateAnswer.ORIGINAL_QR:
            raise InvalidInput("a late answer with a QR code needs the slot's share pages: "
                               "switch share pages on", field="when_late", code="share_pages_off")
        if slot.qr_on_results:
            raise InvalidInput("a QR code on the results needs the slot's share pages: "
                               "switch share pages on", field="qr_on_results",
                               code="share_pages_off")

    @staticmethod
    def _check_image_size(slot: Slot, impl: Provider) -> None:
        """A size the provider offers for this slot, or none (its default). Gemini's own
        check_slot names the model; this one also covers providers with no size setting."""
        if slot.image_size is None:
            return
        choices = impl.output_sizes(slot).choices
        if slot.image_size not in choices:
            offer = (f"choose {', '.join(choices)} or the default" if choices
                     else "it has no size setting; leave it at the default")
            raise InvalidInput(f"{impl.label} cannot draw at {slot.image_size}: {offer}",
                               field="image_size")

    def _usable(self, name: ProviderName) -> Provider:
        impl = self.providers.get(name)
        if impl is None:
            raise InvalidInput(f"the {name} provider is unavailable: "
                               f"{self.providers.unavailable_reason(name)}", field="type")
        return impl

    def _check_fallback(self, slot: Slot) -> None:
        name = slot.fallback_provider
        fallback = self.providers.get(name)
        if name == slot.provider:
            raise InvalidInput("the fallback must be another provider", field="fallback_provider")
        if fallback is None:
            raise InvalidInput(f"the {name} provider is not available", field="fallback_provider")
        if slot.type is None:
            return
        if slot.type not in fallback.capabilities:
            raise InvalidInput(f"{fallback.label} cannot do {slot.type}", field="fallback_provider")
        problem = slot_problem(slot, fallback.capabilities, fallback.label)
        if slot.enabled and problem is not None:
            raise InvalidInput(f"{fallback.label} cannot stand in for this slot: {problem.message}",
                               field="fallback_provider")

    def _problem(self, slot: Slot,
                 own_keys: Collection[ProviderName] | None = None) -> SlotProblem | None:
        """The slot's own problem first (no type, what its type needs), then its tab's: the
        account's missing key, the deployment's setup."""
        provider = self.providers.get(slot.provider)
        if provider is None:
            return SlotProblem("unavailable", "type", f"the {slot.provider} provider is "
                               f"unavailable: {self.providers.unavailable_reason(slot.provider)}")
        own = slot_problem(slot, provider.capabilities, provider.label)
        if own is not None:
            return own
        if own_keys is not None and (no_key := self.providers.key_problem(slot.provider,
                                                                          own_keys)):
            return SlotProblem("no_key", "key", no_key)
        setup = provider.setup_problem()
        return SlotProblem("setup", "type", setup) if setup else None

    # -- reference images -----------------------------------------------------------------------
    async def set_reference(self, tenant: str, provider: str, index: int, data: bytes) -> Slot:
        return await self.media.set_reference(await self.slot(tenant, provider, index), data)

    async def remove_reference(self, tenant: str, provider: str, index: int) -> Slot:
        return await self.media.remove_reference(await self.slot(tenant, provider, index))

    async def reference(self, tenant: str, provider: str, index: int, *,
                        thumb: bool = False) -> StoredImage:
        slot = await self.slot(tenant, provider, index)
        if not slot.reference_key:
            raise NotFound("this slot has no reference image")
        image = await self.media.read(slot.reference_key, thumb=thumb)
        if thumb or slot.reference_mime is None:
            return image
        return StoredImage(image.data, slot.reference_mime)

    # -- Try it ---------------------------------------------------------------------------------
    async def try_slot(self, tenant: str, provider: str, index: int, photo: bytes, *,
                       received_at: float,
                       own_keys: Mapping[ProviderName, OwnKey] | None = None,
                       samples: Mapping[str, str] | None = None) -> BoothAnswer:
        """The booth pipeline on the saved slot, enabled or not, with the account's own
        keys; counted as a test job. `samples`: values for the prompt's fields, as a booth
        would send them (the job records the prompt they make)."""
        slot = await self.slot(tenant, provider, index)
        deadline = BoothDeadline.from_arrival(received_at, self.settings)
        return await self.pipeline.process(slot, photo, deadline=deadline, source=JobSource.TEST,
                                           own_keys=own_keys,
                                           fields=field_values(samples, None))

    # -- the Local chroma key's preview -----------------------------------------------------------
    async def preview_key(self, tenant: str, index: int, photo: bytes,
                          tolerance: int) -> KeyPreview:
        """What Local slot `index` makes of `photo` at `tolerance`, onto its saved background:
        no job, no stored photo, no statistics. The photo passes the booth's checks (415, 413)
        and is cut to PREVIEW_MAX_SIDE first."""
        if not KEY_TOLERANCE_MIN <= tolerance <= KEY_TOLERANCE_MAX:
            raise InvalidInput(f"the key tolerance runs from {KEY_TOLERANCE_MIN} to "
                               f"{KEY_TOLERANCE_MAX}", field="key_tolerance")
        slot = await self.slot(tenant, ProviderName.LOCAL, index)
        local = self._usable(ProviderName.LOCAL)
        if not isinstance(local, LocalProvider):
            raise InvalidInput("this provider has no chroma key to preview", field="type")
        if not slot.reference_key:
            raise InvalidInput("upload the background image first", field="reference")
        await self.previews.take(tenant)
        max_pixels = self.settings.max_pixels
        prepared = await run_cpu(lambda: prepare_photo(photo, max_side=PREVIEW_MAX_SIDE,
                                                       max_pixels=max_pixels))
        background = await self.media.read(slot.reference_key)
        return await local.preview(prepared.data, background.data, tolerance)
    async def preview_late(self, tenant: str, provider: str, index: int, photo: bytes,
                           text: str | None, request_base: str) -> LatePreview:
        """What the booth prints when slot `index`'s window runs out with a QR code: `photo`
        stamped with `text` (the card's unsaved line; None: the slot's) and a code of a share
        link as long as a real one, which opens nothing (its token is never stored). No job,
        nothing stored, counted against the preview budget like the key preview."""
        slot = await self.slot(tenant, provider, index)
        line = one_line(slot.printed_late_text if text is None else (text or
                        slot.printed_late_text), MAX_LATE_TEXT_CHARS)
        await self.previews.take(tenant)
        max_pixels = self.settings.max_pixels
        prepared = await run_cpu(lambda: prepare_photo(photo, max_side=PREVIEW_MAX_SIDE,
                                                       max_pixels=max_pixels))
        url = share_url(self.share_base(request_base), new_token(SHARE_TOKEN_BYTES))
        data, mime = await run_cpu(lambda: qr_stamp.stamp(prepared.data, url, line,
                                                          max_pixels=max_pixels))
        drawn = qr_stamp.layout(prepared.width, prepared.height, url, line)
        printed = drawn.text if drawn is not None else None
        return LatePreview(data, mime, printed or "", cut=printed != line)

    # -- the booth's trace ------------------------------------------------------------------------
    async def trace(self, tenant: str, provider: str, index: int, *,
                    limit: int = 50) -> list[TraceEntry]:
        """The slot's latest booth requests, newest first (shared/booth_trace.py)."""
        if not 1 <= limit <= MAX_TRACE_LIMIT:
            raise InvalidInput(f"limit is 1 to {MAX_TRACE_LIMIT}", field="limit")
        return await self.trace_log.recent(await self.slot(tenant, provider, index), limit)

    # -- statistics and jobs ------------------------------------------------------------------------
    async def stats(self, tenant: Tenant, *, recent: int = 50) -> ConsoleStats:
        counts = await self.repo.read_stats(tenant.name)
        jobs = await self.repo.recent_jobs(tenant.name, limit=recent)
        providers = []
        for name in self.settings.enabled_providers:
            periods = counts.get(name, {})
            providers.append(ProviderStats(name, self.tab(name).label,
                                           periods.get("today", ProviderCounts()),
                                           periods.get("total", ProviderCounts())))
        try:
            password, problem = tenant.upload_password, None
        except SealedSecretError:
            # Sealed under another key (BOOTHAI_SIGNING_KEY changed): the console still opens,
            # says so, and rotating writes a new password sealed under today's key.
            password, problem = "", UNREADABLE_UPLOAD_PASSWORD
        return ConsoleStats(password, providers, jobs, problem)

    async def job(self, tenant: str, job_id: str) -> Job:
        """One of this tenant's jobs (another tenant's id is as unknown as a made-up one)."""
        job = await self.repo.get_job(tenant, job_id) if _is_id(job_id) else None
        if job is None:
            raise NotFound("no such job")
        return job

    async def job_image(self, tenant: str, job_id: str, which: str, *,
                        thumb: bool = False) -> StoredImage:
        """A job's original (in trash/ once the job failed: the job points there) or result."""
        if which not in ("original", "result") or not _is_id(job_id):
            raise NotFound("no such image")
        job = await self.repo.get_job(tenant, job_id)
        key = (job.original_key if which == "original" else job.result_key) if job else None
        if not key:
            raise NotFound("no such image")
        return await self.media.read(key, thumb=thumb)

    # -- public share pages (shared/share_links.py; served by shared/usecases/share_pages.py) --------
    def share_base(self, request_base: str) -> str:
        return share_base(self.settings.share_base_url, request_base)

    async def _job_and_slot(self, tenant: str, job_id: str) -> tuple[Job, Slot]:
        job = await self.job(tenant, job_id)
        try:
            slot = await self.repo.get_slot(tenant, job.provider, job.slot_index)
        except NotFound:
            raise NotFound("no such job") from None
        return job, slot

    async def share_state(self, tenant: str, job_id: str, request_base: str) -> ShareState:
        job, slot = await self._job_and_slot(tenant, job_id)
        link = await self.shares.current(tenant, job.job_id) if slot.share_pages else None
        return ShareState(slot.share_pages, slot.share_days, link,
                          share_url(self.share_base(request_base), link.token) if link else None)

    async def share_link(self, tenant: str, job_id: str, request_base: str) -> ShareState:
        """The job's share link, made now if it has none; refused while its slot has share
        pages off."""
        job, slot = await self._job_and_slot(tenant, job_id)
        if not slot.share_pages:
            raise InvalidInput(f"share pages are off for {slot.title}: switch them on in the "
                               "slot's card first", field="share_pages", code="share_off")
        link = await self.shares.ensure(job, slot)
        return ShareState(True, slot.share_days, link,
                          share_url(self.share_base(request_base), link.token))

    async def revoke_share(self, tenant: str, job_id: str) -> None:
        """The job's link stops working at once (a new one can be made later)."""
        job = await self.job(tenant, job_id)
        await self.shares.revoke(tenant, job.job_id)

    # -- event galleries (shared/galleries.py; served by shared/usecases/gallery_pages.py) ------
    def _gallery_view(self, gallery: Gallery, request_base: str) -> GalleryView:
        return GalleryView(gallery, gallery_url(self.share_base(request_base), gallery.token))

    async def gallery_list(self, tenant: str, request_base: str) -> list[GalleryView]:
        """The account's live galleries, newest first."""
        return [self._gallery_view(g, request_base) for g in await self.galleries.list(tenant)]

    async def make_gallery(self, tenant: str, settings: GallerySettings,
                           request_base: str) -> GalleryView:
        """A gallery of the account's own slots. A slot is named by its tab and number, read
        under this account: there is no way to name another's. No share-pages switch is
        needed: making a gallery is the operator's own act of publishing."""
        keys = []
        for text in settings.slots:
            provider, index = parse_slot(text, self.settings.enabled_providers)
            try:
                slot = await self.repo.get_slot(tenant, provider, index)
            except NotFound:
                raise InvalidInput(f"{text!r}: this account has no such slot",
                                   field="slots") from None
            keys.append(slot.key)
        gallery = await self.galleries.create(tenant=tenant, name=settings.name, slots=keys,
                                              days=settings.days, since=settings.since,
                                              until=settings.until)
        return self._gallery_view(gallery, request_base)

    async def _gallery(self, tenant: str, gallery_id: str) -> Gallery:
        gallery = await self.galleries.get(tenant, gallery_id)
        if gallery is None:  # another account's id is as unknown as a made-up one
            raise NotFound("no such gallery")
        return gallery

    async def revoke_gallery(self, tenant: str, gallery_id: str) -> None:
        """The gallery's page stops working at once."""
        if not await self.galleries.revoke(tenant, gallery_id):
            raise NotFound("no such gallery")

    async def gallery_photo_list(self, tenant: str, gallery_id: str, *,
                                 before: str | None = None) -> PhotoPage:
        """What "download all" fetches: the gallery's photos, newest first, a page at a time
        (500, reading at most 5000 jobs: one Lambda answer stays small and quick)."""
        if before is not None and not _is_id(before):
            raise InvalidInput("before is a job id", field="before")
        gallery = await self._gallery(tenant, gallery_id)
        return await gallery_photos(self.repo, gallery, before=before, limit=500,
                                    max_scan=5000)

    async def rotate_upload_password(self, tenant: str) -> str:
        """A new upload password; every booth of this account must be given it."""
        return await self.repo.rotate_upload_password(tenant)

    # -- API keys -------------------------------------------------------------------------------
    async def api_keys_of(self, tenant: str) -> list[ApiKey]:
        return sorted(await self.api_keys.list(tenant), key=lambda k: k.created_at)

    async def create_api_key(self, tenant: str, name: str) -> tuple[ApiKey, str]:
        """The record and the key itself, which is shown this once."""
        return await self.api_keys.create(tenant, name)

    async def revoke_api_key(self, tenant: str, key_id: str) -> None:
        if not _is_id(key_id):
            raise NotFound(f"no API key {key_id}")
        await self.api_keys.revoke(tenant, key_id)


    # -- the account's own provider keys --------------------------------------------------------
    def keyed_providers(self) -> list[KeySpec]:
        """The providers that take a key and are enabled on this server, in tab order."""
        return [KEYED[name] for name in self.settings.enabled_providers if name in KEYED]

    def _keyed(self, provider: str) -> KeySpec:
        spec = next((k for k in self.keyed_providers() if k.provider == provider), None)
        if spec is None:
            raise NotFound(f"no provider key {provider!r} on this server: keys are for "
                           + (", ".join(k.provider for k in self.keyed_providers()) or "none"))
        return spec

    def provider_keys(self, tenant: Tenant) -> list[KeyInEffect]:
        """Each key's state, never the key (nor any part of the deployment's)."""
        return [in_effect(self.settings, spec.provider, tenant.own_keys, open_key=False)
                for spec in self.keyed_providers()]

    async def set_provider_key(self, tenant: Tenant, provider: str, key: str) -> KeyInEffect:
        spec = self._keyed(provider)
        account = await self.repo.set_provider_key(tenant.name, spec.provider,
                                                   check_key_text(key))
        return in_effect(self.settings, spec.provider, account.own_keys, open_key=False)

    async def remove_provider_key(self, tenant: Tenant, provider: str) -> KeyInEffect:
        """The account's key gone; the deployment's, if any, is in effect again."""
        spec = self._keyed(provider)
        account = await self.repo.remove_provider_key(tenant.name, spec.provider)
        return in_effect(self.settings, spec.provider, account.own_keys, open_key=False)

    async def check_provider_key(self, tenant: Tenant, provider: str) -> KeyCheck:
        """The provider's cheapest real call with the key in effect for this account. Each
        check counts against the account's allowance, whatever it answers."""
        spec = self._keyed(provider)
        impl = self.providers.get(spec.provider)
        if impl is None:
            return KeyCheck(False, "error", self.providers.unavailable_reason(spec.provider))
        try:
            effect = in_effect(self.settings, spec.provider, tenant.own_keys)
        except SealedSecretError:
            return KeyCheck(False, "error", f"the saved {spec.label} key does not open with "
                            "this deployment's key (was BOOTHAI_SIGNING_KEY changed?): enter "
                            "it again")
        if effect.value is None:
            return KeyCheck(False, "no_key", no_key_message(spec))
        try:
            async with self.key_checks.attempt(KEY_CHECK_SCOPE, tenant.name) as attempt:
                attempt.failed()  # every call counts: it is the provider's, on a paid key
                return await impl.check_key(effect.value.get_secret_value())
        except TooManyAttempts as exc:
            raise TooManyAttempts(f"too many key checks; try again in {exc.retry_after} s",
                                  retry_after=exc.retry_after) from None


def _is_id(value: str) -> bool:
    return value.isalnum() and len(value) <= 40
