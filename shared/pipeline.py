"""The booth pipeline: one guest photo in, one processed photo out, inside the booth window.

    1. Check the slot can run                     → SlotNotReady (409)
    2. Validate and prepare the photo             → UnsupportedMedia (415) / PayloadTooLarge (413)
    3. Store the original and open the job        → StorageUnavailable (503); nothing reached a provider
    4. Run the provider, then the fallback one    → under the deadline; a slot that answers
       late hands the job to a finisher and waits for it until the window's cut
       (shared/late_results.py): still working then, the booth gets the original
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

from shared import object_keys, prompt_fields, qr_stamp, thumbnails
from shared.access import Access, Level, union
from shared.concurrency import run_cpu, run_io
from shared.config import Settings
from shared.deadline import BoothDeadline
from shared.domain import (
    Job,
    JobSource,
    JobStatus,
    LateAnswer,
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
from shared.late_results import (
    STAMP_LEAD_SECONDS,
    Finished,
    Finisher,
    LateOrder,
    LateWork,
    error_of,
)
from shared.observability import record_attempt, record_job
from shared.ports import ObjectStore
from shared.provider_keys import OwnKey, in_effect
from shared.providers import ProviderRegistry, declared_access
from shared.providers.base import Provider, ProviderImage, ProviderJob
from shared.repository import Repository
from shared.secret_box import SealedSecretError
from shared.share_links import ShareLinks, share_url
from shared.slot_rules import slot_problem

log = logging.getLogger("boothai.pipeline")


@dataclass(frozen=True)
class BoothAnswer:
    image: bytes
    mime: str
    job: Job
    served_original: bool = False
    late: bool = False  # the window ran out: the original, the job still working
    share_url: str | None = None  # the job's share page, where the answer carries its QR code


class BoothPipeline:
    # What the pipeline itself touches; each provider declares its own (see access()).
    # jobs READ: the AWS finisher reads a handed-over job back (resume).
    ACCESS = Access(
        tables={"jobs": Level.CRUD, "stats": Level.WRITE},
        objects={object_keys.ORIGINALS: Level.CRUD, object_keys.RESULTS: Level.WRITE,
                 object_keys.TRASH: Level.WRITE, object_keys.REFERENCES: Level.READ},
    )

    @classmethod
    def access(cls) -> Access:
        """The pipeline with every provider it may run. The share links a booth's QR codes
        open are the booth's to declare (BoothIngest): only its requests make them."""
        return union(cls.ACCESS, declared_access())

    def __init__(
        self,
        *,
        settings: Settings,
        repo: Repository,
        store: ObjectStore,
        providers: ProviderRegistry,
        finisher: Finisher | None = None,
        shares: ShareLinks | None = None,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.store = store
        self.providers = providers
        # Where a slot's late jobs go on (shared/late_results.py); None: nowhere (a Lambda
        # function without the finisher queue), and late slots answer in the window.
        self.finisher = finisher
        self.shares = shares
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
        share_base: str | None = None,
    ) -> BoothAnswer:
        """`on_job` is told of the job as it opens (the booth's trace links the request to
        it); a request refused before that never becomes a job. `own_keys`: the account's
        own provider keys; a provider that takes a key calls with the account's, else the
        deployment's (shared/provider_keys.py). `fields`: the booth's form and query values
        the slot's prompt may use (shared/prompt_fields.py). `share_base`: where the job's
        share page is served, for the QR code a slot may print (shared/share_links.py)."""
        own_keys = own_keys or {}
        # 1. Check the slot can run
        attempts = self._providers_for(slot, check_enabled=source is JobSource.BOOTH,
                                       own_keys=own_keys)

        # 2. Validate and prepare the photo (on the CPU pool only when it must be decoded)
        photo = await self._prepare(upload, attempts)

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
        share = await self._share_link(job, slot, deadline, share_base)

        # 4. Run the provider, then the fallback one: a slot that answers late hands the job
        #    over and waits for it until the cut; else under the window's deadline
        if self._answers_late(slot, source):
            order = LateOrder(job.tenant, job.job_id, str(slot.provider), slot.index,
                              finish_by=_wall(deadline.received_at + slot.late_limit_seconds),
                              booth_until=_wall(deadline.providers_by))
            answer = await self._hand_over(
                LateWork(order, job, slot, attempts, photo, reference, own_keys),
                deadline, upload, original_mime, share)
            if answer is not None:
                return answer
        result, error = await self._attempt_all(job, slot, attempts, photo, reference,
                                                deadline.providers_by, own_keys)

        # 5. Success: store the result, close the job, count it
        if result is not None:
            answer, closing = await self._succeed(job, slot, result, deadline, share)
            self._spawn(self._thumbnails(job, photo.data, result.data, after=closing))
            return answer

        # 6. Failure: close the job, trash the original, answer the original or an error
        closing = await self._fail(job, error, deadline)
        self._spawn(self._thumbnails(job, photo.data, None, after=closing))
        if slot.fallback_to_original:
            return BoothAnswer(upload, original_mime, job, served_original=True)
        raise error

    # -- late results (shared/late_results.py) ------------------------------------------------
    def _answers_late(self, slot: Slot, source: JobSource) -> bool:
        return (source is JobSource.BOOTH and slot.when_late is not LateAnswer.ERROR
                and self.finisher is not None)

    async def _hand_over(self, work: LateWork, deadline: BoothDeadline, upload: bytes,
                         original_mime: str, share: str | None) -> BoothAnswer | None:
        """Hand the job to the finisher and wait for it until the window's cut: its answer
        if it ended by then, else the original (stamped with the share page's QR code).
        None when it could not be handed over: the caller runs it in the window."""
        assert self.finisher is not None
        job, slot, cut = work.job, work.slot, deadline.providers_by
        try:
            async with deadline.storage_within("handing the job to the finisher"):
                running = await self.finisher.hand_over(work, self.finish)
        except StorageUnavailable as exc:
            log.warning("job %s: not handed over (%s): it runs in the booth's window",
                        job.job_id, exc)
            return None
        qr = slot.when_late is LateAnswer.ORIGINAL_QR and share is not None
        finished = await running.wait(until=cut - STAMP_LEAD_SECONDS if qr else cut)
        stamping = None
        if finished is None and qr:
            stamping = asyncio.ensure_future(self._stamp(upload, share, slot.printed_late_text))
            finished = await running.wait(until=cut)
        if finished is not None:
            return await self._answer_finished(finished, slot, upload, original_mime, share,
                                               deadline)
        # The window ran out: the guest gets the original now, the AI photo follows
        image, mime = upload, original_mime
        if stamping is not None:
            await asyncio.wait([stamping], timeout=deadline.left())
            if stamping.done() and stamping.exception() is None:
                # Re-encoded, the stamped photo may outgrow the answer the original fitted
                # in (Lambda's 4 MB): fitted like a result, the code scaled with the photo.
                image, mime = await self._fit_answer(job, *stamping.result())
            else:
                log.warning("job %s: the original goes out without its QR code (%s)",
                            job.job_id, "too slow" if not stamping.done() else stamping.exception())
        log.info("job %s: the window ran out; the booth gets the original, the job goes on",
                 job.job_id)
        return BoothAnswer(image, mime, job, served_original=True, late=True, share_url=share)

    async def _answer_finished(self, finished: Finished, slot: Slot, upload: bytes,
                               original_mime: str, share: str | None,
                               deadline: BoothDeadline) -> BoothAnswer:
        """A handed-over job that ended inside the window, answered as any other."""
        job = finished.job
        if job.status is JobStatus.DONE and finished.result is not None:
            data, mime = await self._booth_copy(job, slot, finished.result,
                                                finished.mime or "image/jpeg", share, deadline)
            return BoothAnswer(data, mime, job, share_url=share)
        if job.status is JobStatus.DONE or slot.fallback_to_original:
            # done but its result not kept, or failed where the slot opts in: the original
            return BoothAnswer(upload, original_mime, job, served_original=True, share_url=share)
        raise finished.error or error_of(job)

    async def finish(self, work: LateWork) -> Finished:
        """Run a handed-over job to its end under the slot's late limit: the in-process
        task, or the AWS finisher function. `late` is decided here, as the job closes."""
        job, order = work.job, work.order
        result, error = await self._attempt_all(job, work.slot, work.chain, work.photo,
                                                work.reference, order.finish_by_monotonic(),
                                                work.own_keys)
        if result is None:
            return await self._close_late(job, order, error, work.photo.data)
        mime = sniff_mime(result.data) or result.mime
        job.result_key = object_keys.result(job.tenant, job.job_id, job.created_at, mime)
        key = job.result_key
        try:
            await run_io(lambda: self.store.put(key, result.data, mime))
        except StorageUnavailable as exc:
            log.warning("job %s: result not stored: %s", job.job_id, exc)
            job.result_key, job.reason = None, "result_not_stored"
        job.status, job.finished_at = JobStatus.DONE, time.time()
        job.total_ms = int((job.finished_at - job.created_at) * 1000)
        job.late = job.finished_at > order.booth_until
        await self.repo.put_job(job)
        self._record(job)
        if job.late and job.source is JobSource.BOOTH:
            self._spawn(self.repo.count_late(tenant=job.tenant, provider=job.provider,
                                             at=job.finished_at))
        self._spawn(self._thumbnails(job, work.photo.data, result.data))
        return Finished(job, result=result.data, mime=mime)

    async def _close_late(self, job: Job, order: LateOrder, error: BoothaiError,
                          photo: bytes | None) -> Finished:
        """Close a handed-over job as failed: its reason, the original to trash/."""
        self._failed(job, error)
        job.total_ms = int((job.finished_at - job.created_at) * 1000)
        job.late = job.finished_at > order.booth_until
        await self._close_failed(job)
        self._record(job)
        if photo is not None:
            self._spawn(self._thumbnails(job, photo, None))
        return Finished(job, error=error)

    async def resume(self, order: LateOrder, *, slot: Slot,
                     own_keys: Mapping[ProviderName, OwnKey]) -> Finished | None:
        """The AWS finisher's side of a hand-over: the job read back from its row, its photo
        from the store, run to its end. None: nothing to do (it has ended: an order the
        queue delivered twice)."""
        job = await self._unfinished(order)
        if job is None:
            return None
        if time.time() >= order.finish_by:  # delivered again after its limit (a crash)
            return await self._close_late(job, order, DeadlineExceeded(
                "the job's late limit passed before a finisher could run it"), None)
        try:  # the slot as it is now: the operator may have changed it since
            chain = self._providers_for(slot, check_enabled=False, own_keys=own_keys)
        except SlotNotReady as exc:
            return await self._close_late(job, order, ProviderFailed(
                f"{slot.provider}_slot_not_ready", str(exc)), None)
        try:
            key = job.original_key or ""
            upload = await run_io(lambda: self.store.get(key))
            photo = await self._prepare(upload, chain)
            reference = await self._reference(slot)
        except NotFound:
            return await self._close_late(job, order, ProviderFailed(
                "original_gone", "the photo or the slot's reference is no longer stored"), None)
        return await self.finish(LateWork(order, job, slot, chain, photo, reference, own_keys))

    async def give_up(self, order: LateOrder, error: BoothaiError) -> Finished | None:
        """Close a handed-over job that cannot run any more as failed (None: it had ended)."""
        job = await self._unfinished(order)
        return None if job is None else await self._close_late(job, order, error, None)

    async def _unfinished(self, order: LateOrder) -> Job | None:
        job = await self.repo.get_job(order.tenant, order.job_id)
        if job is None or job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            return None
        return job

    # -- the booth's copy: a QR code to the share page ----------------------------------------
    async def _share_link(self, job: Job, slot: Slot, deadline: BoothDeadline,
                          share_base: str | None) -> str | None:
        """The job's share page, made as it opens where the booth's answer may carry its
        QR code; None where it will not (or the link could not be stored: no QR then, the
        guest still gets their photo)."""
        wants = slot.when_late is LateAnswer.ORIGINAL_QR or slot.qr_on_results
        if not (wants and slot.share_pages and share_base and self.shares is not None
                and job.source is JobSource.BOOTH):
            return None
        try:
            async with deadline.storage_within("making the share link"):
                link = await self.shares.ensure(job, slot)
        except StorageUnavailable as exc:
            log.warning("job %s: no share link, so no QR code: %s", job.job_id, exc)
            return None
        return share_url(share_base, link.token)

    async def _stamp(self, image: bytes, url: str, text: str | None) -> tuple[bytes, str]:
        max_pixels = self.settings.max_pixels
        return await run_cpu(lambda: qr_stamp.stamp(image, url, text, max_pixels=max_pixels))

    async def _booth_copy(self, job: Job, slot: Slot, data: bytes, mime: str,
                          share: str | None, deadline: BoothDeadline) -> tuple[bytes, str]:
        """The result as the booth gets it: with the share page's QR code in a corner where
        the slot asks (only while the window allows: else without), within what this
        deployment can send back."""
        if slot.qr_on_results and share:
            stamping = asyncio.ensure_future(self._stamp(data, share, None))
            await asyncio.wait([stamping], timeout=deadline.left())
            if stamping.done() and stamping.exception() is None:
                data, mime = stamping.result()
            else:
                log.warning("job %s: the result goes out without its QR code", job.job_id)
        return await self._fit_answer(job, data, mime)

    # -- stage helpers ---------------------------------------------------------------------------
    async def _prepare(self, upload: bytes, chain: list[Provider]) -> PreparedImage:
        """The photo validated and fitted to the chain's smallest size (on the CPU pool
        only when it must be decoded)."""
        max_side = min(p.max_side for p in chain)
        max_pixels = self.settings.max_pixels
        photo = prepare_photo_cheaply(upload, max_side=max_side, max_pixels=max_pixels)
        if photo is None:
            photo = await run_cpu(
                lambda: prepare_photo(upload, max_side=max_side, max_pixels=max_pixels)
            )
        return photo

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

    async def _succeed(self, job: Job, slot: Slot, result: ProviderImage, deadline: BoothDeadline,
                       share: str | None) -> tuple[BoothAnswer, asyncio.Task]:
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
        data, mime = await self._booth_copy(job, slot, result.data, mime, share, deadline)
        return BoothAnswer(data, mime, job, share_url=share), closing

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
        self._failed(job, error)
        job.total_ms = deadline.elapsed_ms()
        closing = await self._finish_soon(self._close_failed(job), deadline)
        self._record(job)
        return closing

    @staticmethod
    def _failed(job: Job, error: BoothaiError) -> None:
        job.status, job.finished_at = JobStatus.FAILED, time.time()
        # The code goes into a header and metrics, the words (a provider's own, maybe
        # Russian, maybe with line breaks) to the operator: each made safe for where it goes.
        job.reason = reason_code(getattr(error, "reason", None) or (
            "deadline" if isinstance(error, DeadlineExceeded) else "error"
        ))
        job.detail = one_line(str(error))
        job.cause = cause_of(job.reason)

    async def _close_failed(self, job: Job) -> None:
        await close_failed(job, store=self.store, repo=self.repo)

    async def _thumbnails(self, job: Job, photo: bytes, result: bytes | None, *,
                          after: asyncio.Task | None = None) -> None:
        """The operator's thumbnails of the job's images, once the booth has its answer and
        the job is closed (`after`): under the keys the images end at (a failed job's
        original in trash/; no result thumbnail when the result could not be stored). The
        original's is made from the prepared photo: the same picture, upright, and a 24 MP
        shot is not decoded twice."""
        if after is not None:
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


def _wall(monotonic: float) -> float:
    """A time.monotonic() instant as a wall-clock epoch (for an order that crosses machines)."""
    return time.time() + (monotonic - time.monotonic())


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
