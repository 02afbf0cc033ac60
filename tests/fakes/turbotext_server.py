"""A fake Turbotext photo API (`/api_ai/<method>`) speaking its form-POST + JSON protocol.

Like the real service it downloads the input images from the URLs it is given (so the
links the provider hands out must really work), answers `do=get_result` with
`{"action": "reconnect"}` until the job is "done", serves result files at
`/download.php?f=…` and `/image/…`, and in webhook mode POSTs the result JSON to the
webhook URL. Every call is recorded with its time, so tests can check the poll rate and
that nothing calls after a deadline.

What the real service does that a naive fake would not, each scriptable per job:
  - the result link comes in one of three shapes: top-level `uploaded_image` (the docs'
    first sample), `data.uploaded_image` (what a production driver of this API reads), or
    only `data.image[0]`, a path relative to the site;
  - `download.php?f=…` may answer with a redirect to the file (`redirect=True`: to
    `/image/…` on the same site; `redirect_to=BASE`: to another origin, a CDN);
  - error texts are Russian prose, not codes (`error="Недостаточно средств"`), and may be
    refused as early as create_queue (`create_error=…`);
  - keys: the Bearer header must name one it knows (`accept(...)` adds more); another is
    refused with 401 and a Russian text (the real wording is unpublished: modelled), and a
    key in `broke` (an account with no money or plan left) gets `success: false` and
    "Недостаточно средств на балансе" from every method. Each call records its key;
  - `available_api` (the account-level method the docs list first: which methods the key
    may call) is asked the same two-step way: create_queue, then get_result, which
    reconnects once before it answers the list.

    fake = FakeTurbotext(api_key="tt-key")
    fake.script(TBehaviour(reconnects=2, shape="relative"))
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.gemini_server import tinted

REQUIRED_FIELDS = {
    "mix_images": ("url", "url_image_target"),
    "deepfake_photo": ("url", "url_image_target"),
    "generate_image2image": ("url", "content"),
}
URL_FIELDS = ("url", "url_image_target")


@dataclass
class TBehaviour:
    latency: float = 0.0  # delay before answering each API call of this job
    create_status: int = 200  # e.g. 429 or 503 for create_queue
    poll_status: int = 200  # e.g. 503 for get_result
    reconnects: int = 0  # get_result says "reconnect" this many times first …
    ready_after: float = 0.0  # … and until this many seconds after create_queue
    error: str | None = None  # the result is success:false with this error text
    create_error: str | None = None  # create_queue itself answers success:false with this
    forbidden: bool = False  # answer data.forbidden_content: true
    # "uploaded_image" (top level), "data_uploaded_image" (inside data) or "relative"
    # (only data.image[0], relative to the site)
    shape: str = "uploaded_image"
    redirect: bool = False  # download.php?f=… answers 302 to /image/… on this site
    redirect_to: str | None = None  # … or 302 to this other origin's /image/…
    expired: bool = False  # the result link answers 404 (real links live 24-48 h)
    hang: bool = False  # create_queue never answers
    webhook_delay: float = 0.3  # seconds after create_queue
    webhook_times: int = 1  # 0 = lost callback, 2 = duplicate delivery


@dataclass
class FakeJob:
    id: int
    method: str
    fields: dict[str, str]
    behaviour: TBehaviour
    created: float
    inputs: dict[str, bytes] = field(default_factory=dict)
    polls: list[float] = field(default_factory=list)
    result: dict[str, Any] | None = None
    webhook: str | None = None
    webhook_statuses: list[int] = field(default_factory=list)


@dataclass
class Call:
    at: float
    method: str
    do: str
    queue_id: str | None = None
    key: str | None = None  # the Bearer token it came with


WRONG_KEY_TEXT = "Неверный ключ API: авторизация не пройдена"
NO_MONEY_TEXT = "Недостаточно средств на балансе"
AVAILABLE_API = [
    {"name": "mix_images", "description": "Микс фото"},
    {"name": "deepfake_photo", "description": "Замена лица"},
    {"name": "generate_image2image", "description": "Генерация по фото"},
]


class FakeTurbotext:
    def __init__(self, api_key: str = "test-turbotext-key") -> None:
        self.api_key = api_key
        self.keys: set[str] = {api_key}
        self.broke: set[str] = set()  # keys whose account has no money left
        self._available_queues: dict[int, int] = {}  # available_api queue → polls so far
        self.jobs: dict[int, FakeJob] = {}
        self.calls: list[Call] = []
        self.downloads: list[tuple[str, bool]] = []  # (path, bearer header present)
        self.files: dict[str, bytes] = {}
        self._redirects: dict[str, str] = {}  # file name → base URL download.php sends to
        self.cdn_downloads: list[tuple[str, bool]] = []  # see cdn_app()
        self.unauthorized = 0
        self._script: deque[TBehaviour] = deque()
        self._lock = threading.Lock()
        self._next_id = 1000
        self._tasks: set[asyncio.Task] = set()
        self.app = Starlette(routes=[
            Route("/api_ai/{method}", self._api, methods=["POST"]),
            Route("/download.php", self._download, methods=["GET"]),
            Route("/image/{name}", self._image, methods=["GET"]),
        ])

    def script(self, *behaviours: TBehaviour) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def _next_behaviour(self) -> TBehaviour:
        with self._lock:
            return self._script.popleft() if self._script else TBehaviour()

    def accept(self, *keys: str) -> None:
        """More keys this fake takes (other accounts' own keys)."""
        self.keys.update(keys)

    def keys_used(self, method: str | None = None) -> list[str | None]:
        return [c.key for c in self.calls if method is None or c.method == method]

    def calls_after(self, t: float) -> list[Call]:
        return [c for c in self.calls if c.at > t]

    @property
    def only_job(self) -> FakeJob:
        assert len(self.jobs) == 1, f"expected one job, got {len(self.jobs)}"
        return next(iter(self.jobs.values()))

    # -- API --------------------------------------------------------------------------------
    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        header = request.headers.get("authorization", "")
        key = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        if key not in self.keys:
            self.unauthorized += 1
            self.calls.append(Call(time.monotonic(), method, "", None, key))
            return JSONResponse({"success": False, "error": WRONG_KEY_TEXT}, status_code=401)
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return JSONResponse({"success": False, "error": "params_error"}, status_code=400)
        form = {k: str(v) for k, v in (await request.form()).items()}
        do = form.get("do", "")
        self.calls.append(Call(time.monotonic(), method, do, form.get("queueid"), key))
        if key in self.broke:
            return JSONResponse({"success": False, "error": NO_MONEY_TEXT})
        if method == "available_api":
            return self._available_api(do, form)
        if method not in REQUIRED_FIELDS:
            return JSONResponse({"success": False, "error": "method_not_found"}, status_code=404)
        if do == "create_queue":
            return await self._create(request, method, form)
        if do == "get_result":
            return await self._get_result(form)
        return JSONResponse({"success": False, "error": "params_error"})

    def _available_api(self, do: str, form: dict[str, str]) -> Response:
        if do == "create_queue":
            with self._lock:
                self._next_id += 1
                self._available_queues[self._next_id] = 0
            return JSONResponse({"success": True, "queueid": self._next_id})
        if do == "get_result":
            try:
                queue = int(form.get("queueid", ""))
                polls = self._available_queues[queue]
            except (ValueError, KeyError):
                return JSONResponse({"success": False, "error": "queue_not_found"})
            self._available_queues[queue] = polls + 1
            if polls == 0:
                return JSONResponse({"action": "reconnect"})
            return JSONResponse({"success": True, "error": "", "available_api": AVAILABLE_API})
        return JSONResponse({"success": False, "error": "params_error"})

    async def _create(self, request: Request, method: str, form: dict[str, str]) -> Response:
        behaviour = self._next_behaviour()
        if behaviour.hang:
            await _hang(request)
            return Response(status_code=504)
        if behaviour.latency:
            await asyncio.sleep(behaviour.latency)
        if behaviour.create_status != 200:
            return JSONResponse({"success": False, "error": "http"},
                                status_code=behaviour.create_status)
        if any(not form.get(name) for name in REQUIRED_FIELDS[method]):
            return JSONResponse({"success": False, "error": "params_error"})
        if behaviour.create_error is not None:
            return JSONResponse({"success": False, "error": behaviour.create_error})

        with self._lock:
            self._next_id += 1
            job = FakeJob(self._next_id, method, form, behaviour, time.monotonic())
            self.jobs[job.id] = job
        job.webhook = form.get("webhook")
        job.result = await self._process(job, str(request.base_url).rstrip("/"))
        if job.webhook:
            task = asyncio.create_task(self._deliver(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return JSONResponse({"success": True, "asyncid": job.id})
        return JSONResponse({"success": True, "queueid": job.id})

    async def _process(self, job: FakeJob, base: str) -> dict[str, Any]:
        """Download the inputs like the real service does, then make the result."""
        async with httpx.AsyncClient(timeout=5) as client:
            for name in URL_FIELDS:
                if name not in job.fields:
                    continue
                try:
                    response = await client.get(job.fields[name])
                except httpx.HTTPError:
                    return {"success": False, "error": "url_error"}
                if response.status_code != 200:
                    return {"success": False, "error": "url_error"}
                job.inputs[name] = response.content

        b = job.behaviour
        if b.error:
            return {"success": False, "error": b.error}
        if b.forbidden:
            return {"success": True, "error": "",
                    "data": {"image": [], "forbidden_content": True, "face_restore": "False"}}
        # The processed photo: the image the method "works on", tinted.
        source = job.inputs.get("url_image_target") or job.inputs.get("url")
        name = f"{job.method}_id{job.id}_0.png"
        if not b.expired:
            self.files[name] = tinted(source)
        if b.redirect or b.redirect_to:
            self._redirects[name] = (b.redirect_to or "").rstrip("/")
        data = {"width": 768, "height": 768, "seed": 9147962925, "forbidden_content": False}
        link = f"{base}/download.php?f={name}"
        if b.shape == "relative":
            return {"success": True, "error": "",
                    "data": {**data, "user_id": 12, "image": [f"image/{name}"]}}
        if b.shape == "data_uploaded_image":
            return {"success": True, "error": "", "data": {**data, "uploaded_image": link}}
        if b.shape != "uploaded_image":
            raise ValueError(f"unknown result shape {b.shape!r}")
        return {"success": True, "error": "", "data": data, "uploaded_image": link}

    def _ready(self, job: FakeJob) -> bool:
        b = job.behaviour
        return (len(job.polls) > b.reconnects
                and time.monotonic() - job.created >= b.ready_after)

    async def _get_result(self, form: dict[str, str]) -> Response:
        try:
            job = self.jobs[int(form.get("queueid", ""))]
        except (ValueError, KeyError):
            return JSONResponse({"success": False, "error": "queue_not_found"})
        job.polls.append(time.monotonic())
        if job.behaviour.latency:
            await asyncio.sleep(job.behaviour.latency)
        if job.behaviour.poll_status != 200:
            return JSONResponse({"success": False, "error": "http"},
                                status_code=job.behaviour.poll_status)
        if not self._ready(job):
            return JSONResponse({"action": "reconnect"})
        return JSONResponse(job.result)

    async def _deliver(self, job: FakeJob) -> None:
        await asyncio.sleep(job.behaviour.webhook_delay)
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(job.behaviour.webhook_times):
                try:
                    response = await client.post(job.webhook or "", json=job.result)
                    job.webhook_statuses.append(response.status_code)
                except httpx.HTTPError:
                    job.webhook_statuses.append(0)

    # -- result files -----------------------------------------------------------------------
    async def _download(self, request: Request) -> Response:
        name = request.query_params.get("f", "")
        if name in self._redirects:
            bearer = request.headers.get("authorization") in {f"Bearer {k}" for k in self.keys}
            self.downloads.append((request.url.path, bearer))
            # A site-relative Location for its own /image/, an absolute one for a CDN.
            return RedirectResponse(f"{self._redirects[name]}/image/{name}", status_code=302)
        return self._file(request, name)

    async def _image(self, request: Request) -> Response:
        return self._file(request, request.path_params["name"])

    def cdn_app(self) -> Starlette:
        """Another origin serving the same result files (run it as its own server and name
        it in `redirect_to`); `cdn_downloads` records (path, any Authorization header)."""

        async def image(request: Request) -> Response:
            self.cdn_downloads.append((request.url.path, "authorization" in request.headers))
            name = request.path_params["name"]
            if name not in self.files:
                return Response(status_code=404)
            return Response(self.files[name], media_type="image/png")

        return Starlette(routes=[Route("/image/{name}", image, methods=["GET"])])

    def _file(self, request: Request, name: str) -> Response:
        bearer = request.headers.get("authorization") in {f"Bearer {k}" for k in self.keys}
        self.downloads.append((request.url.path, bearer))
        if name not in self.files:
            return Response(status_code=404)
        return Response(self.files[name], media_type="image/png")


async def _hang(request: Request) -> None:
    for _ in range(6000):
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.1)
