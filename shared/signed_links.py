"""HMAC-signed, expiring links and tokens.

Embedded mode serves objects at `/media/{key}?exp=…&sig=…` so a third party (Turbotext)
can download a guest photo for a few minutes without any account. The same signer makes
webhook tokens. Signatures are compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


class LinkSigner:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("signing key too short")
        self._key = key

    def sign(self, message: str) -> str:
        digest = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")

    def verify(self, message: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message), signature or "")

    # -- media links ---------------------------------------------------------------------------
    def media_query(self, key: str, expires_in: int, now: float | None = None) -> str:
        exp = int((now or time.time()) + expires_in)
        return f"exp={exp}&sig={self.sign(f'media:{key}:{exp}')}"

    def check_media(self, key: str, exp: str, sig: str, now: float | None = None) -> bool:
        try:
            expires = int(exp)
        except (TypeError, ValueError):
            return False
        if expires < (now or time.time()):
            return False
        return self.verify(f"media:{key}:{expires}", sig)


# -- webhook tokens ----------------------------------------------------------------------------
def webhook_token(signer: LinkSigner, job_id: str) -> str:
    """The `t` query parameter of a job's webhook URL: Turbotext signs nothing, so the URL
    we give it carries an unguessable per-job token."""
    return signer.sign(f"turbotext-hook:{job_id}")


def verify_webhook_token(signer: LinkSigner, job_id: str, token: str | None) -> bool:
    """Constant-time check of the `t` query parameter of a webhook call."""
    return signer.verify(f"turbotext-hook:{job_id}", token or "")
