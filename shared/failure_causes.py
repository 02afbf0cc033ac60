"""Why a job failed, as one of a few causes the operator can act on.

Providers name their failures with many reason codes (`gemini_key_invalid`,
`turbotext_no_funds`, `gemini_image_safety`, `turbotext_http_503`, …): precise, but an
operator at a wedding needs to know what to do, not which code Google chose. Each code maps
here, and only here, to one stable cause; the UI says each cause in words (EN/RU) and shows
the provider's own detail beside it.

    key_rejected    the provider refused the API key (wrong, revoked, not allowed)  → fix the key
    quota           out of quota, credit or rate limit                              → top up, wait
    unreachable     the provider (or the GPU backend) could not be reached          → network, wait
    overloaded      the provider answered that it is overloaded                     → wait, fallback
    timeout         no answer inside the booth window                               → faster model
    safety_block    the provider's content policy refused the photo or prompt       → change prompt
    bad_input       the provider could not use the photo, reference or settings     → change input
    no_image        the provider answered without a usable image                    → retry, prompt
    not_configured  this deployment or slot lacks what the provider needs          → settings
    storage         boothai's own storage failed                                   → server
    interrupted     the server stopped while the job ran (restart recovery)        → nothing
    provider_error  anything else: read the provider's own words

Codes come from `ProviderFailed.reason` (see `grep -rn 'ProviderFailed("' shared/`), the
pipeline's own (`deadline`, `storage_unavailable`, `{provider}_error`, …) and the slot rules
(`missing_reference`, …). An unknown code is `provider_error`, never an exception.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Cause(StrEnum):
    KEY_REJECTED = "key_rejected"
    QUOTA = "quota"
    UNREACHABLE = "unreachable"
    OVERLOADED = "overloaded"
    TIMEOUT = "timeout"
    SAFETY_BLOCK = "safety_block"
    BAD_INPUT = "bad_input"
    NO_IMAGE = "no_image"
    NOT_CONFIGURED = "not_configured"
    STORAGE = "storage"
    INTERRUPTED = "interrupted"
    PROVIDER_ERROR = "provider_error"


_EXACT: dict[str, Cause] = {
    # Gemini (shared/providers/gemini.py)
    "gemini_key_invalid": Cause.KEY_REJECTED,
    "gemini_permission_denied": Cause.KEY_REJECTED,
    "gemini_rate_limited": Cause.QUOTA,
    "gemini_quota": Cause.QUOTA,
    "gemini_unavailable": Cause.OVERLOADED,
    "gemini_bad_input": Cause.BAD_INPUT,
    "gemini_bad_request": Cause.BAD_INPUT,
    "gemini_bad_model": Cause.NOT_CONFIGURED,
    "gemini_failed_precondition": Cause.NOT_CONFIGURED,
    "gemini_no_image": Cause.NO_IMAGE,
    "gemini_text_only": Cause.NO_IMAGE,
    "gemini_image_other": Cause.NO_IMAGE,
    "gemini_other": Cause.NO_IMAGE,
    "gemini_refused": Cause.NO_IMAGE,
    "gemini_safety": Cause.SAFETY_BLOCK,
    "gemini_image_safety": Cause.SAFETY_BLOCK,
    "gemini_prohibited_content": Cause.SAFETY_BLOCK,
    "gemini_image_prohibited_content": Cause.SAFETY_BLOCK,
    "gemini_blocklist": Cause.SAFETY_BLOCK,
    "gemini_spii": Cause.SAFETY_BLOCK,
    "gemini_recitation": Cause.SAFETY_BLOCK,
    "gemini_image_recitation": Cause.SAFETY_BLOCK,
    "gemini_jailbreak": Cause.SAFETY_BLOCK,
    "gemini_model_armor": Cause.SAFETY_BLOCK,
    "gemini_blocked": Cause.SAFETY_BLOCK,
    # Turbotext (shared/providers/turbotext.py)
    "turbotext_key_rejected": Cause.KEY_REJECTED,
    "turbotext_no_funds": Cause.QUOTA,
    "turbotext_error:LIMIT": Cause.QUOTA,
    "turbotext_forbidden_content": Cause.SAFETY_BLOCK,
    "turbotext_error:face_not_detected": Cause.BAD_INPUT,
    "turbotext_error:params_error": Cause.BAD_INPUT,
    # Turbotext could not download the link it was given: the public address is wrong.
    "turbotext_error:url_error": Cause.NOT_CONFIGURED,
    "turbotext_no_public_link": Cause.NOT_CONFIGURED,
    "turbotext_no_image": Cause.NO_IMAGE,
    "turbotext_image_too_large": Cause.NO_IMAGE,
    # The GPU providers (qwen.py, deepseek.py, shared/gpu/)
    "gpu_not_ready": Cause.UNREACHABLE,
    "deepseek_prompt_only": Cause.NOT_CONFIGURED,
    # The pipeline (shared/pipeline.py)
    "deadline": Cause.TIMEOUT,
    "storage_unavailable": Cause.STORAGE,
    "interrupted": Cause.INTERRUPTED,  # shared/recovery.py
    # A late job's finisher (shared/usecases/late_jobs.py): its slot or account was removed,
    # or its stored original is gone, before it could run.
    "slot_gone": Cause.NOT_CONFIGURED,
    "original_gone": Cause.STORAGE,
}

_SUFFIXES: tuple[tuple[str, Cause], ...] = (
    ("_timeout", Cause.TIMEOUT),
    ("_unreachable", Cause.UNREACHABLE),
    ("_model_not_ready", Cause.UNREACHABLE),
    ("_no_api_key", Cause.NOT_CONFIGURED),
    # the account's own key sealed under another deployment key: enter it again
    ("_key_unreadable", Cause.KEY_REJECTED),
    ("_slot_not_ready", Cause.NOT_CONFIGURED),
    ("_invalid_input", Cause.BAD_INPUT),
    ("_bad_image", Cause.NO_IMAGE),
)

# `{provider}_http_{status}`: what the status says when nothing more specific was named.
_HTTP = re.compile(r"^[a-z]+_http_(\d{3})$")
_BY_STATUS: dict[int, Cause] = {401: Cause.KEY_REJECTED, 403: Cause.KEY_REJECTED,
                                402: Cause.QUOTA, 429: Cause.QUOTA,
                                400: Cause.BAD_INPUT, 413: Cause.BAD_INPUT, 422: Cause.BAD_INPUT,
                                404: Cause.NOT_CONFIGURED,
                                503: Cause.OVERLOADED, 504: Cause.TIMEOUT}


def cause_of(reason: str) -> Cause:
    """The cause of a failure with this reason code."""
    if reason in _EXACT:
        return _EXACT[reason]
    if reason.startswith("missing_") or reason == "unsupported_type":  # the slot rules
        return Cause.NOT_CONFIGURED
    for suffix, cause in _SUFFIXES:
        if reason.endswith(suffix):
            return cause
    http = _HTTP.match(reason)
    if http:
        return _BY_STATUS.get(int(http.group(1)), Cause.PROVIDER_ERROR)
    return Cause.PROVIDER_ERROR
