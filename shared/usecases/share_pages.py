"""Public share pages: what a guest's phone sees at `/s/{token}`, with no account.

A token opens one job: its page state (done with a result, still working, or failed) and
its two images, served only through the token (`/s/{token}/result`, `/original`), never by
object key. Everything that does not lead to a live link of a slot that still allows share
pages — an unknown, expired or revoked token, a job or slot gone, share pages switched off
on the slot since — is one and the same NotFound.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared import object_keys
from shared.access import Access, Level
from shared.domain import Job, JobStatus
from shared.errors import NotFound
from shared.media import Media, StoredImage
from shared.repository import Repository
from shared.share_links import ShareLinks

NOT_FOUND = "no such page"


class PageState(StrEnum):
    DONE = "done"  # the AI result, with a download button
    WORKING = "working"  # the original; the page refreshes itself
    FAILED = "failed"  # the original, with a kind sentence


@dataclass(frozen=True)
class SharedJob:
    state: PageState
    has_original: bool
    expires_at: int


def page_state(job: Job) -> PageState:
    if job.status is JobStatus.DONE and job.result_key:
        return PageState.DONE
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        return PageState.WORKING
    return PageState.FAILED


class SharePages:
    ACCESS = Access(tables={"jobs": Level.READ, "slots": Level.READ},
                    objects={object_keys.ORIGINALS: Level.READ, object_keys.RESULTS: Level.READ,
                             object_keys.TRASH: Level.READ})

    @classmethod
    def access(cls) -> Access:
        return cls.ACCESS | ShareLinks.READER

    def __init__(self, *, links: ShareLinks, repo: Repository, media: Media) -> None:
        self.links = links
        self.repo = repo
        self.media = media

    async def _job(self, token: str) -> tuple[Job, int]:
        link = await self.links.open(token)
        job = link and await self.repo.get_job(link.tenant, link.job_id)
        if not job:
            raise NotFound(NOT_FOUND)
        try:
            slot = await self.repo.get_slot(job.tenant, job.provider, job.slot_index)
        except NotFound:
            raise NotFound(NOT_FOUND) from None
        if not slot.share_pages:  # switched off since the link was made
            raise NotFound(NOT_FOUND)
        return job, link.expires_at

    async def page(self, token: str) -> SharedJob:
        job, expires_at = await self._job(token)
        return SharedJob(page_state(job), bool(job.original_key), expires_at)

    async def image(self, token: str, which: str) -> StoredImage:
        """The job's result (only once done) or original (wherever the job points: trash/
        for a failed one)."""
        job, _ = await self._job(token)
        if which == "result":
            key = job.result_key if page_state(job) is PageState.DONE else None
        elif which == "original":
            key = job.original_key
        else:
            key = None
        if not key:
            raise NotFound(NOT_FOUND)
        return await self.media.read(key)
