"""Booth ingest: an upload link, the booth's password, one photo through the pipeline.

Three steps, because the body arrives in between: the link is resolved before the body is
read (an unknown link costs no upload, and an `Expect: 100-continue` client never sends
it); a client that has used up its password failures is refused before the body too, and
the password is checked the moment its form field has arrived, before the rest of the photo
is taken in:

    visit = await booth.open(token, received_at=…)            # 404
    gate = await booth.admission(visit, client)                # 429
    … read the form, awaiting gate.check(password) …           # 401 / 429
    admitted = await gate.admit(password)
    answer = await booth.process(admitted, photo)              # the pipeline

The booth window is computed once, in `open`, and every later step runs inside it. From
`open` on, the visit carries its slot's trace entry (`visit.shot`, shared/booth_trace.py):
the function tells it how the request ended (`ended_by(exc, status=…)`), `process` that
it became a job and how that ended. A link `open` does not know is not traced (no slot).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from shared import prompt_fields
from shared.access import Access, Level, Secret, union
from shared.auth import Authenticator
from shared.booth_trace import BoothTrace, Shot
from shared.config import Settings
from shared.deadline import BoothDeadline
from shared.domain import JobSource, Slot, Tenant
from shared.errors import BoothaiError, InvalidInput, NotFound
from shared.late_results import QueueFinisher
from shared.pipeline import BoothAnswer, BoothPipeline
from shared.repository import Repository
from shared.share_links import ShareLinks, share_base


@dataclass(frozen=True)
class BoothVisit:
    slot: Slot
    tenant: Tenant
    deadline: BoothDeadline
    shot: Shot  # this request's entry in the slot's trace


@dataclass(frozen=True)
class Admitted:
    """A visit whose upload password was right: only this can be processed."""

    visit: BoothVisit


class Gate:
    """The password check of one visit, done once: `check` as soon as the form's password
    field is read (a wrong one stops the read there), `admit` after the whole form."""

    def __init__(self, ingest: BoothIngest, visit: BoothVisit, client: str) -> None:
        self._ingest = ingest
        self._visit = visit
        self._client = client
        self._passed = False

    async def check(self, password: str) -> None:
        if self._passed:
            return
        async with self._visit.deadline.storage_within("checking the upload password"):
            await self._ingest.auth.booth(self._visit.tenant, password, self._client)
        self._passed = True

    async def admit(self, password: str) -> Admitted:
        await self.check(password)
        return Admitted(self._visit)


class BoothIngest:
    # The link → slot lookup and the slot's account; the account's upload password and its
    # own provider keys are sealed with a key derived from the signing key
    # (shared/secret_box.py).
    ACCESS = Access(tables={"lookups": Level.READ, "slots": Level.READ, "tenants": Level.READ},
                    secrets=frozenset({Secret.SIGNING_KEY}))

    @classmethod
    def access(cls) -> Access:
        # QueueFinisher: on AWS a late slot's job goes to the finisher function's queue
        # (shared/late_results.py); embedded, the process itself finishes it.
        # ShareLinks: the pipeline makes a job's share link where the booth's answer carries
        # its QR code (a slot's `when_late` / `qr_on_results`).
        return union(cls.ACCESS, Authenticator.ACCESS, BoothPipeline.access(), BoothTrace.ACCESS,
                     QueueFinisher.ACCESS, ShareLinks.ACCESS)

    def __init__(self, *, settings: Settings, repo: Repository, auth: Authenticator,
                 pipeline: BoothPipeline, trace: BoothTrace) -> None:
        self.settings = settings
        self.repo = repo
        self.auth = auth
        self.pipeline = pipeline
        self.trace = trace

    async def open(self, token: str, *, received_at: float) -> BoothVisit:
        """The slot behind an upload link; NotFound for an unknown one."""
        deadline = BoothDeadline.from_arrival(received_at, self.settings)
        async with deadline.storage_within("looking up the upload link"):
            found = await self.repo.open_link(token)
        if found is None:
            raise NotFound("unknown upload link")
        slot, tenant = found
        return BoothVisit(slot=slot, tenant=tenant, deadline=deadline,
                          shot=self.trace.shot(slot, at=time.time()))

    async def refused_unread(self, token: str, exc: BoothaiError, *, status: int,
                             received_at: float) -> None:
        """Trace a request refused before its body was read (a body over the limit), when
        its link is known. Best effort: the refusal is answered whatever happens here."""
        try:
            visit = await self.open(token, received_at=received_at)
        except BoothaiError:  # unknown link, or the lookup failed: the log has the request
            return
        visit.shot.ended_by(exc, status=status)

    async def admission(self, visit: BoothVisit, client: str) -> Gate:
        """The visit's password gate; TooManyAttempts at once for a client that has used up
        its failures (before its body is read)."""
        async with visit.deadline.storage_within("checking the upload password"):
            await self.auth.booth_locked(client)
        return Gate(self, visit, client)

    async def admit(self, visit: BoothVisit, password: str, client: str) -> Admitted:
        """Admission and check in one step, for a caller that has the password already."""
        return await (await self.admission(visit, client)).admit(password)

    async def process(self, admitted: Admitted, photo: bytes | None, *,
                      form: Mapping[str, str] | None = None,
                      query: Mapping[str, str] | None = None,
                      request_base: str = "") -> BoothAnswer:
        """Run the slot on the photo (the form's `fileToUpload`); its prompt filled from the
        form's text fields and the link's query string (shared/prompt_fields.py).
        `request_base`: the address the booth reached, where the job's share page is served
        unless `BOOTHAI_SHARE_BASE_URL` says otherwise (the QR code a slot may print)."""
        if photo is None:
            raise InvalidInput("the form has no fileToUpload file", field="fileToUpload")
        visit = admitted.visit
        answer = await self.pipeline.process(visit.slot, photo, deadline=visit.deadline,
                                             source=JobSource.BOOTH, on_job=visit.shot.accepted,
                                             own_keys=visit.tenant.own_keys,
                                             fields=prompt_fields.values(form, query),
                                             share_base=share_base(self.settings.share_base_url,
                                                                   request_base))
        visit.shot.answered(answer.job)
        return answer
