"""The booth pipeline: one guest photo in, one processed photo out, inside the booth window.

    1. Check the slot can run                     → SlotNotReady (409)
    2. Validate and prepare the photo             → UnsupportedMedia (415) / PayloadTooLarge (413)
    3. Store the original and open the job        → StorageUnavailable (503); nothing reached a provider
    4. Run the provider, then the fallback one    → under the deadline
    5. Success: store the result, close the job, count it
    6. Failure: close the job with its reason, move the original to trash/, count it;
       answer with the original photo when the slot opts in, else raise (502 / 504)

After the answer, on the side: the job's thumbnails for the operator (shared/thumbnails.py).

Every job ends done or failed. The answer never waits past the window: bookkeeping that
is still running when time is up finishes in the background.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from shared import object_keys, prompt_fields, thumbnails
from shared.access import Access, Level, union
from shared.concurrency import run_cpu, run_io
from shared.config import Settings
from shared.deadline import BoothDeadline
from shared.domain import (
    Job,
    JobSource,
    JobStatus,
    ProviderName,
    Slot,
    new_job_id,
    one_line,
    reason_code,
)
from shared.errors import (
    BoothaiError,
    DeadlineExceeded,
    NotFound,
    PayloadTooLarge,
    ProviderFailed,
    SlotNotReady,
    StorageUnavailable,
    UnsupportedMedia,
)
from shared.failure_causes import cause_of
from shared.images import (
    PreparedImage,
    check_complete,
    fit_bytes,
    is_cheap_to_check,
    prepare_photo,
    prepare_photo_cheaply,
    sniff_mime,
)
from shared.observability import record_attempt, record_job
from shared.ports import ObjectStore
from shared.provider_keys import OwnKey, in_effect
from shared.providers import ProviderRegistry, declared_access
from shared.providers.base import Provider, ProviderImage, ProviderJob
from shared.repository import Repository
from shared.secret_box import SealedSecretError
from shared.slot_rules import slot_problem

log = logging.getLogger("boothai.pipeline")


@dataclass(frozen=True)
class BoothAnswer:
    image: bytes
    mime: str
    job: Job
    served_original: bool = False


class BoothPipeline:
    # What the pipeline itself touches; each provider declares its own (see access()).
    ACCESS = Access(
        tables={"jobs": Level.WRITE, "stats": Level.WRITE},
        objects={object_keys.ORIGINALS: Level.CRUD, object_keys.RESULTS: Level.WRITE,
                 object_keys.TRASH: Level.WRITE, object_keys.REFERENCES: Level.READ},
    )

    @classmethod
    def access(cls) -> Access:
        """The pipeline with every provider it may run."""
        return union(cls.ACCESS, declared_access())

    def __init__(
        self,
        *,
        settings: Settings,
        repo: Repository,
        store: ObjectStore,
        providers: ProviderRegistry,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.store = store
        self.providers = providers
        self._background: set[asyncio.Task] = set()
        self._references: dict[tuple[str, float], bytes] = {}

    async def process(
        self,
        slot: Slot,
        upload: bytes,
        *,
        deadline: BoothDeadline,
        source: JobSource = JobSource.BOOTH,
        on_job: Callable[[Job], None] | None = None,
        own_keys: Mapping[ProviderName, OwnKey] | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> BoothAnswer:
        """`on_job` is told of the job as it opens (the booth's trace links the request to
        it); a request refused before that never becomes a job. `own_keys`: the account's
        own provider keys; a provider that takes a key calls with the account's, else the
        deployment's (shared/provider_keys.py). `fields`: the booth's form and query values
        the slot's prompt may use (shared/prompt_fields.py)."""
        own_keys = own_keys or {}
        # 1. Check the slot can run
        attempts = self._providers_for(slot, check_enabled=source is JobSource.BOOTH,
                                       own_keys=own_keys)

        # 2. Validate and prepare the photo (on the CPU pool only when it must be decoded)
        max_side = min(p.max_side for p in attempts)
        max_pixels = self.settings.max_pixels
        photo = prepare_photo_cheaply(upload, max_side=max_side, max_pixels=max_pixels)
        if photo is None:
            photo = await run_cpu(
                lambda: prepare_photo(upload, max_side=max_side, max_pixels=max_pixels)
            )

        # 3. Store the original and open the job — before any provider runs
        now = time.time()
        job = Job(tenant=slot.tenant, job_id=new_job_id(), provider=slot.provider,
                  slot_index=slot.index, slot_name=slot.name, source=source, type=slot.type,
                  prompt=prompt_fields.fill(slot.prompt, slot.prompt_fields, fields or {}),
                  created_at=now)
        original_mime = sniff_mime(upload) or photo.mime
        job.original_key = object_keys.original(slot.tenant, job.job_id, now, original_mime)
        async with deadline.storage_within("storing the photo"):
            await self._put(job.original_key, upload, original_mime)
        async with deadline.storage_within("loading the reference image"):
            reference = await self._reference(slot)
        # The job is written once, already running: the original is safe at this point, and
        # a restart that finds it running closes it as failed and trashes the original.
        job.status, job.started_at = JobStatus.RUNNING, time.time()
        if on_job is not None:
            on_job(job)
        await self._record_running(job, deadline)

        # 4. Run the provider, then the fallback one, under the deadline
        result, error = await self._attempt_all(job, slot, attempts, photo, reference,
                                                deadline.providers_by, own_keys)

        # 5. Success: store the result, close the job, count it
        if result is not None:
            answer, closing = await self._succeed(job, result, deadline)
            self._spawn(self._thumbnails(job, photo.data, result.data, after=closing))
            return answer

        # 6. Failure: close the job, trash the original, answer the original or an error
        closing = await self._fail(job, error, deadline)
        self._spawn(self._thumbnails(job, photo.data, None, after=closing))
        if slot.fallback_to_original:
            return BoothAnswer(upload, original_mime, job, served_original=True)
        raise error

    # -- stage helpers ---------------------------------------------------------------------------
    def _providers_for(self, slot: Slot, *, check_enabled: bool,
                       own_keys: Mapping[ProviderName, OwnKey]) -> list[Provider]:
        """The provider, then the slot's fallback provider when it can serve this slot (and
        has a key to call with, where it takes one)."""
        if check_enabled and not slot.enabled:
            raise SlotNotReady(f"{slot.title} is disabled", code="slot_disabled")
        provider = self.providers.get(slot.provider)
        if provider is None:
            reason = self.providers.unavailable_reason(slot.provider)
            raise SlotNotReady(f"{slot.title}: the {slot.provider} provider is unavailable: "
                               f"{reason}", code="provider_unavailable")
        problem = slot_problem(slot, provider.capabilities, provider.label)
        if problem:
            raise SlotNotReady(problem.message, code=problem.code)
        # No key of the account's nor the deployment's: refused before the photo is stored
        # or any provider called, with what the operator must do.
        no_key = self.providers.key_problem(slot.provider, own_keys)
        if no_key:
            raise SlotNotReady(f"{slot.title} cannot run: {no_key}", code="no_key")
        chain = [provider]
        fallback = self.providers.get(slot.fallback_provider) if slot.fallback_provider else None
        if (fallback is not None and fallback is not provider
                and slot_problem(slot, fallback.capabilities, fallback.label) is None
                and self.providers.key_problem(fallback.name, own_keys) is None):
            chain.append(fallback)
        return chain

    async def _attempt_all(
        self,
        job: Job,
        slot: Slot,
        chain: list[Provider],
        photo: PreparedImage,
        reference: bytes | None,
        deadline: float,
        own_keys: Mapping[ProviderName, OwnKey],
    ) -> tuple[ProviderImage | None, BoothaiError]:
        error: BoothaiError = DeadlineExceeded("no provider ran")
        for position, provider in enumerate(chain):
            left = deadline - time.monotonic()
            if position > 0 and left < self.settings.fallback_min_seconds:
                break
            started, started_at = time.monotonic(), time.time()
            try:
                key = in_effect(self.settings, provider.name, own_keys).value
            except SealedSecretError:
                key = None  # the attempt fails below, saying what to do
                unreadable = ProviderFailed(
                    f"{provider.name}_key_unreadable",
                    f"the account's {provider.label} key does not open with this deployment's "
                    "key (was BOOTHAI_SIGNING_KEY changed?): enter the key again on its tab")
            else:
                unreadable = None
            request = ProviderJob(
                job_id=job.job_id, tenant=job.tenant, slot_index=slot.index, type=slot.type,
                prompt=job.prompt, photo=photo.data, photo_mime=photo.mime,
                photo_size=(photo.width, photo.height), deadline=deadline,
                reference=reference, reference_mime=slot.reference_mime,
                reference_key=slot.reference_key, model=slot.model, image_size=slot.image_size,
                key_tolerance=slot.key_tolerance,
                api_key=key,
            )
            try:
                async with asyncio.timeout(max(0.0, left)):
                    if unreadable is not None:
                        raise unreadable
                    result = await provider.run(request)
                    await self._check_result(provider, result)
                outcome, error = "done", None
            except TimeoutError:
                error = DeadlineExceeded(
                    f"{provider.name} did not answer within the booth window"
                )
                outcome = "deadline"
            except ProviderFailed as exc:
                error, outcome = exc, reason_code(exc.reason)
            except BoothaiError as exc:  # e.g. the GPU backend not ready: a named failure
                kind = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
                error = ProviderFailed(f"{provider.name}_{kind}", str(exc))
                outcome = error.reason
            except Exception:  # a provider bug must still end the job cleanly
                log.exception("provider %s crashed on job %s", provider.name, job.job_id)
                error = ProviderFailed(f"{provider.name}_error", f"{provider.name} failed")
                outcome = error.reason
            elapsed_ms = int((time.monotonic() - started) * 1000)
            # Wall-clock start and end for the operator's job viewer; `ms` is measured on the
            # monotonic clock (a clock step during the call cannot make it negative).
            job.attempts.append({"provider": str(provider.name), "outcome": outcome,
                                 "ms": elapsed_ms, "started_at": started_at,
                                 "finished_at": time.time()})
            record_attempt(provider=str(provider.name), outcome=outcome, ms=elapsed_ms)
            self._spawn(self._count(job.tenant, provider.name, error is None, elapsed_ms,
                                    tried=job.source is JobSource.TEST))
            if error is None:
                job.provider_ms = elapsed_ms
                return result, DeadlineExceeded("")
        return None, error

    async def _check_result(self, provider: Provider, result: ProviderImage) -> None:
        """Never hand a booth a truncated or garbage "image" with a 200."""
        def check() -> None:
            check_complete(result.data, max_pixels=self.settings.max_pixels)

        try:
            if is_cheap_to_check(result.data):
                check()
            else:
                await run_cpu(check)
        except (UnsupportedMedia, PayloadTooLarge):
            raise ProviderFailed(f"{provider.name}_bad_image",
                                 f"{provider.name} returned a broken image") from None

    async def _succeed(self, job: Job, result: ProviderImage,
                       deadline: BoothDeadline) -> tuple[BoothAnswer, asyncio.Task]:
        """Store the result and close the job as done; the answer, and the closing task."""
        mime = sniff_mime(result.data) or result.mime
        job.result_key = object_keys.result(job.tenant, job.job_id, job.created_at, mime)
        job.status, job.finished_at = JobStatus.DONE, time.time()
        job.total_ms = deadline.elapsed_ms()
        key = job.result_key

        def store_result() -> None:
            try:
                self.store.put(key, result.data, mime)
            except StorageUnavailable as exc:
                # The guest still gets the photo; the job says why the result is not kept.
                log.warning("job %s: result not stored: %s", job.job_id, exc)
                job.result_key, job.reason = None, "result_not_stored"

        # The result and then the job's row, on one worker thread (one hop, not two). The
        # guest gets the photo even if either is slow: they complete after, and the row
        # records what happened to the result.
        closing = await self._finish_soon(self.repo.put_job(job, first=store_result), deadline)
        self._record(job)
        data, mime = await self._fit_answer(job, result.data, mime)
        return BoothAnswer(data, mime, job), closing

    async def _fit_answer(self, job: Job, data: bytes, mime: str) -> tuple[bytes, str]:
        """The booth's copy of the result, within what this deployment can send back: on
        Lambda a 4K PNG would exceed the Function URL's 6 MB and reach the booth as a bare
        502. The stored result keeps the provider's full quality."""
        limit = self.settings.response_body_limit
        if limit is None or len(data) <= limit:
            return data, mime
        fitted, fitted_mime = await run_cpu(lambda: fit_bytes(data, max_bytes=limit))
        log.info("job %s: result of %d bytes sent to the booth as a %d-byte JPEG", job.job_id,
                 len(data), len(fitted))
        return fitted, fitted_mime

    async def _fail(self, job: Job, error: BoothaiError, deadline: BoothDeadline) -> asyncio.Task:
        """Close the job as failed (waited for while the window allows); the closing task."""
        job.status, job.finished_at = JobStatus.FAILED, time.time()
        # The code goes into a header and metrics, the words (a provider's own, maybe
        # Russian, maybe with line breaks) to the operator: each made safe for where it goes.
        job.reason = reason_code(getattr(error, "reason", None) or (
            "deadline" if isinstance(error, DeadlineExceeded) else "error"
        ))
        job.detail = one_line(str(error))
        job.cause = cause_of(job.reason)
        job.total_ms = deadline.elapsed_ms()
        closing = await self._finish_soon(self._close_failed(job), deadline)
        self._record(job)
        return closing

    async def _close_failed(self, job: Job) -> None:
        await close_failed(job, store=self.store, repo=self.repo)

    async def _thumbnails(self, job: Job, photo: bytes, result: bytes | None, *,
                          after: asyncio.Task) -> None:
        """The operator's thumbnails of the job's images, once the booth has its answer and
        the job is closed (`after`): under the keys the images end at (a failed job's
        original in trash/; no result thumbnail when the result could not be stored). The
        original's is made from the prepared photo: the same picture, upright, and a 24 MP
        shot is not decoded twice."""
        await asyncio.wait([after])
        max_pixels = self.settings.max_pixels
        if job.original_key:
            await thumbnails.make(self.store, job.original_key, photo, max_pixels=max_pixels)
        if job.result_key and result is not None:
            await thumbnails.make(self.store, job.result_key, result, max_pixels=max_pixels)

    async def _count(self, tenant: str, provider: ProviderName, done: bool, ms: int, *,
                     tried: bool) -> None:
        await self.repo.count(tenant=tenant, provider=provider, done=done,
                              latency_ms=ms if done else 0, at=time.time(), tried=tried)

    @staticmethod
    def _record(job: Job) -> None:
        record_job(job_id=job.job_id, tenant=job.tenant, provider=str(job.provider),
                   status=str(job.status), reason=job.reason, total_ms=job.total_ms)

    async def _record_running(self, job: Job, deadline: BoothDeadline) -> None:
        """Write the job as running. When the table is down or too slow for the window the
        booth gets 503, and the job must not stay `running`: once the (late) write has landed
        or failed, close it as failed and trash the original."""
        write = asyncio.ensure_future(self.repo.put_job(job))
        try:
            async with deadline.storage_within("recording the job"):
                await asyncio.shield(write)
        except StorageUnavailable:
            job.status, job.reason, job.finished_at = JobStatus.FAILED, "storage_unavailable", time.time()
            job.cause = cause_of(job.reason)

            async def close_after_write() -> None:
                await asyncio.wait([write])
                if not write.cancelled():
                    write.exception()  # retrieved: the failure is the reason just recorded
                await self._close_failed(job)

            self._spawn(close_after_write())
            self._record(job)
            raise

    # -- plumbing --------------------------------------------------------------------------------
    async def _finish_soon(self, work: Awaitable[None], deadline: BoothDeadline) -> asyncio.Task:
        """Run bookkeeping; wait for it while the window allows, then let it finish alone."""
        task = self._spawn(work)
        await asyncio.wait([task], timeout=deadline.left())
        return task

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background bookkeeping failed: %r", task.exception())

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for background bookkeeping (shutdown, tests)."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout)

    async def _put(self, key: str, data: bytes, mime: str) -> None:
        await run_io(lambda: self.store.put(key, data, mime))

    async def _reference(self, slot: Slot) -> bytes | None:
        if not slot.reference_key:
            return None
        cache_key = (slot.reference_key, slot.updated_at)
        if cache_key not in self._references:
            key = slot.reference_key
            data = await run_io(lambda: self.store.get(key))
            if len(self._references) > 64:
                self._references.clear()
            self._references[cache_key] = data
        return self._references[cache_key]


async def close_failed(job: Job, *, store: ObjectStore, repo: Repository) -> None:
    """Write a failed job, its original moved to trash/ first (restart recovery too)."""
    job.cause = job.cause or cause_of(job.reason)
    if object_keys.is_original(job.original_key):
        original = job.original_key
        trash_key = object_keys.trash_for(original)
        try:
            await run_io(lambda: store.move(original, trash_key))
            job.original_key = trash_key
        except NotFound:
            pass
    await repo.put_job(job)
