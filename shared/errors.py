"""The core's exceptions. Each names what went wrong in words an operator can read.

They know nothing of HTTP: functions/errors.py maps each class to a status code, once.
"""

from __future__ import annotations


class BoothaiError(Exception):
    """Base class. `str(err)` is a one-line reason that is safe to show to the caller."""


class NotFound(BoothaiError):
    pass


class Unauthorized(BoothaiError):
    pass


class Forbidden(BoothaiError):
    """The caller proved who it is (or holds a token) but may not do this."""


class TooManyAttempts(BoothaiError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SlotNotReady(BoothaiError):
    """Disabled or unconfigured slot: the booth should show the original. `code` says which
    (`slot_disabled`, a slot rule's `missing_reference`, …) for the slot's trace."""

    def __init__(self, message: str, code: str = "slot_not_ready") -> None:
        super().__init__(message)
        self.code = code


class InvalidInput(BoothaiError):
    """A request field is wrong; `field` names it when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnsupportedMedia(BoothaiError):
    """The upload is not an image we can decode."""


class PayloadTooLarge(BoothaiError):
    pass


class ProviderFailed(BoothaiError):
    """The provider answered but gave no usable image. `reason` is a short stable code."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason


class DeadlineExceeded(BoothaiError):
    pass


class StorageUnavailable(BoothaiError):
    """The table or object store failed or was too slow."""


class ModelNotReady(BoothaiError):
    """A GPU model cannot serve now (backend off, still loading, not available)."""


class ConditionFailed(BoothaiError):
    """A conditional table write lost: the item exists, or its version moved on."""


def describe(exc: BoothaiError) -> str:
    """The one line a caller is shown: the message, with a provider's reason code when the
    message does not already carry it."""
    if isinstance(exc, ProviderFailed) and exc.reason not in str(exc):
        return f"{exc} ({exc.reason})"
    return str(exc)
