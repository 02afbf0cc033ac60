"""Many booths at once: N concurrent booth uploads against one real `boothai serve` process.

    python benchmarks/booth_load.py [-n 200] [--latency 5-20] [--window 50] [--same-slot]
    python benchmarks/booth_load.py --quick          # 20 requests, 0.2-1 s latency, ~5 s

Three processes, all on 127.0.0.1:
  - a Gemini wire fake (tests/fakes/gemini_server.py) answering `generateContent` after a
    delay drawn uniformly from --latency; the delay is a function of the photo's bytes, so
    this script knows each request's provider time without asking the server;
  - `boothai serve` (one worker, embedded storage in a temp dir, gemini slots only);
  - this client, firing all N uploads at once (spread over the 20 slots, or --same-slot).

Prints: answered-in-window %, p50/p95/p99 of (latency - provider time), peak RSS of the
server process (sampled), errors by status. Exit status 1 when a target is missed:
100 % answered in the window and peak RSS <= --max-rss-mb.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_PASSWORD = "bench-admin-pass"
GEMINI_KEY = "bench-dummy-gemini-key"


# -- the provider fake (its own process) ---------------------------------------------------------
def delay_for(photo: bytes, low: float, high: float) -> float:
    """The fake's scripted delay for this photo: uniform in [low, high], fixed by its bytes."""
    fraction = int.from_bytes(hashlib.sha256(photo).digest()[:8], "big") / 2**64
    return low + (high - low) * fraction


def run_fake(port: int, low: float, high: float) -> None:
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import Response

    from tests.fakes import gemini_server as g

    answers: dict[str, bytes] = {}

    class TimedGemini(g.FakeGemini):
        async def _handle(self, request: Request):  # type: ignore[override]
            if request.headers.get("x-goog-api-key") != self.api_key:
                return g._error(403, "API key not valid")
            body = json.loads(await request.body())
            model = request.path_params["target"].partition(":")[0]
            record = g.RecordedRequest(version=request.path_params["version"], model=model,
                                       api_key=None, parts=g._parse_parts(body),
                                       generation_config={}, size=0)
            photo = record.images[0]["data"] if record.images else b""
            await asyncio.sleep(delay_for(photo, low, high))
            # Every photo has the same pixels: draw the answer once, so the fake's own CPU
            # (tinting, PNG encoding on its event loop) does not count against the server.
            if model not in answers:
                spec = g.MODELS.get(model) or g.MODELS["gemini-2.5-flash-image"]
                answers[model] = g._answer(g.Behaviour.ok(), record, spec, model).body
            return Response(answers[model], media_type="application/json")

    uvicorn.run(TimedGemini(GEMINI_KEY).app, host="127.0.0.1", port=port, log_level="warning",
                access_log=False, backlog=4096)


# -- helpers -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def photos(n: int, seed: int = 0) -> list[bytes]:
    """n distinct small booth JPEGs (~640x427): one encode, a unique COM segment each."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (640, 427), (40, 200, 60))
    ImageDraw.Draw(img).ellipse((220, 90, 420, 427), fill=(222, 170, 140))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    base = out.getvalue()
    result = []
    for i in range(n):
        text = f"boothai-load {seed} {i}".encode()
        segment = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
        result.append(base[:2] + segment + base[2:])
    return result


def wait_http(url: str, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f}s")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


class RssSampler:
    def __init__(self, pid: int) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self.cpu_start = sum(self.proc.cpu_times()[:2])
        self.cpu_seconds = 0.0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                rss = self.proc.memory_info().rss
                for child in self.proc.children(recursive=True):
                    rss += child.memory_info().rss
                self.peak = max(self.peak, rss)
            except psutil.Error:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.1)

    def stop(self) -> None:
        self.cpu_seconds = sum(self.proc.cpu_times()[:2]) - self.cpu_start
        self._stop.set()


# At most 200 / 20 = 10 uploads in flight per address at the default -n.
BOOTH_ADDRESSES = 20


# -- the run -------------------------------------------------------------------------------------
async def fire(args, url: str, uploads: list[tuple[str, bytes]], password: str, low: float,
               high: float, server_pid: int) -> dict:
    import httpx

    from tests.helpers.photos import dslr_fields

    sampler = RssSampler(server_pid)
    sampler_task = asyncio.create_task(sampler.run())
    limits = httpx.Limits(max_connections=len(uploads) + 10, max_keepalive_connections=0)
    results: list[tuple[int | str, float, float]] = []
    # Booths sit at many venues, each behind its own address: the uploads come from
    # BOOTH_ADDRESSES loopback addresses in turn, so the server's per-client caps
    # (BOOTHAI_MAX_REQUESTS_PER_CLIENT, 16) see what they would see from real venues.
    clients = [httpx.AsyncClient(limits=limits, timeout=args.window + 10,
                                 transport=httpx.AsyncHTTPTransport(
                                     limits=limits, local_address=f"127.0.1.{n + 1}"))
               for n in range(BOOTH_ADDRESSES)]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            await stack.enter_async_context(client)

        async def one(n: int, token: str, photo: bytes) -> None:
            client = clients[n % BOOTH_ADDRESSES]
            started = time.monotonic()
            try:
                response = await client.post(
                    f"{url}/u/{token}", data=dslr_fields(password),
                    files={"fileToUpload": ("IMG_0001.JPG", photo, "image/jpeg")})
                status: int | str = response.status_code
                if status == 200 and not response.content.startswith(b"\x89PNG"):
                    status = "200-not-an-image"
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            results.append((status, time.monotonic() - started, delay_for(photo, low, high)))

        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(one(n, t, p) for n, (t, p) in enumerate(uploads))),
                               timeout=args.window + 30)
        wall = time.monotonic() - started
    sampler.stop()
    await sampler_task
    ok = [(lat, prov) for status, lat, prov in results if status == 200 and lat <= args.window]
    overhead = [lat - prov for lat, prov in ok]
    return {
        "requests": len(uploads),
        "answered_in_window_pct": 100.0 * len(ok) / len(uploads),
        "overhead_p50_s": percentile(overhead, 50),
        "overhead_p95_s": percentile(overhead, 95),
        "overhead_p99_s": percentile(overhead, 99),
        "latency_max_s": max(lat for _, lat, _ in results),
        "provider_mean_s": statistics.fmean(p for _, _, p in results),
        "peak_rss_mb": sampler.peak / 1024 / 1024,
        "server_cpu_ms_per_request": 1000 * sampler.cpu_seconds / len(uploads),
        "errors": dict(Counter(str(s) for s, lat, _ in results if s != 200 or lat > args.window)),
        "wall_s": wall,
    }


def server_breakdown(url: str) -> dict:
    """From the last 50 jobs (admin API): server time outside the provider call."""
    import httpx

    jobs = httpx.get(f"{url}/api/stats", auth=("admin", ADMIN_PASSWORD),
                     timeout=30).raise_for_status().json()["recent_jobs"]
    outside = [j["total_ms"] - j["provider_ms"] for j in jobs
               if j["total_ms"] is not None and j["provider_ms"] is not None]
    return {"server_outside_provider_p50_ms": percentile(outside, 50),
            "server_outside_provider_max_ms": max(outside, default=float("nan")),
            "jobs_not_closed": sum(j["status"] not in ("done", "failed") for j in jobs)}


def setup_slots(url: str, count: int) -> tuple[list[str], str]:
    """Configure `count` gemini prompt slots through the admin API; return their tokens and
    the upload password."""
    import httpx

    auth = ("admin", ADMIN_PASSWORD)
    with httpx.Client(base_url=url, auth=auth, timeout=30) as client:
        for index in range(1, count + 1):
            r = client.put(f"/api/slots/gemini/{index}",
                           json={"type": "prompt", "prompt": "make it look like a postcard",
                                 "enabled": True})
            r.raise_for_status()
        tabs = client.get("/api/slots").raise_for_status().json()["tabs"]
        password = client.get("/api/stats").raise_for_status().json()["upload_password"]
    slots = next(t for t in tabs if t["provider"] == "gemini")["slots"][:count]
    return [s["upload_url"].rsplit("/", 1)[1] for s in slots], password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=200)
    parser.add_argument("--latency", default="5-20", help="provider seconds, uniform: LOW-HIGH")
    parser.add_argument("--window", type=float, default=50.0, help="booth window, seconds")
    parser.add_argument("--same-slot", action="store_true", help="every request to slot 1")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 20 requests, 0.2-1 s latency, 10 s window")
    parser.add_argument("--max-rss-mb", type=float, default=400.0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    parser.add_argument("--_fake", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.latency, args.window = min(args.requests, 20), "0.2-1", 10.0
    low, high = (float(x) for x in args.latency.split("-"))
    if args._fake:
        run_fake(args._fake, low, high)
        return 0

    procs: list[subprocess.Popen] = []
    server_log = None
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="boothai-load-") as tmp:
        try:
            fake_port, port = free_port(), free_port()
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "--_fake", str(fake_port), "--latency", args.latency],
                cwd=ROOT, env=env))
            env.update(BOOTHAI_DATA_DIR=tmp, BOOTHAI_ENABLED_PROVIDERS="gemini",
                       BOOTHAI_GEMINI_BASE_URL=f"http://127.0.0.1:{fake_port}",
                       GEMINI_API_KEY=GEMINI_KEY, BOOTHAI_ADMIN_PASSWORD=ADMIN_PASSWORD,
                       BOOTHAI_BOOTH_WINDOW_SECONDS=str(args.window))
            server_log = open(Path(tmp) / "server.log", "w")  # noqa: SIM115 - closed below
            server = subprocess.Popen(
                [sys.executable, "-m", "functions.cli", "serve", "--port", str(port),
                 "--log-level", "warning", "--no-access-log"],
                cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT)
            procs.append(server)
            url = f"http://127.0.0.1:{port}"
            wait_http(f"http://127.0.0.1:{fake_port}/", 30)
            wait_http(f"{url}/health", 30)
            tokens, password = setup_slots(url, 1 if args.same_slot else 20)
            images = photos(args.requests, seed=random.randrange(1 << 30))
            uploads = [(tokens[i % len(tokens)], p) for i, p in enumerate(images)]
            result = asyncio.run(fire(args, url, uploads, password, low, high, server.pid))
            result.update(server_breakdown(url))
            result.update(latency=args.latency, window_s=args.window, same_slot=args.same_slot,
                          server_alive=server.poll() is None)
        finally:
            for proc in reversed(procs):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            if server_log is not None:
                server_log.close()
                errors = [line for line in (Path(tmp) / "server.log").read_text().splitlines()
                          if " ERROR " in line or "Traceback" in line]

    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['requests']} requests, provider latency {args.latency} s, "
              f"window {args.window:.0f} s, {'one slot' if args.same_slot else '20 slots'}")
        print(f"  answered in window : {result['answered_in_window_pct']:.1f} %")
        print(f"  overhead p50/p95/p99: {result['overhead_p50_s'] * 1000:.0f} / "
              f"{result['overhead_p95_s'] * 1000:.0f} / {result['overhead_p99_s'] * 1000:.0f} ms"
              "  (latency minus the provider's scripted time)")
        print(f"  slowest answer     : {result['latency_max_s']:.1f} s")
        print(f"  server-side, outside the provider call (last 50 jobs): p50 "
              f"{result['server_outside_provider_p50_ms']:.0f} ms, max "
              f"{result['server_outside_provider_max_ms']:.0f} ms; "
              f"jobs not closed: {result['jobs_not_closed']}")
        print(f"  server peak RSS    : {result['peak_rss_mb']:.0f} MB; "
              f"server CPU {result['server_cpu_ms_per_request']:.0f} ms per request")
        print(f"  errors by status   : {result['errors'] or 'none'}")
        for line in errors[:10]:
            print(f"  server log: {line}")
    missed = result["answered_in_window_pct"] < 100 or result["peak_rss_mb"] > args.max_rss_mb
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
