"""Secrets the service must read back in clear (a booth's upload password, shown to its
operator again mid-event), kept encrypted at rest with the deployment's key.

AES-256-GCM, the key derived by HKDF-SHA256 from the deployment's signing key (one secret to
keep, and this use of it cannot collide with the HMAC links it also signs). A token is
`sb1.` + base64url(nonce ‖ ciphertext ‖ tag): the version prefix lets a later key or cipher
be told apart, and tells a sealed value from a plaintext one written before (no upload
password contains a '.'). `context` is bound as associated data: a token sealed for one
tenant does not open for another, so a row cannot be copied over another's.

The key is asked for on first use only: a function that reads an account but never its
upload password (the image and vision APIs) needs no signing key at all.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "sb1."
_NONCE = 12
_INFO = b"boothai secret-box v1: secrets at rest"


class SealedSecretError(ValueError):
    """A token that does not open: another deployment's key, another context, or damaged.
    The message never carries the token or the key."""


class SecretBox:
    def __init__(self, key: bytes | Callable[[], bytes]) -> None:
        self._key_source = key
        self._aead: AESGCM | None = None

    def _cipher(self) -> AESGCM:
        if self._aead is None:
            source = self._key_source
            master = source() if callable(source) else source
            if not master:
                raise ValueError("the secret box needs a non-empty key")
            key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(master)
            self._aead = AESGCM(key)
        return self._aead

    @staticmethod
    def is_sealed(value: str) -> bool:
        return value.startswith(PREFIX)

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(_NONCE)  # random 96-bit nonces: safe far beyond our few writes
        sealed = self._cipher().encrypt(nonce, plaintext.encode(), context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, token: str, context: str) -> str:
        if not self.is_sealed(token):
            raise SealedSecretError("not a sealed secret")
        body = token[len(PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise SealedSecretError("a sealed secret is damaged") from None
        if len(raw) < _NONCE + 16:
            raise SealedSecretError("a sealed secret is damaged")
        try:
            return self._cipher().decrypt(raw[:_NONCE], raw[_NONCE:], context.encode()).decode()
        except InvalidTag:
            raise SealedSecretError(
                "a sealed secret does not open with this deployment's key (was the signing "
                "key changed?), or it belongs to another record") from None
