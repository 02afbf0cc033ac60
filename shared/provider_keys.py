"""Operator accounts' own provider keys (Gemini, Turbotext), with the deployment's as fallback.

An operator brings their own key in the UI; it is kept on the account's row sealed with the
deployment's key (shared/secret_box.py; its own context per account and provider, so a
sealed key copied onto another row, or onto another provider, does not open), and never
sent back: the API shows whether one is set, its last four characters and when. The
deployment-wide settings (GEMINI_API_KEY, TURBOTEXT_API_KEY) stay as the fallback for
accounts that have none; no part of a deployment key is ever shown.

The key in effect for one job is resolved here once: the account's, else the deployment's,
else none — and then the slot cannot run, with a message saying what to do.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import SecretStr

from shared.config import Settings
from shared.domain import OwnKey, ProviderName
from shared.errors import InvalidInput

# A Gemini key is 39 characters, a Turbotext key a few dozen; anything past this is a paste
# of something else.
MAX_KEY_CHARS = 512
MIN_KEY_CHARS = 8

Source = Literal["account", "deployment"]


@dataclass(frozen=True)
class KeySpec:
    provider: ProviderName
    label: str  # how the operator knows the service
    setting: str  # the Settings attribute of the deployment-wide key
    env: str  # its environment variable, named in messages for the deployment's admin


KEYED: dict[ProviderName, KeySpec] = {
    ProviderName.GEMINI: KeySpec(ProviderName.GEMINI, "Gemini", "gemini_api_key",
                                 "GEMINI_API_KEY"),
    ProviderName.TURBOTEXT: KeySpec(ProviderName.TURBOTEXT, "Turbotext", "turbotext_api_key",
                                    "TURBOTEXT_API_KEY"),
}


def spec_of(provider: ProviderName | str) -> KeySpec | None:
    try:
        return KEYED.get(ProviderName(provider))
    except ValueError:
        return None


def no_key_message(spec: KeySpec) -> str:
    """What to do when neither the account nor the deployment has a key."""
    return (f"no {spec.label} API key: add your {spec.label} key at the top of the "
            f"{spec.label} tab (or ask the deployment's admin to set {spec.env})")


def deployment_key(settings: Settings, provider: ProviderName) -> SecretStr | None:
    spec = KEYED.get(provider)
    value = getattr(settings, spec.setting, None) if spec else None
    return value if value is not None and value.get_secret_value() else None


def check_key_text(value: str) -> str:
    """The key as typed, or InvalidInput on field "key": no spaces or control characters
    inside (a key never has them; a paste with a line break would fail every call)."""
    key = value.strip()
    if not key:
        raise InvalidInput("paste the key: it is empty", field="key")
    if len(key) > MAX_KEY_CHARS:
        raise InvalidInput(f"a key is at most {MAX_KEY_CHARS} characters", field="key")
    if len(key) < MIN_KEY_CHARS:
        raise InvalidInput(f"a key is at least {MIN_KEY_CHARS} characters", field="key")
    if any(unicodedata.category(ch)[0] in "CZ" for ch in key):
        raise InvalidInput("a key has no spaces, line breaks or control characters",
                           field="key")
    if not key.isascii():
        raise InvalidInput("a key is plain ASCII letters, digits and punctuation", field="key")
    return key


def digest(key: str) -> str:
    """A name for a key that reveals nothing of it (client caches are keyed by it)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInEffect:
    """The key a call for this account uses, and where it comes from."""

    provider: ProviderName
    value: SecretStr | None = field(default=None, repr=False)
    source: Source | None = None
    last4: str | None = None  # the account's own key only: never any of the deployment's
    updated_at: float | None = None

    @property
    def set(self) -> bool:
        return self.value is not None


def in_effect(settings: Settings, provider: ProviderName,
              own: Mapping[ProviderName, OwnKey], *, open_key: bool = True) -> KeyInEffect:
    """The account's key, else the deployment's, else none. `open_key=False` describes the
    key without opening it (the listing needs no plaintext)."""
    mine = own.get(provider)
    if mine is not None:
        value = mine.reveal() if open_key else SecretStr("")
        return KeyInEffect(provider, value, "account", mine.last4, mine.updated_at)
    fallback = deployment_key(settings, provider)
    if fallback is not None:
        return KeyInEffect(provider, fallback if open_key else SecretStr(""), "deployment")
    return KeyInEffect(provider)


def last4(key: str) -> str:
    return key[-4:]


# -- the result of a "Check key" --------------------------------------------------------------
CheckCode = Literal["ok", "key_rejected", "quota", "unreachable", "no_key", "error"]


@dataclass(frozen=True)
class KeyCheck:
    ok: bool
    code: CheckCode
    detail: str  # the provider's own words, one bounded line; never the key


def scrub(text: str, key: str) -> str:
    """Defence in depth: a provider that echoes the key back never gets it shown."""
    return text.replace(key, "…") if key else text
