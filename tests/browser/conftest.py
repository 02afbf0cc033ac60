"""Browser tests: the REAL service in a subprocess, Debian's chromium through Playwright.

The service is started once per module on a free port with its own data dir; every test gets
a fresh page in a context that already carries the operator's Basic Auth credentials.

The UI runs under a strict CSP (functions/ui.py). Give `wait_for_function` a function
("() => …"), never a bare expression: Playwright polls a bare expression with eval() inside
the page, which `script-src 'self'` forbids. Read an <img>'s pixels through a canvas, not
fetch(): `connect-src 'self'` does not reach blob: URLs.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-output" / "browser"
ADMIN = ("admin", "browser-test-pass-1")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run"]

if not CHROMIUM.exists():  # CI installs Debian's chromium; never `playwright install` here
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    base: str
    data_dir: Path

    def client(self, auth: tuple[str, str] | None = ADMIN) -> httpx.Client:
        return httpx.Client(base_url=self.base, auth=auth, timeout=30)

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        with self.client() as client:
            return client.request(method, path, **kwargs)

    def slot(self, provider: str, index: int) -> dict:
        tabs = self.api("GET", "/api/slots").json()["tabs"]
        tab = next(t for t in tabs if t["provider"] == provider)
        return tab["slots"][index - 1]


@contextmanager
def serve_boothai(data_dir: Path, extra_env: dict[str, str] | None = None, *,
                  deployment_keys: bool = True, log_level: str = "warning") -> Iterator[Service]:
    """`boothai serve` in a subprocess on a free port with its own data dir, until /health
    answers; stopped on exit. Configured like a real deployment with cloud keys unless
    `deployment_keys` is false (a hosted deployment that leaves keys to its operators); GPU
    off, so the Qwen and DeepSeek tabs show why they are not available."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BOOTHAI_") and k not in ("GEMINI_API_KEY", "TURBOTEXT_API_KEY")}
    env.update(BOOTHAI_DATA_DIR=str(data_dir / "data"), BOOTHAI_ADMIN_PASSWORD=ADMIN[1],
               BOOTHAI_AUTH_FAILURES_ALLOWED="1000", BOOTHAI_GPU_BACKEND="off",
               BOOTHAI_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", PYTHONUNBUFFERED="1")
    if deployment_keys:
        env.update(GEMINI_API_KEY="browser-test-gemini-key",
                   TURBOTEXT_API_KEY="browser-test-turbotext-key")
    env.update(extra_env or {})
    log_path = data_dir / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "functions.cli", "serve", "--port", str(port), "--log-level", log_level,
         "--no-access-log"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"boothai serve exited: {log_path.read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("boothai serve did not answer /health within 30 s")
            time.sleep(0.1)
        yield Service(base=base, data_dir=data_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Service]:
    # A module may point the service at its own fakes: a module-scoped `service_env` fixture
    # (extra environment variables, e.g. BOOTHAI_GEMINI_BASE_URL). Nothing is called with the
    # deployment keys unless a module does so.
    try:
        extra_env = request.getfixturevalue("service_env")
    except pytest.FixtureLookupError:
        extra_env = {}
    with serve_boothai(tmp_path_factory.mktemp("boothai-browser"), extra_env) as service:
        yield service


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser, service: Service) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        http_credentials={"username": ADMIN[0], "password": ADMIN[1]},
        locale="en-US", viewport={"width": 1366, "height": 900},
    )
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=service.base)
    yield ctx
    ctx.close()


def operator_page(browser: Browser, service: Service, viewport: dict, **options) -> Iterator[Page]:
    """The operator's console in a fresh context of its own size (desktop, phone), signed in
    and ready; a JavaScript error on the page fails the test. For `yield from` in a fixture."""
    ctx: BrowserContext = browser.new_context(
        http_credentials={"username": ADMIN[0], "password": ADMIN[1]}, locale="en-US",
        viewport=viewport, **options)
    errors: list[str] = []
    try:
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(service.base + "/")
        page.wait_for_selector("body[data-ready=true]")
        yield page
    finally:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def operator_session(browser: Browser, service: Service,
                     options: dict) -> tuple[BrowserContext, Page, list]:
    """The signed-in console in its own context (clipboard and downloads allowed), for tests
    that open a second browser beside it; the caller closes the context and checks the
    returned list of page errors."""
    ctx = browser.new_context(http_credentials={"username": ADMIN[0], "password": ADMIN[1]},
                              locale="en-US", accept_downloads=True, **options)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=service.base)
    errors: list[str] = []
    page = ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(service.base + "/")
    page.wait_for_selector("body[data-ready=true]")
    return ctx, page, errors


def guest_session(browser: Browser, options: dict,
                  locale: str = "en-US") -> tuple[BrowserContext, Page, list]:
    """A fresh browser with no credentials at all: a guest's phone. The list collects page
    errors and console errors (a CSP refusal is one)."""
    ctx = browser.new_context(locale=locale, accept_downloads=True, **options)
    page = ctx.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    return ctx, page, problems


@pytest.fixture
def page(context: BrowserContext, service: Service) -> Iterator[Page]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(service.base + "/")
    page.wait_for_selector("body[data-ready=true]")
    yield page
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


# -- pictures, drawn here --------------------------------------------------------------------------
def jpeg(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=92)
    return out.getvalue()


def beach(size: tuple[int, int] = (800, 600)) -> bytes:
    """Sky, sea and sand: nothing in it is green."""
    w, h = size
    img = Image.new("RGB", size, (135, 196, 235))
    draw = ImageDraw.Draw(img)
    draw.ellipse((w * 0.72, h * 0.08, w * 0.86, h * 0.26), fill=(255, 226, 120))
    draw.rectangle((0, int(h * 0.45), w, int(h * 0.62)), fill=(30, 110, 170))
    draw.rectangle((0, int(h * 0.62), w, h), fill=(232, 205, 150))
    return jpeg(img)


GREEN = (20, 190, 60)
SKIN = (224, 172, 138)


def green_screen_photo(size: tuple[int, int] = (640, 480)) -> bytes:
    """A guest (skin-coloured head and body) in front of a green screen."""
    w, h = size
    img = Image.new("RGB", size, GREEN)
    draw = ImageDraw.Draw(img)
    draw.ellipse((w * 0.42, h * 0.15, w * 0.58, h * 0.42), fill=SKIN)
    draw.rounded_rectangle((w * 0.34, h * 0.42, w * 0.66, h), radius=40, fill=(60, 60, 140))
    return jpeg(img)
