"""Domain types: tenants, slots, jobs, statistics. Plain dataclasses, no storage details."""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import SecretStr

SLOTS_PER_PROVIDER = 20

# How eagerly a Local slot's chroma key treats a coloured pixel as screen (0: least, 100:
# most). The default keys exactly as the Local provider did before the setting existed.
KEY_TOLERANCE_MIN, KEY_TOLERANCE_MAX = 0, 100
DEFAULT_KEY_TOLERANCE = 50

# How long a job's public share page lives (shared/share_links.py), set per slot, in days.
SHARE_DAYS_MIN, SHARE_DAYS_MAX = 1, 90
DEFAULT_SHARE_DAYS = 7

# How long a job whose booth window ran out may keep working (LateAnswer.ORIGINAL*), seconds
# from the photo's arrival. Above the booth's 50 s window; at most 10 minutes, which the AWS
# finisher function's timeout covers (template.yaml).
LATE_LIMIT_MIN, LATE_LIMIT_MAX = 60, 600
DEFAULT_LATE_LIMIT = 180
# The line printed under the QR code of a late answer. An operator's own text is one line of at
# most this many characters; empty: the default in the operator's language, saved by the UI.
MAX_LATE_TEXT_CHARS = 80
LATE_TEXT_DEFAULTS = {
    "en": "Your AI photo is on its way: scan the code",
    "ru": "Ваше AI-фото уже в работе: отсканируйте код",
}


class ProviderName(StrEnum):
    TURBOTEXT = "turbotext"
    GEMINI = "gemini"
    DEEPSEEK = "deepseek"
    QWEN = "qwen"
    LOCAL = "local"


class ProcessingType(StrEnum):
    FACE_SWAP = "face_swap"
    BACKGROUND = "background"
    PROMPT = "prompt"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class LateAnswer(StrEnum):
    """What the booth gets when its window runs out before the provider has answered."""

    ERROR = "error"  # an error (504), as always: DSLR Remote Pro prints what it is set to
    ORIGINAL = "original"  # the original photo; the job keeps working, its result is kept
    ORIGINAL_QR = "original_qr"  # the original with a QR code to the job's share page


class JobSource(StrEnum):
    BOOTH = "booth"
    TEST = "test"  # the operator's "Try it" button


def new_token(nbytes: int = 24) -> str:
    """An unguessable URL-safe token (192 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def new_job_id() -> str:
    """Time-ordered id: sorting ids sorts jobs by creation time (newest last)."""
    return f"{time.time_ns() // 1_000_000:013x}{secrets.token_hex(5)}"


def utc_day(ts: float | None = None) -> str:
    """The UTC date of `ts` (now when None): statistics days and object-key folders."""
    return datetime.fromtimestamp(ts if ts is not None else time.time(), UTC).strftime("%Y-%m-%d")


def new_upload_password() -> str:
    # Typed by hand into the booth's settings dialog, so: short, no look-alike characters.
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


@dataclass(frozen=True)
class OwnKey:
    """An account's own key for one provider (shared/provider_keys.py): shown as `last4`,
    opened only to call out."""

    last4: str
    updated_at: float
    _open: Callable[[], str] = field(repr=False, compare=False)

    def reveal(self) -> SecretStr:
        return SecretStr(self._open())


@dataclass(init=False, repr=False)
class Tenant:
    """An operator account. `upload_password` is the booth's password in clear; the
    repository keeps it sealed at rest (shared/secret_box.py) and hands it over as a
    function that opens it, called on first read only: most requests read an account
    without it, and the image and vision functions hold no key that could open it."""

    name: str
    password_hash: str
    created_at: float

    def __init__(self, name: str, password_hash: str,
                 upload_password: str | Callable[[], str],
                 created_at: float | None = None,
                 own_keys: Mapping[ProviderName, OwnKey] | None = None) -> None:
        self.name = name
        self.password_hash = password_hash
        self._upload_password = upload_password
        self.created_at = time.time() if created_at is None else created_at
        # The account's own provider keys (shared/provider_keys.py), sealed until called on.
        self.own_keys: Mapping[ProviderName, OwnKey] = own_keys or {}

    @property
    def upload_password(self) -> str:
        value = self._upload_password
        if callable(value):
            value = self._upload_password = value()
        return value

    def __repr__(self) -> str:  # never the password hash or the upload password in a log
        return f"Tenant(name={self.name!r})"


@dataclass
class Slot:
    tenant: str
    provider: ProviderName
    index: int
    upload_token: str
    name: str = ""  # the operator's name for it ("Wedding — entrance"); "": just its number
    type: ProcessingType | None = None
    prompt: str = ""
    # The booth fields the prompt may name as `{field}` (shared/prompt_fields.py).
    prompt_fields: list[str] = field(default_factory=list)
    enabled: bool = False
    fallback_to_original: bool = False
    fallback_provider: ProviderName | None = None
    model: str | None = None
    image_size: str | None = None  # output resolution ("1K", "2K", "4K"); None: the default
    key_tolerance: int = DEFAULT_KEY_TOLERANCE  # the Local chroma key's (shared/providers/local.py)
    # Public share pages for this slot's jobs (shared/share_links.py): off until the operator
    # says so, since a share page publishes a guest's photo to whoever holds its link.
    share_pages: bool = False
    share_days: int = DEFAULT_SHARE_DAYS  # how long a share link lives once made
    # When the booth's window runs out (shared/late_results.py): answer an error, the
    # original, or the original with a QR code and `late_text`; the job keeps working up to
    # `late_limit_seconds` from the photo's arrival.
    when_late: LateAnswer = LateAnswer.ERROR
    late_limit_seconds: int = DEFAULT_LATE_LIMIT
    late_text: str = ""  # "": LATE_TEXT_DEFAULTS["en"]
    qr_on_results: bool = False  # every AI result the booth gets carries the QR too
    reference_key: str | None = None
    reference_mime: str | None = None
    updated_at: float = 0.0

    @property
    def key(self) -> str:
        return slot_key(self.provider, self.index)

    @property
    def title(self) -> str:
        """How a person is told which slot: `slot 3 “Wedding” on the gemini tab`."""
        named = f" “{self.name}”" if self.name else ""
        return f"slot {self.index}{named} on the {self.provider} tab"

    def to_item(self) -> dict:
        item = asdict(self)
        item["provider"] = str(self.provider)
        item["type"] = str(self.type) if self.type else None
        item["fallback_provider"] = str(self.fallback_provider) if self.fallback_provider else None
        item["when_late"] = str(self.when_late)
        return item

    @classmethod
    def from_item(cls, item: dict) -> Slot:
        data = {k: item.get(k) for k in cls.__dataclass_fields__ if k in item}
        data["provider"] = ProviderName(data["provider"])
        data["index"] = int(data["index"])
        data["type"] = ProcessingType(data["type"]) if data.get("type") else None
        fb = data.get("fallback_provider")
        data["fallback_provider"] = ProviderName(fb) if fb else None
        data["updated_at"] = float(data.get("updated_at") or 0)
        data["prompt_fields"] = [str(f) for f in data.get("prompt_fields") or []]
        if data.get("key_tolerance") is None:  # a slot saved before the setting existed
            data.pop("key_tolerance", None)
        else:
            data["key_tolerance"] = int(data["key_tolerance"])
        data["share_pages"] = bool(data.get("share_pages"))
        if data.get("share_days") is None:  # a slot saved before share pages existed
            data.pop("share_days", None)
        else:
            data["share_days"] = int(data["share_days"])
        # A slot saved before late results existed answers an error, as it always did.
        data["when_late"] = LateAnswer(data.get("when_late") or LateAnswer.ERROR)
        if data.get("late_limit_seconds") is None:
            data.pop("late_limit_seconds", None)
        else:
            data["late_limit_seconds"] = int(data["late_limit_seconds"])
        data["late_text"] = str(data.get("late_text") or "")
        data["qr_on_results"] = bool(data.get("qr_on_results"))
        return cls(**data)

    @property
    def printed_late_text(self) -> str:
        return self.late_text or LATE_TEXT_DEFAULTS["en"]


def slot_key(provider: ProviderName | str, index: int) -> str:
    return f"{provider}#{index:02d}"


# A failure's reason is a code (it goes into the booth's X-Boothai-Original header, metrics
# and log fields); what the provider itself said goes into the job's `detail`, for the
# operator. Both are made safe here, whatever a provider sends.
REASON_MAX_CHARS = 80
DETAIL_MAX_CHARS = 300
_NOT_IN_CODE = re.compile(r"[^A-Za-z0-9_.:-]+")


def reason_code(text: str) -> str:
    """`text` as a stable ASCII token: anything but letters, digits and `_.:-` becomes `_`."""
    return _NOT_IN_CODE.sub("_", text).strip("_:")[:REASON_MAX_CHARS] or "error"


def one_line(text: str, limit: int = DETAIL_MAX_CHARS) -> str:
    """`text` as one line of at most `limit` characters: control, format and line-separator
    characters (CR, LF, U+2028, bidi overrides) become spaces, runs of spaces one. Provider
    text may then be shown or logged without forging lines."""
    cleaned = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


@dataclass
class Job:
    tenant: str
    job_id: str
    provider: ProviderName
    slot_index: int
    source: JobSource = JobSource.BOOTH
    slot_name: str = ""  # the slot's name when the job ran (a later rename keeps history)
    status: JobStatus = JobStatus.QUEUED
    reason: str = ""  # a code from reason_code()
    detail: str = ""  # what went wrong in words (the provider's own, maybe Russian): one_line()
    cause: str = ""  # a failed job's shared.failure_causes.Cause: what the operator can do
    type: ProcessingType | None = None
    prompt: str = ""  # the prompt the provider received, its fields filled (prompt_fields.py)
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    provider_ms: int | None = None
    total_ms: int | None = None
    original_key: str | None = None
    result_key: str | None = None
    # The booth got its answer (the original) before the job ended: it finished afterwards,
    # done or failed (shared/late_results.py).
    late: bool = False
    # Each provider tried, in order, with its outcome ("done" or a failure reason).
    attempts: list[dict] = field(default_factory=list)

    def to_item(self) -> dict:
        item = asdict(self)
        for name in ("provider", "source", "status", "type"):
            value = item[name]
            item[name] = str(value) if value is not None else None
        return item

    @classmethod
    def from_item(cls, item: dict) -> Job:
        data = {k: item.get(k) for k in cls.__dataclass_fields__ if k in item}
        data["provider"] = ProviderName(data["provider"])
        data["slot_index"] = int(data["slot_index"])
        data["source"] = JobSource(data.get("source") or "booth")
        data["status"] = JobStatus(data["status"])
        data["type"] = ProcessingType(data["type"]) if data.get("type") else None
        for name in ("created_at", "started_at", "finished_at"):
            if data.get(name) is not None:
                data[name] = float(data[name])
        for name in ("provider_ms", "total_ms"):
            if data.get(name) is not None:
                data[name] = int(data[name])
        data["attempts"] = list(data.get("attempts") or [])
        data["late"] = bool(data.get("late"))
        return cls(**data)


@dataclass
class ProviderCounts:
    """Booth photos processed (`done`, `failed`), booth requests refused before they became a
    job (`refused`: wrong password, slot off, too large, …), and the operator's Try it runs
    (`tried`), each counted apart: a test run or a refusal is not a guest's photo. `late`: of
    the `done`, those that finished after the booth had its answer (the original)."""

    done: int = 0
    failed: int = 0
    latency_ms_total: int = 0
    refused: int = 0
    tried: int = 0
    late: int = 0

    @property
    def average_ms(self) -> int | None:
        return round(self.latency_ms_total / self.done) if self.done else None
