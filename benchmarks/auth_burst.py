"""What a hostile burst costs the booths (issue 13): a real `boothai serve` process, one Local
booth uploading with the right password, and in the same run:

  1. baseline      the booth's uploads alone;
  2. hash burst    the same uploads while N Basic-Auth logins of unknown users arrive at once,
                   each from its own address (127.0.x.y: every one a first try for its
                   address, so only the hash lane can hold them back);
  3. pre-auth      one unauthenticated JSON body of B MB to /api/v1/image/comparison, sent in
                   full; the server's RSS before and after.

Prints the booth's p50/p95 in 1 and 2 and their ratio, the logins' answers by status, the
server's peak RSS, and the RSS growth from the unauthenticated body. Targets (issue 13):
RSS growth from a 100 MB unauthenticated body < 20 MB; the booth's p95 under the burst
stays within the booth window with room (reported as a ratio to the baseline; a run with
a ratio over 10 or an upload that fails exits 1). `--repo DIR` runs another checkout's
server (the figures before the change: a worktree of the earlier commit).

    python benchmarks/auth_burst.py [--burst 400] [--uploads 30] [--body-mb 100] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UPLOAD_PASSWORD = "bench-upload-pass"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _booth(repo: Path, data_dir: str) -> str:
    """The Local booth, built by the checkout whose server runs (its own store format:
    an earlier commit's server cannot read what this one writes), in a child process."""
    script = ("import asyncio, sys; from tests.helpers.booth import local_booth_in; "
              "print(asyncio.run(local_booth_in(sys.argv[1], upload_password=sys.argv[2]))[0])")
    done = subprocess.run([sys.executable, "-c", script, data_dir, UPLOAD_PASSWORD], cwd=repo,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def _start(repo: Path, data_dir: str, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOTHAI_")}
    env.update(BOOTHAI_DATA_DIR=data_dir, BOOTHAI_ENABLED_PROVIDERS="local",
               BOOTHAI_GPU_BACKEND="off", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "functions.cli", "serve", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("boothai serve did not start")


async def _uploads(url: str, photo: bytes, n: int) -> list[float]:
    from tests.helpers import photos

    times = []
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(n):
            began = time.perf_counter()
            r = await client.post(url, data=photos.dslr_fields(UPLOAD_PASSWORD),
                                  files={"fileToUpload": ("IMG_0001.JPG", photo, "image/jpeg")})
            if r.status_code != 200:
                raise SystemExit(f"booth upload failed: {r.status_code} {r.text[:200]}")
            times.append((time.perf_counter() - began) * 1000)
    return times


async def _burst(base: str, n: int) -> dict[str, int]:
    async def login(i: int) -> str:
        address = f"127.0.{1 + i // 250}.{1 + i % 250}"
        transport = httpx.AsyncHTTPTransport(local_address=address)
        try:
            async with httpx.AsyncClient(transport=transport, timeout=60) as client:
                r = await client.get(base + "/api/stats", auth=(f"nobody-{i}", "guess"))
                return str(r.status_code)
        except httpx.HTTPError as exc:
            return type(exc).__name__

    answers: dict[str, int] = {}
    for answer in await asyncio.gather(*[login(i) for i in range(n)]):
        answers[answer] = answers.get(answer, 0) + 1
    return answers


async def _under_burst(base: str, url: str, photo: bytes, n_burst: int, n_uploads: int):
    burst = asyncio.create_task(_burst(base, n_burst))
    await asyncio.sleep(0.05)  # the logins are in before the first upload
    times = await _uploads(url, photo, n_uploads)
    return times, await burst


def _unauthenticated_body(port: int, megabytes: int) -> str:
    """Send the whole body (as an attacker would, ignoring an early answer)."""
    head = (f"POST /api/v1/image/comparison HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {megabytes * 1024 * 1024}\r\n\r\n")
    chunk = b"A" * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode())
        try:
            for _ in range(megabytes):
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed: the rest is refused by the kernel
        try:
            return sock.recv(200).split(b"\r\n")[0].decode()
        except OSError as exc:
            return type(exc).__name__


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=400)
    parser.add_argument("--uploads", type=int, default=30)
    parser.add_argument("--body-mb", type=int, default=100)
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--quick", action="store_true", help="CI: 60 logins, 6 uploads, 20 MB")
    args = parser.parse_args()
    if args.quick:
        args.burst, args.uploads, args.body_mb = 60, 6, 20

    from tests.helpers import photos

    photo = photos.green_screen(1600, 1067, noise=True, quality=90)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = str(Path(tmp) / "data")
        token = _booth(args.repo.resolve(), data_dir)
        port = _free_port()
        server = _start(args.repo.resolve(), data_dir, port)
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/u/{token}"
        try:
            asyncio.run(_uploads(url, photo, 3))  # warm: reference cached, code paths loaded
            alone = asyncio.run(_uploads(url, photo, args.uploads))
            rss_idle = _rss_mb(server.pid)
            during, answers = asyncio.run(_under_burst(base, url, photo, args.burst,
                                                       args.uploads))
            peak = _rss_mb(server.pid, "VmHWM")
            time.sleep(3)  # what the burst left behind settles (shared/memory.py trims)
            before_body = _rss_mb(server.pid)
            status = _unauthenticated_body(port, args.body_mb)
            time.sleep(1)
            body_growth = _rss_mb(server.pid) - before_body
            body_peak = _rss_mb(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(timeout=10)

    ratio = _pct(during, 95) / _pct(alone, 95)
    print(f"{'figure':44} {'value':>12}")
    print(f"{'booth p50 / p95 alone (ms)':44} {_pct(alone, 50):6.0f} / {_pct(alone, 95):.0f}")
    print(f"{'booth p50 / p95 under the burst (ms)':44} {_pct(during, 50):6.0f} / "
          f"{_pct(during, 95):.0f}")
    print(f"{'booth p95 ratio (burst / alone)':44} {ratio:12.2f}")
    print(f"{'logins of the burst, by answer':44} {answers}")
    print(f"{'server RSS idle (MB)':44} {rss_idle:12.0f}")
    print(f"{'server peak RSS through the burst (MB)':44} {peak:12.0f}")
    print(f"{f'unauthenticated {args.body_mb} MB body: answer':44} {status}")
    print(f"{'  RSS growth from it (MB, target < 20)':44} {body_growth:12.1f}")
    print(f"{'  peak RSS after it (MB)':44} {body_peak:12.0f}")
    failed = body_growth >= 20 or ratio > 10
    print("RESULT", "MISS" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
