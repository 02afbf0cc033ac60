"""Public event galleries: what a guest's phone sees at `/g/{token}`, with no account.

A token opens one gallery (shared/galleries.py): a page of its photos' thumbnails, newest
first, and each photo on its own page with the picture and a download. Its images are
served only through the token and a job id the gallery covers (`Gallery.covers`: read
under the gallery's own account, so another account's job id is simply not there), never by
object key. Everything else — an unknown, expired or revoked token, a job of another slot
or account, a Try it run, a failed job, a malformed id — is one and the same NotFound.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import object_keys
from shared.access import Access, Level
from shared.domain import Job
from shared.errors import NotFound
from shared.galleries import Galleries, Gallery, is_job_id, neighbours, photos
from shared.media import Media, StoredImage
from shared.repository import Repository

NOT_FOUND = "no such page"


@dataclass(frozen=True)
class GalleryPage:
    name: str
    expires_at: int
    job_ids: list[str]  # newest first
    older: str | None  # the next page's `before`, None on the last page
    first: bool  # the newest page (no `before`)


@dataclass(frozen=True)
class GalleryPhoto:
    name: str
    expires_at: int
    job_id: str
    newer: str | None
    older: str | None


class GalleryPages:
    # Only results: a gallery shows the AI results, never an original (nor trash/).
    ACCESS = Access(tables={"jobs": Level.READ}, objects={object_keys.RESULTS: Level.READ})

    @classmethod
    def access(cls) -> Access:
        return cls.ACCESS | Galleries.READER

    def __init__(self, *, galleries: Galleries, repo: Repository, media: Media) -> None:
        self.galleries = galleries
        self.repo = repo
        self.media = media

    async def _open(self, token: str) -> Gallery:
        gallery = await self.galleries.open(token)
        if gallery is None:
            raise NotFound(NOT_FOUND)
        return gallery

    async def _photo(self, token: str, job_id: str) -> tuple[Gallery, Job]:
        gallery = await self._open(token)
        job = await self.repo.get_job(gallery.tenant, job_id) if is_job_id(job_id) else None
        if job is None or not gallery.covers(job):
            raise NotFound(NOT_FOUND)
        return gallery, job

    async def page(self, token: str, before: str | None = None) -> GalleryPage:
        if before is not None and not is_job_id(before):
            raise NotFound(NOT_FOUND)
        gallery = await self._open(token)
        found = await photos(self.repo, gallery, before=before)
        return GalleryPage(gallery.name, gallery.expires_at, [j.job_id for j in found.jobs],
                           found.older, before is None)

    async def photo(self, token: str, job_id: str) -> GalleryPhoto:
        gallery, job = await self._photo(token, job_id)
        newer, older = await neighbours(self.repo, gallery, job.job_id)
        return GalleryPhoto(gallery.name, gallery.expires_at, job.job_id, newer, older)

    async def image(self, token: str, job_id: str, *, thumb: bool = False) -> StoredImage:
        """The photo's result, whole or as its stored 256 px thumbnail."""
        _, job = await self._photo(token, job_id)
        if not job.result_key:  # covers() holds it already; said again for the type
            raise NotFound(NOT_FOUND)
        return await self.media.read(job.result_key, thumb=thumb)
