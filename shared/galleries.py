"""Event galleries: one public page (`/g/{token}`) with the thumbnails of an event's photos,
for its guests, until it expires or the operator revokes it (issue 15).

A gallery names one or more of its account's own slots (`gemini#03`) and the event's time:
from `since` (the UI sends the local midnight of the day the operator picks; the API's
default is 00:00 UTC of the day it is made) to `until` (None: open, photos keep appearing
while the link lives). The time is part of the gallery, not a detail: a booth operator
reuses a slot for the next client's event, and last week's guests must not show up in
this week's gallery, nor the other way round. Its photos are the slots' booth jobs that
are done with a result within that time: never a Try it run, never a failed job (the
guest got the original; a gallery shows the AI results the event was about).

Stored like share links (shared/share_links.py): in `lookups`, two items per gallery, each
a whole copy of it, both carrying `expires_at` (DynamoDB's TTL attribute; the embedded
sqlite hides expired items on read, and `open` checks the clock again):

  lookups  "gallery#{token}" / "-"             the page's lookup: one read per page view
  lookups  "galleries#{tenant}" / {gallery_id}  the operator's list (one query), revocation

Revoking deletes both. The token (192 bits from `secrets`) is the whole secret; it names
neither the account nor the slots, and the page reaches only jobs of its own account
(they are read under the gallery's tenant) that the gallery covers (`Gallery.covers`).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.access import Access, Level
from shared.concurrency import run_io
from shared.domain import (
    SHARE_DAYS_MAX,
    SHARE_DAYS_MIN,
    Job,
    JobSource,
    JobStatus,
    ProviderName,
    new_token,
    one_line,
    slot_key,
)
from shared.errors import InvalidInput
from shared.ports import Tables
from shared.repository import Repository

DAY = 86400
TOKEN_BYTES = 24  # 32 URL-safe characters, as share links
MAX_TOKEN_CHARS = 64
# A gallery lives as long as a share link may (1..90 days, 7 unless said).
DAYS_MIN, DAYS_MAX, DEFAULT_DAYS = SHARE_DAYS_MIN, SHARE_DAYS_MAX, 7
MAX_NAME_CHARS = 60
MAX_SLOTS = 20  # an event uses a handful of booths; a bound keeps the check's reads bounded
MAX_GALLERIES = 100  # live ones per account: the operator's list is one query, not a scroll

# One page of the public grid; on a phone that is 20 rows of three thumbnails (256 px each,
# ~15 KB: under 1 MB a page).
PAGE_SIZE = 60
# Jobs read at most for one page: the walk goes through all of the account's jobs (every
# slot's, Try it runs, failures), so a gallery of one slot in a busy account could read
# far. Past this the page ends early with an "older photos" link that continues the walk.
MAX_SCAN = 1000
_BATCH = 200
# Job ids and created_at are taken a moment apart (shared/pipeline.py): a job id bounds the
# walk only with this much room; membership itself is by created_at.
_CLOCK_SLACK = 60.0

_SLOT_KEY = re.compile(r"^([a-z]+)#(\d{2})$")
_ID = re.compile(r"^[0-9a-f]{1,40}$")


def gallery_path(token: str) -> str:
    return f"/g/{token}"


def gallery_url(base: str, token: str) -> str:
    """The gallery's full address under `base` (OperatorConsole.share_base: the pages are
    served with the console, like share pages)."""
    return f"{base.rstrip('/')}{gallery_path(token)}"


def job_id_at(ts: float) -> str:
    """The smallest job id made at `ts` or later (shared/domain.new_job_id: 13 hex digits of
    milliseconds, then random): where a walk by id starts or stops for a time."""
    return f"{max(0, int(ts * 1000)):013x}"


def is_job_id(value: str) -> bool:
    return bool(_ID.match(value or ""))


def parse_slot(text: str, enabled: Iterable[ProviderName]) -> tuple[ProviderName, int]:
    """`gemini#03` → (gemini, 3): a slot of a tab enabled here, named as the slot cards and
    the job list name it. Anything else (an upload token, another account's name in it) is
    refused by its shape: a gallery can only ever name the caller's own slots."""
    match = _SLOT_KEY.match(text.strip().lower())
    names = {str(p) for p in enabled}
    if not match or match.group(1) not in names:
        raise InvalidInput(f"{text!r} is not a slot: write it as provider#number, e.g. "
                           f"{next(iter(sorted(names)), 'local')}#01", field="slots")
    return ProviderName(match.group(1)), int(match.group(2))


def default_since(now: float) -> float:
    """00:00 UTC of the day of `now`: a gallery made during or just after an event holds
    that day's photos unless the operator says when the event began."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


@dataclass(frozen=True)
class Gallery:
    token: str
    gallery_id: str
    tenant: str
    name: str
    slots: tuple[str, ...]  # slot keys, `gemini#03`
    since: float
    until: float | None
    created_at: float
    expires_at: int

    @property
    def path(self) -> str:
        return gallery_path(self.token)

    def covers(self, job: Job) -> bool:
        """A guest's finished photo of this event: a booth job (never Try it) of this
        account, done with a result, from one of the gallery's slots, within its time."""
        return (job.tenant == self.tenant and job.source is JobSource.BOOTH
                and job.status is JobStatus.DONE and bool(job.result_key)
                and slot_key(job.provider, job.slot_index) in self.slots
                and self.since <= job.created_at
                and (self.until is None or job.created_at < self.until))

    def to_item(self) -> dict:
        return {"token": self.token, "gallery_id": self.gallery_id, "tenant": self.tenant,
                "name": self.name, "slots": list(self.slots), "since": self.since,
                "until": self.until, "created_at": self.created_at,
                "expires_at": self.expires_at}

    @classmethod
    def from_item(cls, item: dict) -> Gallery:
        until = item.get("until")
        return cls(token=item["token"], gallery_id=item["gallery_id"], tenant=item["tenant"],
                   name=item["name"], slots=tuple(str(s) for s in item.get("slots") or ()),
                   since=float(item["since"]),
                   until=float(until) if until is not None else None,
                   created_at=float(item["created_at"]), expires_at=int(item["expires_at"]))


def _token_pk(token: str) -> str:
    return f"gallery#{token}"


def _tenant_pk(tenant: str) -> str:
    return f"galleries#{tenant}"


def _new_gallery_id(now: float) -> str:
    # Time-ordered: the operator's list comes out of one query newest first.
    return f"{int(now * 1000):013x}{secrets.token_hex(3)}"


class Galleries:
    """Make, list, open and revoke galleries. The console makes and revokes them (CRUD); the
    public page only opens them (`READER`)."""

    ACCESS = Access(tables={"lookups": Level.CRUD})
    READER = Access(tables={"lookups": Level.READ})

    def __init__(self, tables: Tables, clock: Callable[[], float] = time.time) -> None:
        self.tables = tables
        self.clock = clock

    async def create(self, *, tenant: str, name: str, slots: Iterable[str], days: int,
                     since: float | None = None, until: float | None = None) -> Gallery:
        """A new gallery of `slots` (keys the caller has checked are the account's own,
        OperatorConsole.make_gallery), living `days` from now."""
        now = self.clock()
        title = one_line(name, MAX_NAME_CHARS)
        if not title:
            raise InvalidInput("give the gallery a name: guests see it as the page's title",
                               field="name")
        if not DAYS_MIN <= days <= DAYS_MAX:
            raise InvalidInput(f"a gallery lives {DAYS_MIN} to {DAYS_MAX} days", field="days")
        keys = tuple(dict.fromkeys(slots))  # in the operator's order, each once
        if not 1 <= len(keys) <= MAX_SLOTS:
            raise InvalidInput(f"choose 1 to {MAX_SLOTS} slots", field="slots")
        since = default_since(now) if since is None else float(since)
        if until is not None and until <= since:
            raise InvalidInput("the event must end after it begins", field="until")
        if len(await self.list(tenant)) >= MAX_GALLERIES:
            raise InvalidInput(f"this account has {MAX_GALLERIES} live galleries: revoke one "
                               "first", field="name", code="too_many_galleries")
        gallery = Gallery(token=new_token(TOKEN_BYTES), gallery_id=_new_gallery_id(now),
                          tenant=tenant, name=title, slots=keys, since=since,
                          until=float(until) if until is not None else None,
                          created_at=now, expires_at=int(now + days * DAY))
        item = gallery.to_item()

        def write() -> None:  # the token item first: a listed gallery never points at nothing
            self.tables.put("lookups", {"pk": _token_pk(gallery.token), "sk": "-", **item},
                            if_absent=True)
            self.tables.put("lookups", {"pk": _tenant_pk(tenant), "sk": gallery.gallery_id,
                                        **item})

        await run_io(write)
        return gallery

    async def list(self, tenant: str) -> list[Gallery]:
        """The account's live galleries, newest first."""
        items = await run_io(lambda: self.tables.query("lookups", _tenant_pk(tenant),
                                                       descending=True))
        return [Gallery.from_item(i) for i in items if self._live(i)]

    async def get(self, tenant: str, gallery_id: str) -> Gallery | None:
        if not gallery_id.isalnum() or len(gallery_id) > 40:
            return None
        item = await run_io(lambda: self.tables.get("lookups", _tenant_pk(tenant), gallery_id))
        return Gallery.from_item(item) if item and self._live(item) else None

    async def revoke(self, tenant: str, gallery_id: str) -> bool:
        """Forget the gallery (both items): its page answers 404 from now on. False when the
        account has no such gallery."""
        if not gallery_id.isalnum() or len(gallery_id) > 40:
            return False

        def delete() -> bool:
            item = self.tables.get("lookups", _tenant_pk(tenant), gallery_id)
            if not item:
                return False
            # The page's item first: the link is dead even if the second delete never runs,
            # and a second revoke finishes the job.
            self.tables.delete("lookups", _token_pk(item["token"]), "-")
            self.tables.delete("lookups", _tenant_pk(tenant), gallery_id)
            return True

        return await run_io(delete)

    async def open(self, token: str) -> Gallery | None:
        """The gallery behind `token` while it lives; None for anything else (unknown,
        expired, revoked, malformed), with no difference the caller could tell apart."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        item = await run_io(lambda: self.tables.get("lookups", _token_pk(token), "-"))
        if not item or not self._live(item):
            return None
        return Gallery.from_item(item)

    def _live(self, item: dict) -> bool:
        # DynamoDB deletes expired items up to days late, and the adapters filter them; a
        # moved clock (tests) is checked here too.
        return int(item.get("expires_at") or 0) > self.clock()


# -- which photos: a walk through the account's jobs ----------------------------------------------
@dataclass(frozen=True)
class PhotoPage:
    jobs: list[Job]  # newest first
    older: str | None  # where the next page continues (`?before=`); None: no older photos


async def photos(repo: Repository, gallery: Gallery, *, before: str | None = None,
                 limit: int = PAGE_SIZE, max_scan: int = MAX_SCAN) -> PhotoPage:
    """The gallery's photos newest first, older than the job id `before` (the previous
    page's `older`). The jobs table holds the account's jobs by id, so this walks them
    newest first from the event's end (or `before`) to its beginning, keeping the ones the
    gallery covers, and reads at most `max_scan` jobs: a page may end early with an
    `older` to continue from. One more covered job is looked for than is returned, so the
    last page says there is nothing older instead of leading to an empty one."""
    start = before
    if gallery.until is not None:
        end = job_id_at(gallery.until + _CLOCK_SLACK)
        start = min(start, end) if start is not None else end
    stop = gallery.since - _CLOCK_SLACK
    found: list[Job] = []
    scanned = 0
    cursor = start
    while scanned < max_scan:
        want = min(_BATCH, max_scan - scanned)
        batch = await repo.jobs_page(gallery.tenant, start_after=cursor, limit=want)
        for job in batch:
            scanned += 1
            cursor = job.job_id
            if job.created_at < stop:
                return PhotoPage(found[:limit], None)
            if gallery.covers(job):
                found.append(job)
                if len(found) > limit:
                    return PhotoPage(found[:limit], found[limit - 1].job_id)
        if len(batch) < want:  # the account has no older jobs
            return PhotoPage(found[:limit], None)
    # Read as far as one page may: continue from the last job read.
    return PhotoPage(found[:limit], cursor)


async def neighbours(repo: Repository, gallery: Gallery, job_id: str, *,
                     max_scan: int = MAX_SCAN) -> tuple[str | None, str | None]:
    """The ids of the gallery's next newer and next older photo around `job_id` (the photo
    page's arrows), each found within `max_scan` jobs read."""
    found = (await photos(repo, gallery, before=job_id, limit=1, max_scan=max_scan)).jobs
    older = found[0].job_id if found else None
    end = gallery.until + _CLOCK_SLACK if gallery.until is not None else None
    cursor, scanned = job_id, 0
    while scanned < max_scan:  # oldest first from the photo: the next covered job is newer
        want = min(_BATCH, max_scan - scanned)
        batch = await repo.jobs_page(gallery.tenant, start_after=cursor, newest_first=False,
                                     limit=want)
        for job in batch:
            scanned += 1
            cursor = job.job_id
            if end is not None and job.created_at >= end:
                return None, older
            if gallery.covers(job):
                return job.job_id, older
        if len(batch) < want:
            break
    return None, older
