"""The Local provider (chroma key / alpha composite) against its pre-issue-17 code, in one run.

  - pixels: max |new - reference| over every pixel of the composite, on the test photos
    (green, blue and noisy green screen, the alpha PNG as RGBA/LA/palette), at 1600×1067 and
    at a small odd size. Target: ≤ 2 levels.
  - speed: median of interleaved runs (reference, new, reference, new, ...) of the provider's
    job (photo bytes → composite → JPEG bytes) on a 1600×1067 photo. Target: ≥ 3× faster.
  - memory: real server processes (create_app + build_services, embedded storage in a temp
    dir, a Local slot with a reference image), one per provider: the reference code as today's
    `boothai serve` runs it, the new code as `boothai serve` now runs it (shared.memory's
    allocator settings), the new code under glibc's defaults (what those settings do), and a
    zero-time provider (answers with the photo at once: everything the server does outside
    Local, under the same settings). Each takes a warm-up upload, then two bursts of 100
    simultaneous 1600 px uploads; RSS is sampled with psutil every 50 ms. Targets: peak RSS
    ≤ 350 MB and, 3 s after each burst, RSS within 50 MB of the idle RSS (sampled after the
    warm-up, before the first burst).

    python benchmarks/local_provider.py [--runs 31] [--requests 100] [--servers new,reference]
    python benchmarks/local_provider.py --quick    # CI smoke: small photos, loose targets

Prints a table (each figure beside the reference's, the target, PASS/MISS; other servers'
figures in the note); exit status 1 when a target is missed. The speed rows run in this
process under glibc's defaults, for both implementations alike.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image, ImageFilter, ImageOps  # noqa: E402

from shared.images import encode, load_rgb  # noqa: E402

# -- the reference: shared/providers/local.py before issue 17, verbatim but for the names ----------

REFERENCE_KEY_LOW = 18.0
REFERENCE_KEY_HIGH = 70.0


def reference_detect_screen(rgb: np.ndarray) -> str:
    """'green' or 'blue', whichever dominates the image border (where the screen is)."""
    border = np.concatenate([rgb[:8].reshape(-1, 3), rgb[-8:].reshape(-1, 3),
                             rgb[:, :8].reshape(-1, 3), rgb[:, -8:].reshape(-1, 3)])
    r, g, b = border[:, 0], border[:, 1], border[:, 2]
    green = np.mean(g - np.maximum(r, b))
    blue = np.mean(b - np.maximum(r, g))
    return "blue" if blue > green else "green"


def reference_chroma_key(
    photo: Image.Image, background: Image.Image, screen: str | None = None
) -> Image.Image:
    """Composite `photo` over `background` (cover-fitted), keying out the screen colour."""
    fg = np.asarray(photo.convert("RGB"), dtype=np.float32)
    screen = screen or reference_detect_screen(fg)
    r, g, b = fg[..., 0], fg[..., 1], fg[..., 2]
    key, other_a, other_b = (g, r, b) if screen == "green" else (b, r, g)
    dominance = key - np.maximum(other_a, other_b)
    alpha = 1.0 - np.clip((dominance - REFERENCE_KEY_LOW) / (REFERENCE_KEY_HIGH - REFERENCE_KEY_LOW),
                          0.0, 1.0)

    # Soft edges: a slight blur of the matte hides the stair-steps along hair and shoulders.
    matte = Image.fromarray((alpha * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    alpha = np.asarray(matte, dtype=np.float32)[..., None] / 255.0

    # Spill suppression: screen light bounces onto the guest; clamp the key channel to the
    # brighter of the other two so edges and skin lose their green/blue cast.
    channel = 1 if screen == "green" else 2
    limit = np.maximum(fg[..., 0], fg[..., 2] if channel == 1 else fg[..., 1])
    fg[..., channel] = np.minimum(fg[..., channel], limit)
    return _reference_over(fg, alpha, background, photo.size)


def reference_alpha_composite(photo: Image.Image, background: Image.Image) -> Image.Image:
    rgba = photo.convert("RGBA")
    fg = np.asarray(rgba, dtype=np.float32)
    return _reference_over(fg[..., :3], fg[..., 3:4] / 255.0, background, photo.size)


def _reference_over(fg: np.ndarray, alpha: np.ndarray, background: Image.Image, size) -> Image.Image:
    bg = ImageOps.fit(background.convert("RGB"), size, Image.Resampling.LANCZOS)
    out = fg * alpha + np.asarray(bg, dtype=np.float32) * (1.0 - alpha)
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))


def reference_composite(photo_bytes: bytes, reference_bytes: bytes, tolerance: int = 50) -> bytes:
    """LocalProvider._composite as it was (before the key tolerance: `tolerance` is ignored)."""
    photo = load_rgb(photo_bytes)
    background = Image.open(io.BytesIO(reference_bytes))
    background = ImageOps.exif_transpose(background)
    has_alpha = photo.mode in ("RGBA", "LA") or "transparency" in photo.info
    compose = reference_alpha_composite if has_alpha else reference_chroma_key
    composed = compose(photo, background)
    return encode(composed, keep_alpha=False, quality=92)[0]


# -- the table -------------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    reference: str
    new: str
    target: str
    ok: bool | None  # None: shown for information, no target
    note: str = ""


def print_table(rows: list[Row]) -> None:
    print(f"{'figure':<52} {'reference':>10} {'new':>10} {'target':>9}  result  note")
    for row in rows:
        result = "-" if row.ok is None else ("PASS" if row.ok else "MISS")
        print(f"{row.figure:<52} {row.reference:>10} {row.new:>10} {row.target:>9}  {result:<6}  "
              f"{row.note}")


# -- pixels ----------------------------------------------------------------------------------------


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def bench_photos(width: int, height: int) -> dict[str, bytes]:
    from tests.helpers import photos

    rgba = photos.decode(photos.png_with_alpha(width, height))
    palette = rgba.convert("RGB").quantize(16)
    palette.info["transparency"] = palette.getpixel((0, 0))  # the surroundings' entry
    return {
        "green screen": photos.green_screen(width, height),
        "blue screen": photos.green_screen(width, height, screen=photos.BLUE),
        "noisy green screen": photos.green_screen(width, height, noise=True),
        "alpha PNG (RGBA)": photos.png_with_alpha(width, height),
        "alpha PNG (LA)": _png(rgba.convert("LA")),
        "alpha PNG (palette)": _png(palette),
    }


def pixel_rows(sizes: list[tuple[int, int]], only: set[str] | None = None) -> list[Row]:
    from shared.providers.local import alpha_composite, chroma_key
    from tests.helpers import photos

    background = photos.decode(photos.background())
    rows = []
    for width, height in sizes:
        for name, data in bench_photos(width, height).items():
            if only is not None and (width, height) != sizes[0] and name not in only:
                continue
            photo = photos.decode(data)
            alpha = photo.mode in ("RGBA", "LA") or "transparency" in photo.info
            old = (reference_alpha_composite if alpha else reference_chroma_key)(photo, background)
            new = (alpha_composite if alpha else chroma_key)(photo, background)
            diff = int(np.abs(np.asarray(old, np.int16) - np.asarray(new, np.int16)).max())
            rows.append(Row(f"pixels {name} {width}x{height}: max |Δ|", "0", str(diff), "≤ 2",
                            diff <= 2, "levels, vs the reference's own output"))
    return rows


# -- speed -----------------------------------------------------------------------------------------


def interleaved(old: Callable[[], object], new: Callable[[], object], runs: int) -> tuple[float, float]:
    """Medians (ms) of `runs` timed calls of each, alternating which goes first."""
    old(), new()  # warm-up: imports, caches, allocator
    times: dict[str, list[float]] = {"old": [], "new": []}
    for i in range(runs):
        pair = (("old", old), ("new", new)) if i % 2 == 0 else (("new", new), ("old", old))
        for name, fn in pair:
            started = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - started) * 1000)
    return statistics.median(times["old"]), statistics.median(times["new"])


def speed_rows(runs: int, target: float, *, all_rows: bool = True) -> list[Row]:
    from shared.providers.local import FITTED, LocalProvider, chroma_key
    from tests.helpers import photos

    reference = photos.background()
    rows = []

    def row(figure: str, old_ms: float, new_ms: float, goal: float | None, note: str = "") -> Row:
        ratio = old_ms / new_ms
        return Row(figure, f"{old_ms:.1f}", f"{new_ms:.1f}", f"≥ {goal:g}×" if goal else "-",
                   None if goal is None else ratio >= goal, f"{ratio:.1f}× faster{note}")

    for name, data, goal in (("noisy green screen", photos.green_screen(noise=True), target),
                             ("alpha PNG", photos.png_with_alpha(1600, 1067), None)):
        old_ms, new_ms = interleaved(lambda d=data: reference_composite(d, reference),
                                     lambda d=data: LocalProvider._composite(d, reference), runs)
        rows.append(row(f"ms per job, {name} 1600x1067", old_ms, new_ms, goal,
                        "; decode + composite + JPEG, the slot's fitted background cached"))
        if not all_rows:
            return rows

    photo = photos.green_screen(noise=True)

    def cold() -> None:
        FITTED.clear()
        LocalProvider._composite(photo, reference)

    old_ms, new_ms = interleaved(lambda: reference_composite(photo, reference), cold,
                                 max(3, runs // 3))
    rows.append(row("ms per job, first of a slot (fit not cached)", old_ms, new_ms, None,
                    "; LANCZOS cover-fit of the reference, as before"))
    decoded, background = photos.decode(photo), photos.decode(reference)
    old_ms, new_ms = interleaved(lambda: reference_chroma_key(decoded, background),
                                 lambda: chroma_key(decoded, background), max(3, runs // 3))
    rows.append(row("ms per chroma_key() call, with its cover-fit", old_ms, new_ms, None))
    return rows


# -- memory: real servers --------------------------------------------------------------------------


def reference_provider():
    from shared.providers.local import LocalProvider

    class ReferenceLocalProvider(LocalProvider):
        _composite = staticmethod(reference_composite)

    return ReferenceLocalProvider()


def zero_time_provider():
    from tests.helpers.booth import zero_time_provider as factory

    return factory()


SERVERS = {
    # name: (provider factory, the allocator settings `boothai serve` applies)
    "zero-time": (zero_time_provider, True),
    "reference": (reference_provider, False),  # today's serve: no allocator settings either
    "new": (None, True),
    "new-untuned": (None, False),  # the new code under glibc's defaults: what tuning does
}


def serve(port: int, data_dir: str, server: str) -> None:
    factory, tune = SERVERS[server]
    if tune:  # first, as `boothai serve` does: before any thread or big allocation
        from shared.memory import tune_allocator

        tune_allocator()
    import uvicorn

    from functions.app import create_app
    from shared.config import Settings
    from shared.domain import ProviderName
    from shared.services import build_services

    services = build_services(Settings(data_dir=Path(data_dir), enabled_providers=["local"]))
    if factory is not None:
        services.providers.providers[ProviderName.LOCAL] = factory()
    app = create_app(services=services)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                timeout_keep_alive=75)


class RssSampler(threading.Thread):
    """RSS of one process every `interval` s, on its own thread (the client's event loop is busy
    sending the burst)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc, self.interval = psutil.Process(pid), interval
        self.samples: list[tuple[float, float]] = []  # (monotonic time, MB)
        self.halt = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.halt.is_set():
            try:
                self.samples.append((time.monotonic(), self.proc.memory_info().rss / 2**20))
            except psutil.Error:
                return
            self.halt.wait(self.interval)

    def between(self, start: float, end: float) -> list[float]:
        return [mb for t, mb in self.samples if start <= t <= end] or [float("nan")]


def distinct(photo: bytes, count: int, seed: str) -> list[bytes]:
    """`count` copies of a JPEG, each with its own COM segment (so no two uploads are equal)."""
    result = []
    for i in range(count):
        text = f"boothai-bench {seed} {i}".encode()
        result.append(photo[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + photo[2:])
    return result


async def burst(url: str, photos_: list[bytes], password: str) -> tuple[float, list[str]]:
    import httpx

    from tests.helpers.photos import dslr_fields

    limits = httpx.Limits(max_connections=len(photos_) + 10, max_keepalive_connections=0)
    errors: list[str] = []
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        async def one(photo: bytes) -> None:
            try:
                response = await client.post(url, data=dslr_fields(password),
                                             files={"fileToUpload": ("IMG_0001.JPG", photo, "image/jpeg")})
                if response.status_code != 200 or not response.content.startswith(b"\xff\xd8"):
                    errors.append(f"{response.status_code} {response.content[:80]!r}")
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)

        started = time.monotonic()
        await asyncio.gather(*(one(p) for p in photos_))
        return time.monotonic() - started, errors


@dataclass
class Memory:
    idle: float
    peaks: list[float]
    after: list[float]  # RSS `settle` s after each burst
    walls: list[float]
    errors: list[str]


def measure_server(server: str, requests: int, size: tuple[int, int], settle: float) -> Memory:
    import httpx

    from tests.conftest import free_port
    from tests.helpers.booth import local_booth_in
    from tests.helpers.photos import green_screen

    with tempfile.TemporaryDirectory(prefix="boothai-bench-local-") as data_dir:
        token, password = asyncio.run(local_booth_in(data_dir))
        port = free_port()
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), data_dir, server],
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        base, upload = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/u/{token}"
        sampler = RssSampler(proc.pid)
        try:
            for _ in range(300):
                try:
                    httpx.get(base + "/health", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            photo = green_screen(*size, noise=True)
            sampler.start()
            _, errors = asyncio.run(burst(upload, distinct(photo, 1, "warm-up"), password))
            time.sleep(settle / 3)
            mark = time.monotonic()
            time.sleep(settle / 3)
            idle = statistics.median(sampler.between(mark, time.monotonic()))
            peaks, after, walls = [], [], []
            for round_ in range(2):
                started = time.monotonic()
                wall, failed = asyncio.run(burst(upload, distinct(photo, requests, f"burst {round_}"),
                                                 password))
                ended = time.monotonic()
                errors += failed
                time.sleep(settle)
                mark = time.monotonic()
                time.sleep(min(0.5, settle / 3))
                peaks.append(max(sampler.between(started, ended + 0.2)))
                after.append(statistics.median(sampler.between(mark, time.monotonic())))
                walls.append(wall)
        finally:
            sampler.halt.set()
            proc.terminate()
            proc.wait(timeout=15)
    return Memory(idle, peaks, after, walls, errors)


def memory_rows(requests: int, size: tuple[int, int], settle: float, servers: list[str],
                max_peak: float, max_kept: float) -> list[Row]:
    results = {name: measure_server(name, requests, size, settle) for name in servers}
    new, old = results["new"], results.get("reference")
    zero = results.get("zero-time")
    others = [name for name in results if name not in ("new", "reference")]

    def note(pick: Callable[[Memory], float], digits: int = 0) -> str:
        return "; ".join(f"{name}: {pick(results[name]):.{digits}f}" for name in others)

    def fmt(m: Memory | None, pick: Callable[[Memory], float], digits: int = 0) -> str:
        return "-" if m is None else f"{pick(m):.{digits}f}"

    w, h = size
    rows = [Row("server idle RSS MB (after a warm-up upload)", fmt(old, lambda m: m.idle),
                f"{new.idle:.0f}", "-", None, note(lambda m: m.idle))]
    for i in range(2):
        rows.append(Row(f"server peak RSS MB, burst {i + 1}: {requests} × {w}x{h}",
                        fmt(old, lambda m, i=i: m.peaks[i]), f"{new.peaks[i]:.0f}",
                        f"≤ {max_peak:g}", new.peaks[i] <= max_peak,
                        note(lambda m, i=i: m.peaks[i])))
        rows.append(Row(f"RSS MB {settle:g} s after burst {i + 1}, minus idle",
                        fmt(old, lambda m, i=i: m.after[i] - m.idle),
                        f"{new.after[i] - new.idle:.0f}", f"≤ {max_kept:g}",
                        new.after[i] - new.idle <= max_kept,
                        note(lambda m, i=i: m.after[i] - m.idle)))
        rows.append(Row(f"burst {i + 1} wall time s (all answered)",
                        fmt(old, lambda m, i=i: m.walls[i], 1), f"{new.walls[i]:.1f}", "-", None,
                        note(lambda m, i=i: m.walls[i], 1)))
    failed = {name: len(m.errors) for name, m in results.items()}
    rows.append(Row("failed uploads", str(failed.get("reference", "-")), str(failed["new"]), "0",
                    failed["new"] == 0, "; ".join(f"{n}: {c}" for n, c in failed.items()
                                                  if n not in ("new", "reference"))
                    + "".join(f" [{n}: {m.errors[0]}]" for n, m in results.items() if m.errors)))
    if zero is not None:
        rows.append(Row("new peak RSS minus the zero-time server's, MB", "-",
                        f"{max(new.peaks) - max(zero.peaks):.0f}", "-", None,
                        "what Local itself adds over the rest of the server"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31, help="timed runs of each, interleaved")
    parser.add_argument("--requests", type=int, default=100, help="uploads per burst")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke: small photos, few runs, one small server burst, loose targets")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help="comma-separated, of: " + ", ".join(SERVERS))
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "DATA_DIR", "SERVER"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return 0

    started = time.monotonic()
    if args.quick:
        rows = pixel_rows([(161, 107), (1600, 1067)], only={"green screen", "alpha PNG (RGBA)"})
        rows += speed_rows(runs=3, target=1.5, all_rows=False)
        rows += memory_rows(requests=10, size=(640, 427), settle=0.6, servers=["new"],
                            max_peak=600, max_kept=150)
    else:
        servers = args.servers.split(",")
        rows = pixel_rows([(161, 107), (1600, 1067)])
        rows += speed_rows(runs=args.runs, target=3.0)
        rows += memory_rows(requests=args.requests, size=(1600, 1067), settle=3.0,
                            servers=servers if "new" in servers else ["new", *servers],
                            max_peak=350, max_kept=50)
    print_table(rows)
    print(f"({time.monotonic() - started:.0f} s; {os.cpu_count()} cores; reference = "
          "shared/providers/local.py before issue 17, copied above)")
    return 1 if any(row.ok is False for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
