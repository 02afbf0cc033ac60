"""The core's exceptions. Each names what went wrong in words an operator can read.

They know nothing of HTTP: functions/errors.py maps each class to a status code, once.
"""

from __future__ import annotations


class BoothaiError(Exception):
    """Base class. `str(err)` is a one-line reason that is safe to show to the caller, in
    English; `code` names the kind of refusal in a stable token, so the operator UI can say
    it in the operator's language (frontend/static/i18n.js `err_<code>`, `problem_<code>`)."""

    code = "error"

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        if code:  # a finer kind than the class's: a slot problem's rule ("missing_reference")
            self.code = code


class NotFound(BoothaiError):
    code = "not_found"


class Unauthorized(BoothaiError):
    code = "unauthorized"


class Forbidden(BoothaiError):
    """The caller proved who it is (or holds a token) but may not do this."""

    code = "forbidden"


class TooManyAttempts(BoothaiError):
    code = "too_many_attempts"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SlotNotReady(BoothaiError):
    """Disabled or unconfigured slot: the booth should show the original. `code` says which
    (`slot_disabled`, a slot rule's `missing_reference`, …) for the slot's trace and the UI."""

    code = "slot_not_ready"


class InvalidInput(BoothaiError):
    """A request field is wrong; `field` names it when there is one."""

    code = "invalid_input"

    def __init__(self, message: str, field: str | None = None, *,
                 code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class UnsupportedMedia(BoothaiError):
    """The upload is not an image we can decode."""

    code = "unsupported_media"


class PayloadTooLarge(BoothaiError):
    code = "payload_too_large"


class ProviderFailed(BoothaiError):
    """The provider answered but gave no usable image. `reason` is a short stable code."""

    code = "provider_failed"

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason


class DeadlineExceeded(BoothaiError):
    code = "deadline_exceeded"


class StorageUnavailable(BoothaiError):
    """The table or object store failed or was too slow."""

    code = "storage_unavailable"


class ModelNotReady(BoothaiError):
    """A GPU model cannot serve now (backend off, still loading, not available)."""

    code = "model_not_ready"


class ConditionFailed(BoothaiError):
    """A conditional table write lost: the item exists, or its version moved on."""

    code = "condition_failed"


def describe(exc: BoothaiError) -> str:
    """The one line a caller is shown: the message, with a provider's reason code when the
    message does not already carry it."""
    if isinstance(exc, ProviderFailed) and exc.reason not in str(exc):
        return f"{exc} ({exc.reason})"
    return str(exc)
