"""Provider webhooks: Turbotext POSTs a finished job's result JSON to the URL we gave it.

Check the per-job token (`?t=…`, an HMAC of the job id), then publish the payload through
JobSignals, where the waiting booth request (this process or another Lambda) picks it up.
A wrong or missing token is Forbidden and changes nothing; duplicates and late callbacks are
accepted and change nothing either (the first delivery wins).

The body stays untrusted even with a good token (whoever holds the URL can POST anything): it
is only stored here, and the provider fetches the link it names through the safe fetcher.
"""

from __future__ import annotations

import json
import logging
import re

from shared.access import Access, Level, Secret
from shared.errors import Forbidden, InvalidInput, PayloadTooLarge
from shared.job_signals import JobSignals
from shared.signed_links import LinkSigner, verify_webhook_token

log = logging.getLogger("boothai.webhooks")

_JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_BODY_BYTES = 256 * 1024  # a result is a few hundred bytes of JSON with a link


class ProviderWebhooks:
    # Writes the signal item only; it never reads a job or a photo.
    ACCESS = Access(tables={"lookups": Level.WRITE}, secrets=frozenset({Secret.SIGNING_KEY}))

    @classmethod
    def access(cls) -> Access:
        return cls.ACCESS

    def __init__(self, *, signer: LinkSigner, signals: JobSignals) -> None:
        self.signer = signer
        self.signals = signals

    def check_token(self, job_id: str, token: str | None) -> None:
        """Before the body is read: Forbidden unless the token was made for this job."""
        if not _JOB_ID_RE.match(job_id) or not verify_webhook_token(self.signer, job_id, token):
            raise Forbidden("forbidden")

    async def turbotext(self, job_id: str, token: str | None, body: bytes) -> bool:
        """Deliver a Turbotext result. True for the first delivery, False for a duplicate."""
        self.check_token(job_id, token)
        first = await self.signals.publish(job_id, _json_object(body))
        log.info("turbotext webhook for job %s (%s)", job_id, "first" if first else "duplicate")
        return first


def _json_object(raw: bytes) -> dict:
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge("body too large")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise InvalidInput("body is not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidInput("body is not a JSON object")
    return payload
