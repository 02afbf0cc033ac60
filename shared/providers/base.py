"""The provider interface: one small protocol every AI service implements.

The pipeline prepares the guest photo (decoded, orientation applied, downscaled to the
provider's `max_side`), hands it over as bytes with the slot's preset and a deadline, and
gets image bytes back — or a ProviderFailed with a short reason the operator sees.

What a provider can do, and what each processing type needs from the slot, is its
`capabilities` (shared/slot_rules.py): the pipeline, the admin API and the UI read that
one table. `BaseProvider` gives the parts every provider shares.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Protocol

from pydantic import SecretStr

from shared.access import Access, scope_store, scope_tables
from shared.config import Settings
from shared.domain import DEFAULT_KEY_TOLERANCE, ProcessingType, ProviderName, Slot
from shared.errors import ProviderFailed
from shared.gpu import GpuBackend
from shared.ports import ObjectStore, Tables, UrlFetcher
from shared.provider_keys import KeyCheck, no_key_message, spec_of
from shared.safe_fetch import SafeFetcher
from shared.signed_links import LinkSigner
from shared.slot_rules import Capabilities, problem

# The most bytes a result image downloaded by link may have (a 4K PNG is well under it).
MAX_RESULT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ProviderContext:
    """What a provider's `create(ctx)` may use besides its own settings. The ports are the
    synchronous ones, scoped to the provider's `ACCESS`; call them through
    shared.concurrency from async code."""

    settings: Settings
    store: ObjectStore
    tables: Tables
    signer: LinkSigner
    gpu: GpuBackend
    # For links a provider's answer (or a webhook body) names: outside input, fetched
    # safely. Services exempts the configured provider hosts; the default exempts nothing.
    fetcher: UrlFetcher = field(default_factory=SafeFetcher)

    def scoped(self, access: Access, owner: str) -> ProviderContext:
        return replace(self, store=scope_store(self.store, access, owner),
                       tables=scope_tables(self.tables, access, owner))


@dataclass(frozen=True)
class ProviderJob:
    job_id: str
    tenant: str
    slot_index: int
    type: ProcessingType
    prompt: str
    photo: bytes  # the guest photo: JPEG or PNG bytes, within the provider's max_side
    photo_mime: str
    photo_size: tuple[int, int]  # (width, height) of `photo`
    deadline: float  # a time.monotonic() value: the provider must have answered by then
    reference: bytes | None = None  # the slot's reference image, as uploaded
    reference_mime: str | None = None
    reference_key: str | None = None  # object key of the reference (for link-based APIs)
    model: str | None = None  # per-slot model override (e.g. a Gemini model id)
    image_size: str | None = None  # per-slot output size ("1K"/"2K"/"4K"); None = default
    key_tolerance: int = DEFAULT_KEY_TOLERANCE  # per-slot chroma key tolerance (Local)
    # The key in effect for this job's account (its own, else the deployment's), for the
    # providers that take one (shared/provider_keys.py). Not in repr: jobs get logged.
    api_key: SecretStr | None = field(default=None, repr=False)

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    @property
    def has_reference(self) -> bool:
        return self.reference is not None or self.reference_key is not None


@dataclass(frozen=True)
class OutputSizes:
    """The output sizes an operator may choose for a slot (its `image_size`), and the one an
    unset slot gets. No choices: the provider (or the slot's model) has no such setting."""

    choices: tuple[str, ...] = ()
    default: str | None = None


@dataclass(frozen=True)
class ProviderImage:
    data: bytes
    mime: str  # "image/jpeg" or "image/png"


class Provider(Protocol):
    name: ProviderName
    label: str  # shown on the operator's tab
    capabilities: Capabilities  # the types it does and what each needs from the slot
    max_side: int  # the pipeline downscales the guest photo's long side to this
    # Shown in the UI and the API when the capabilities leave some types out (why DeepSeek
    # is prompt-only).
    types_note: str | None
    # Calls with an API key: the account's own, else the deployment's (provider_keys.py).
    takes_key: bool

    @property
    def types(self) -> frozenset[ProcessingType]: ...

    def setup_problem(self) -> str | None:
        """What this deployment lacks for the provider (a GPU backend, a public URL), or
        None. The UI shows it on the tab and its cards; slots still save meanwhile. A
        missing API key is not one: accounts bring their own (ProviderRegistry.problem)."""

    def deployment_key(self) -> SecretStr | None:
        """The deployment-wide API key, for providers that take one; None otherwise."""

    async def check_key(self, key: str) -> KeyCheck:
        """The provider's cheapest real call with `key`, and what it answered."""

    def check_slot(self, slot: Slot) -> None:
        """Raise InvalidInput (with `field`) if the slot's own settings make no sense for
        this provider (a Gemini model id it does not know, a size the model cannot draw)."""

    def output_sizes(self, slot: Slot) -> OutputSizes:
        """The `image_size` choices for this slot (the UI shows a picker when there are any)."""

    async def run(self, job: ProviderJob) -> ProviderImage:
        """Process one photo. Raise ProviderFailed(reason) when the service refuses or breaks.
        The pipeline cancels the call at the deadline; implementations should also bound
        their own network timeouts by `job.remaining()`."""

    async def aclose(self) -> None: ...


class BaseProvider:
    """Shared behaviour; subclasses set the class attributes and implement `run`."""

    name: ProviderName
    label: str
    capabilities: Capabilities
    max_side: int
    types_note: str | None = None
    takes_key: bool = False

    @property
    def types(self) -> frozenset[ProcessingType]:
        return frozenset(self.capabilities)

    def setup_problem(self) -> str | None:
        return None

    def deployment_key(self) -> SecretStr | None:
        return None

    async def check_key(self, key: str) -> KeyCheck:
        return KeyCheck(False, "error", f"{self.label} takes no API key")

    def check_slot(self, slot: Slot) -> None:
        return None

    def key_for(self, job: ProviderJob) -> str:
        """The key this job calls with, or ProviderFailed saying what to do."""
        key = job.api_key or self.deployment_key()
        if key is None or not key.get_secret_value():
            spec = spec_of(self.name)
            raise ProviderFailed(f"{self.name}_no_api_key",
                                 no_key_message(spec) if spec else f"{self.label} has no key")
        return key.get_secret_value()

    def output_sizes(self, slot: Slot) -> OutputSizes:
        return OutputSizes()

    def refuse_unready(self, job: ProviderJob) -> None:
        """Before any call out: the job holds what its type needs (the slot rules)."""
        found = problem(self.capabilities, type=job.type, has_reference=job.has_reference,
                        prompt=job.prompt, label=self.label,
                        where=f"slot {job.slot_index} on the {self.name} tab")
        if found is not None:
            raise ProviderFailed(found.code, found.message)

    async def aclose(self) -> None:
        return None
