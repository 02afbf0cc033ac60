"""The service container: every long-lived object, built from the settings on first use.

`boothai serve` builds one for the whole app; each Lambda function builds one per container
and uses only its own use case, so only what that use case needs is ever built (the
webhooks function opens no S3 client and no GPU backend; images and vision need no signing
key). Each component gets ports scoped to its own `Access` declaration (shared/access.py).

Tests pass their own ports (`tables=`, `store=`, `gpu=`, `fetcher=`) instead of patching.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from functools import cached_property

from shared.access import Access, scope_store, scope_tables
from shared.apikeys import ApiKeys
from shared.auth import Authenticator, hash_password
from shared.booth_trace import BoothTrace, TraceLog
from shared.config import Settings
from shared.domain import ProviderName, Tenant
from shared.galleries import Galleries
from shared.gpu import JANUS, QWEN_IMAGE_EDIT, GpuBackend, build_gpu_backend
from shared.job_signals import JobSignals
from shared.late_results import Finisher, InProcessFinisher, QueueFinisher
from shared.media import Media
from shared.pipeline import BoothPipeline
from shared.ports import ObjectStore, Tables, UrlFetcher
from shared.providers import ProviderContext, ProviderRegistry, build_providers
from shared.providers.base import MAX_RESULT_BYTES
from shared.recovery import InterruptedJobs
from shared.repository import Repository
from shared.safe_fetch import FetchPolicy, SafeFetcher, host_port
from shared.secret_box import SecretBox
from shared.share_links import ShareLinks
from shared.signed_links import LinkSigner
from shared.storage import open_store, open_tables
from shared.storage.filesystem_store import PRIVATE_FILE, private_dir, tighten
from shared.throttle import Throttle
from shared.usecases.booth import BoothIngest
from shared.usecases.console import OperatorConsole
from shared.usecases.gallery_pages import GalleryPages
from shared.usecases.health import ServiceHealth
from shared.usecases.image_edits import ImageEdits
from shared.usecases.late_jobs import LateJobs
from shared.usecases.share_pages import SharePages
from shared.usecases.signed_media import SignedMedia
from shared.usecases.vision import MAX_FILE_BYTES, Vision
from shared.usecases.webhooks import ProviderWebhooks

log = logging.getLogger("boothai")


class Services:
    def __init__(
        self,
        settings: Settings,
        *,
        tables: Tables | None = None,
        store: ObjectStore | None = None,
        gpu: GpuBackend | None = None,
        fetcher: UrlFetcher | None = None,
    ) -> None:
        self.settings = settings
        self._given_tables = tables
        self._given_store = store
        self._given_gpu = gpu
        self._given_fetcher = fetcher

    # -- ports ------------------------------------------------------------------------------------
    @cached_property
    def tables(self) -> Tables:
        return self._given_tables or open_tables(self.settings)

    @cached_property
    def store(self) -> ObjectStore:
        signer = self.signer if self.settings.storage == "embedded" else None
        return self._given_store or open_store(self.settings, signer)

    @cached_property
    def signer(self) -> LinkSigner:
        return LinkSigner(_signing_key(self.settings))

    @cached_property
    def box(self) -> SecretBox:
        # Upload passwords at rest. The key is read on first seal/open only: the image and
        # vision functions read accounts but never their upload password, and hold no key.
        return SecretBox(lambda: _signing_key(self.settings))

    @cached_property
    def gpu(self) -> GpuBackend:
        if self._given_gpu is not None:
            return self._given_gpu
        s = self.settings
        return build_gpu_backend(
            s.gpu_backend, qwen_edit_model=s.qwen_edit_model,
            qwen_lightning_lora=s.qwen_lightning_lora, janus_model=s.janus_model,
            vision_model_dir=s.vision_model_dir, modal_app_name=s.modal_app_name,
            modal_timeout=s.modal_timeout_seconds, device=s.gpu_device,
            edit_condition_image_size=s.qwen_edit_condition_area,
            edit_vae_image_size=s.qwen_edit_vae_area,
            edit_reference_vae_image_size=s.qwen_reference_vae_area,
            attention_backend=s.qwen_attention_backend, compile_blocks=s.qwen_compile,
            memory_budget_bytes=(int(s.gpu_memory_budget_gib * 2**30)
                                 if s.gpu_memory_budget_gib is not None else None),
        )

    def gpu_preload_ids(self) -> list[str]:
        """The GPU models the enabled booth tabs need (a booth call must not wait for a
        load): Qwen-Image-Edit for `qwen`, Janus for `deepseek`."""
        wanted = {ProviderName.QWEN: QWEN_IMAGE_EDIT, ProviderName.DEEPSEEK: JANUS}
        return [wanted[name] for name in self.settings.enabled_providers if name in wanted]

    def start_gpu_preload(self) -> None:
        """`boothai serve` at start: the inprocess backend loads what the tabs need in the
        background (`/ready` says what is loading meanwhile)."""
        if not self.settings.gpu_preload:
            return
        from shared.gpu.inprocess import InProcessGpuBackend

        if self.settings.gpu_backend == "inprocess" and isinstance(self.gpu, InProcessGpuBackend):
            self.gpu.start_preload(self.gpu_preload_ids())

    @cached_property
    def fetcher(self) -> UrlFetcher:
        if self._given_fetcher is not None:
            return self._given_fetcher
        return SafeFetcher(FetchPolicy(allow_private=self.settings.fetch_allow_private,
                                       max_bytes=MAX_FILE_BYTES,
                                       timeout=self.settings.fetch_timeout_seconds))

    def _tables_for(self, access: Access, owner: str) -> Tables:
        return scope_tables(self.tables, access, owner)

    def _store_for(self, access: Access, owner: str) -> ObjectStore:
        return scope_store(self.store, access, owner)

    # -- components -------------------------------------------------------------------------------
    @cached_property
    def auth(self) -> Authenticator:
        tables = self._tables_for(Authenticator.ACCESS, "Authenticator")
        return Authenticator(
            repo=Repository(tables, self.box), api_keys=ApiKeys(tables),
            throttle=Throttle(tables, limit=self.settings.auth_failures_allowed,
                              window_seconds=self.settings.auth_failure_window_seconds),
            account_limit=self.settings.auth_account_failures_allowed,
        )

    @cached_property
    def providers(self) -> ProviderRegistry:
        # Result links come from providers' answers and webhook bodies: outside input. Only
        # the configured Turbotext host:port may be private (on-premises, the test fake).
        s = self.settings
        fetcher = SafeFetcher(FetchPolicy(
            allow_private=s.fetch_allow_private,
            allow_hosts=frozenset({host_port(s.turbotext_base_url)}),
            max_bytes=MAX_RESULT_BYTES, timeout=s.fetch_timeout_seconds))
        return build_providers(ProviderContext(settings=s, store=self.store, tables=self.tables,
                                               signer=self.signer, gpu=self.gpu,
                                               fetcher=fetcher))

    @cached_property
    def finisher(self) -> Finisher | None:
        """Where a late slot's job goes on after the booth's answer: the finisher
        function's queue (AWS), this process (`boothai serve`), or nowhere (a Lambda
        function without the queue: it would freeze with the job half done)."""
        s = self.settings
        if s.finisher_queue_url:
            from shared.storage.sqs_queue import SqsQueue

            access = QueueFinisher.ACCESS
            return QueueFinisher(
                queue=SqsQueue(queue_url=s.finisher_queue_url, endpoint_url=s.sqs_endpoint_url,
                               region=s.aws_region),
                repo=Repository(self._tables_for(access, "QueueFinisher")),
                store=self._store_for(access, "QueueFinisher"))
        if s.on_lambda:
            log.warning("BOOTHAI_FINISHER_QUEUE_URL is not set: late slots answer in the window")
            return None
        return InProcessFinisher()

    @cached_property
    def pipeline(self) -> BoothPipeline:
        access = BoothPipeline.ACCESS
        return BoothPipeline(settings=self.settings,
                             repo=Repository(self._tables_for(access, "BoothPipeline")),
                             store=self._store_for(access, "BoothPipeline"),
                             providers=self.providers, finisher=self.finisher,
                             shares=ShareLinks(self._tables_for(ShareLinks.ACCESS,
                                                                "BoothPipeline")))

    # -- use cases ----------------------------------------------------------------------------------
    @cached_property
    def booth(self) -> BoothIngest:
        repo = Repository(self._tables_for(BoothIngest.ACCESS, "BoothIngest"), self.box)
        trace_tables = self._tables_for(BoothTrace.ACCESS, "BoothTrace")
        return BoothIngest(settings=self.settings, repo=repo, auth=self.auth,
                           pipeline=self.pipeline,
                           trace=BoothTrace(trace_tables, Repository(trace_tables)))

    @cached_property
    def late_jobs(self) -> LateJobs:
        """The AWS finisher function's use case (shared/late_results.py)."""
        repo = Repository(self._tables_for(LateJobs.ACCESS, "LateJobs"), self.box)
        return LateJobs(repo=repo, pipeline=self.pipeline)

    @cached_property
    def console(self) -> OperatorConsole:
        access = OperatorConsole.ACCESS
        tables = self._tables_for(access, "OperatorConsole")
        repo = Repository(tables, self.box)
        media = Media(settings=self.settings, repo=repo,
                      store=self._store_for(access, "OperatorConsole"))
        return OperatorConsole(settings=self.settings, repo=repo, media=media,
                               api_keys=ApiKeys(tables), providers=self.providers,
                               pipeline=self.pipeline,
                               trace=TraceLog(self._tables_for(TraceLog.ACCESS, "TraceLog")),
                               shares=ShareLinks(self._tables_for(ShareLinks.ACCESS,
                                                                  "ShareLinks")),
                               galleries=Galleries(self._tables_for(Galleries.ACCESS,
                                                                    "Galleries")))

    @cached_property
    def health(self) -> ServiceHealth:
        access = ServiceHealth.ACCESS
        return ServiceHealth(settings=self.settings,
                             tables=self._tables_for(access, "ServiceHealth"),
                             store=self._store_for(access, "ServiceHealth"),
                             providers=self.providers, gpu=self.gpu)

    @cached_property
    def image_edits(self) -> ImageEdits:
        return ImageEdits(settings=self.settings, gpu=self.gpu,
                          store=lambda: self._store_for(ImageEdits.access(), "ImageEdits"))

    @cached_property
    def vision(self) -> Vision:
        return Vision(settings=self.settings, gpu=self.gpu, fetcher=self.fetcher)

    @cached_property
    def webhooks(self) -> ProviderWebhooks:
        tables = self._tables_for(ProviderWebhooks.ACCESS, "ProviderWebhooks")
        return ProviderWebhooks(signer=self.signer, signals=JobSignals(tables))

    @cached_property
    def share_pages(self) -> SharePages:
        access = SharePages.ACCESS
        repo = Repository(self._tables_for(access, "SharePages"))
        return SharePages(
            links=ShareLinks(self._tables_for(ShareLinks.READER, "SharePages")), repo=repo,
            media=Media(settings=self.settings, repo=repo,
                        store=self._store_for(access, "SharePages")))

    @cached_property
    def gallery_pages(self) -> GalleryPages:
        access = GalleryPages.ACCESS
        repo = Repository(self._tables_for(access, "GalleryPages"))
        return GalleryPages(
            galleries=Galleries(self._tables_for(Galleries.READER, "GalleryPages")), repo=repo,
            media=Media(settings=self.settings, repo=repo,
                        store=self._store_for(access, "GalleryPages")))

    @cached_property
    def signed_media(self) -> SignedMedia:
        access = SignedMedia.ACCESS
        # Media.read only: the repository it could save slots with sees no table at all.
        media = Media(settings=self.settings,
                      repo=Repository(self._tables_for(access, "SignedMedia")),
                      store=self._store_for(access, "SignedMedia"))
        return SignedMedia(signer=self.signer, media=media)

    # -- operator tools (the `boothai` command; not a deployed function) -------------------------------
    @cached_property
    def repo(self) -> Repository:
        """Every table, unscoped: account administration from the command line, and tests."""
        return Repository(self.tables, self.box)

    @cached_property
    def interrupted_jobs(self) -> InterruptedJobs:
        access = InterruptedJobs.ACCESS
        return InterruptedJobs(repo=Repository(self._tables_for(access, "InterruptedJobs")),
                               store=self._store_for(access, "InterruptedJobs"))

    async def create_tenant(self, name: str, password: str | None = None) -> tuple[Tenant, str]:
        return await create_tenant(self.repo, self.settings, name, password)

    # -- lifecycle ------------------------------------------------------------------------------------
    def _built(self, name: str) -> bool:
        return name in self.__dict__  # cached_property stores what was built here

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the pipeline's background bookkeeping, if a pipeline was built."""
        if self._built("pipeline"):
            await self.pipeline.drain(timeout=timeout)
        if self._built("booth"):
            await self.booth.trace.drain(timeout=timeout)

    async def aclose(self) -> None:
        await self.drain()
        if self._built("providers"):
            await self.providers.aclose()
        if self._built("gpu") and self._given_gpu is None:
            await self.gpu.aclose()


def build_services(settings: Settings, **ports) -> Services:
    return Services(settings, **ports)


async def create_tenant(
    repo: Repository, settings: Settings, name: str, password: str | None = None
) -> tuple[Tenant, str]:
    """Create an operator account with its 20 slots per enabled tab. Returns the tenant and
    its password (the given one or a fresh random one)."""
    password = password or secrets.token_urlsafe(12)
    tenant = await repo.create_tenant(name, hash_password(password))
    await repo.ensure_slots(name, list(settings.enabled_providers))
    return tenant, password


def open_repository(settings: Settings) -> Repository:
    """Just the accounts and slots, for command-line tools: no providers, no GPU."""
    return Repository(open_tables(settings), SecretBox(lambda: _signing_key(settings)))


def _signing_key(settings: Settings) -> bytes:
    if settings.signing_key:
        return settings.signing_key.get_secret_value().encode()
    if settings.storage == "aws":
        raise ValueError("BOOTHAI_SIGNING_KEY is required with BOOTHAI_STORAGE=aws")
    # Embedded mode: one random key per data folder, kept beside the data, readable by us only.
    # Written to a 0600 temp file, then linked into place: never a moment with the umask's
    # 0644 nor a half-written key, and of two processes starting at once one key wins.
    folder = private_dir(settings.data_dir)
    path = folder / "signing.key"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-key-")  # mkstemp: 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use that one
        finally:
            os.unlink(tmp)
    tighten(path, PRIVATE_FILE)
    return path.read_bytes()
