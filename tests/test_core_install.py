"""The core install serves the headline provider: `pip install -e . && boothai serve` with
GEMINI_API_KEY set has a working Gemini tab, and only the ML and Modal stacks stay in extras.

The test venv holds every extra, so the served process is started with the packages a core
install lacks made unimportable (`sys.modules[name] = None`: `import name` raises
ImportError, exactly as where they are not installed). aiohttp is among them: modal brings
it, the core does not, and without it google-genai talks through httpx2.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.server import run_app_in_thread
from tests.helpers import photos

ROOT = Path(__file__).resolve().parents[1]
# Distributions that must stay out of the core install (several GB, or a cloud SDK only
# GPU deployments need), and the import names a core install therefore cannot import.
HEAVY = {"torch", "diffusers", "transformers", "accelerate", "peft", "modal"}
NOT_IN_CORE = sorted(HEAVY | {"aiohttp", "openai", "moto", "playwright"})

_SERVE_AS_CORE_INSTALL = (
    "import sys\n"
    f"for name in {NOT_IN_CORE!r}:\n"
    "    sys.modules[name] = None\n"
    "from functions.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _core_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {re.split(r"[\s<>=!~\[;]", dep, maxsplit=1)[0].lower()
            for dep in project["dependencies"]}


def test_the_core_install_holds_gemini_and_no_heavy_stack() -> None:
    core = _core_dependencies()
    assert "google-genai" in core
    assert core.isdisjoint(HEAVY), core & HEAVY


def test_boothai_serve_on_the_core_install_runs_a_gemini_slot(tmp_path) -> None:
    fake = FakeGemini(api_key="core-install-key")
    fake_url, stop_fake = run_app_in_thread(fake.app)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BOOTHAI_DATA_DIR": str(tmp_path / "data"),
           "BOOTHAI_ENABLED_PROVIDERS": "gemini,local", "BOOTHAI_ADMIN_PASSWORD": "admin-pass",
           "GEMINI_API_KEY": "core-install-key", "BOOTHAI_GEMINI_BASE_URL": fake_url}
    env.pop("GOOGLE_GENAI_HTTP_CLIENT", None)
    proc = subprocess.Popen([sys.executable, "-c", _SERVE_AS_CORE_INSTALL, "serve", "--port",
                             str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("operator UI at" in ln for ln in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        output = "".join(lines)
        assert "operator UI at" in output, output
        upload_password = next(ln.split("booth upload password:")[1].split()[0]
                               for ln in lines if "booth upload password:" in ln)
        base = f"http://127.0.0.1:{port}"
        admin = httpx.Client(base_url=base, auth=("admin", "admin-pass"), timeout=30)
        for _ in range(100):
            try:
                health = admin.get("/health").json()
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert health["providers"]["gemini"] == "ok", health

        tabs = {t["provider"]: t for t in admin.get("/api/slots").json()["tabs"]}
        assert tabs["gemini"]["available"], tabs["gemini"]
        saved = admin.put("/api/slots/gemini/1",
                          json={"type": "prompt", "prompt": "a sunny beach", "enabled": True})
        assert saved.status_code == 200, saved.text

        guest = photos.green_screen(640, 480)
        answer = httpx.post(saved.json()["upload_url"], data=photos.dslr_fields(upload_password),
                            files={"fileToUpload": ("IMG_0001.JPG", guest, "image/jpeg")},
                            timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("image/")
        assert answer.content != guest and "x-boothai-original" not in answer.headers
        assert len(fake.requests) == 1 and fake.requests[0].prompt.count("a sunny beach") == 1
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        stop_fake()


def test_the_core_install_serves_on_uvloop_and_httptools() -> None:
    """issue 17: uvicorn's loop="auto" / http="auto" pick libuv's loop and the llhttp parser
    when they are installed, so they belong to the core install (before: asyncio + h11; the
    gain is measured in benchmarks/ingest_overhead.py)."""
    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    core = _core_dependencies()
    assert {"uvloop", "httptools"} <= core, core
    config = uvicorn.Config(app=lambda *args: None, loop="auto", http="auto")
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    assert config.get_loop_factory().__module__.startswith("uvloop")
