"""The provider interface: one small protocol every AI service implements.

The pipeline prepares the guest photo (decoded, orientation applied, downscaled to the
provider's `max_side`), hands it over as bytes with the slot's preset and a deadline, and
gets image bytes back — or a ProviderFailed with a short reason the operator sees.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from shared.domain import ProcessingType, ProviderName, Slot


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
    extras: dict = field(default_factory=dict)

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())


@dataclass(frozen=True)
class ProviderImage:
    data: bytes
    mime: str  # "image/jpeg" or "image/png"


class Provider(Protocol):
    name: ProviderName
    label: str  # shown on the operator's tab
    types: frozenset[ProcessingType]
    max_side: int  # the pipeline downscales the guest photo's long side to this
    # Shown in the UI and the API when `types` leaves some out (why DeepSeek is prompt-only).
    types_note: str | None

    def check_slot(self, slot: Slot) -> None:
        """Raise InvalidInput (with `field`) if this provider cannot serve the slot as saved,
        e.g. a missing public base URL or API key. Called when the operator saves a slot."""

    async def run(self, job: ProviderJob) -> ProviderImage:
        """Process one photo. Raise ProviderFailed(reason) when the service refuses or breaks.
        The pipeline cancels the call at the deadline; implementations should also bound
        their own network timeouts by `job.remaining()`."""

    async def aclose(self) -> None: ...
