"""What does the QR stamp (shared/qr_stamp.py) cost over what any answer built from the photo
costs anyway?

In one run, interleaved (baseline, stamp, baseline, stamp, ...), medians of:
  - baseline: the same JPEG decoded and encoded again (quality 92, its own subsampling), no
    stamp: the floor for any re-encoded answer;
  - stamp:    `stamp(photo, url, text)`: header check, QR encoding, decode, EXIF turn,
    plate, code and text, encode.
for a 24 MP camera JPEG (6000x4000) and a 1800x1200 one (a 4x6 in print's pixels), both with
camera-like grain (JPEG sizes as a booth sends them), and the 24 MP photo tagged "turned"
(EXIF orientation 6: the rotation is the stamp's, a baseline re-encode would not turn it).
Targets: at 24 MP the stamp within 1.15× the baseline (the drawing touches a corner; the
decode and encode are the cost); at 1800x1200 within 1.5×: there the stamp's fixed cost —
choosing the QR's mask (segno scores all eight in pure Python, ~5 ms, whatever the photo's
size; shown on its own row) and ~1.5 ms of drawing — is a fifth of so small a re-encode.
Exit status 1 on a miss (`--no-targets` to only print).

    python benchmarks/qr_stamp.py [--runs 15] [--quick]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import segno  # noqa: E402
from PIL import Image, ImageChops, JpegImagePlugin  # noqa: E402

from shared.qr_stamp import JPEG_QUALITY, stamp  # noqa: E402

URL = "https://booth.example.com/s/Xy3_aB-9kLmN0pQrXy3_aB-9kLmN0pQr"
TEXT = "Ваше AI-фото уже готовится — отсканируйте код"
MAX_PIXELS = 40_000_000
TARGET_24MP = 1.15
TARGET_PRINT = 1.5


@dataclass
class Row:
    figure: str
    baseline: str
    stamp: str
    target: str
    ok: bool | None  # None: shown for information, no target
    note: str = ""


def print_table(rows: list[Row]) -> None:
    print(f"{'figure':<44} {'baseline':>9} {'stamp':>9} {'target':>8}  result  note")
    for row in rows:
        result = "-" if row.ok is None else ("PASS" if row.ok else "MISS")
        print(f"{row.figure:<44} {row.baseline:>9} {row.stamp:>9} {row.target:>8}  {result:<6}  "
              f"{row.note}")


def camera_jpeg(width: int, height: int, *, orientation: int | None = None) -> bytes:
    """A guest before a wall with grain (a booth's JPEG, not a flat test card), quality 90."""
    from tests.helpers import photos

    img = Image.open(io.BytesIO(photos.plain_photo(width, height, balloon=True)))
    img = ImageChops.add(img.convert("RGB"), Image.effect_noise((width, height), 10).convert("RGB"),
                         scale=1.0, offset=-128)
    out = io.BytesIO()
    options = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    img.save(out, format="JPEG", quality=90, **options)
    return out.getvalue()


def resave(data: bytes) -> bytes:
    """The baseline: decode, encode again as the stamp does, nothing drawn."""
    img = Image.open(io.BytesIO(data))
    img.load()
    sampling = JpegImagePlugin.get_sampling(img)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=JPEG_QUALITY, subsampling=sampling if sampling >= 0 else 2)
    return out.getvalue()


def interleaved(base: Callable[[], object], new: Callable[[], object], runs: int) -> tuple[float, float]:
    """Medians (ms) of `runs` timed calls of each, alternating which goes first."""
    base(), new()  # warm-up: imports, the font, caches
    times: dict[str, list[float]] = {"base": [], "new": []}
    for i in range(runs):
        pair = (("base", base), ("new", new)) if i % 2 == 0 else (("new", new), ("base", base))
        for name, fn in pair:
            started = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - started) * 1000)
    return statistics.median(times["base"]), statistics.median(times["new"])


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 runs, for a smoke check")
    parser.add_argument("--no-targets", action="store_true")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs

    rows = []
    for name, (width, height), orientation, goal in (
        ("24 MP JPEG (6000x4000)", (6000, 4000), None, TARGET_24MP),
        ("4x6 print JPEG (1800x1200)", (1800, 1200), None, TARGET_PRINT),
        ("24 MP JPEG, EXIF-turned (orientation 6)", (6000, 4000), 6, None),
    ):
        photo = camera_jpeg(width, height, orientation=orientation)
        base_ms, stamp_ms = interleaved(
            lambda p=photo: resave(p),
            lambda p=photo: stamp(p, URL, TEXT, max_pixels=MAX_PIXELS), runs)
        ratio = stamp_ms / base_ms
        rows.append(Row(f"ms, {name}", f"{base_ms:.1f}", f"{stamp_ms:.1f}",
                        f"≤ {goal:g}×" if goal else "-", None if goal is None else ratio <= goal,
                        f"{ratio:.2f}× the baseline, +{stamp_ms - base_ms:.1f} ms; "
                        f"{len(photo) / 1e6:.1f} MB in"))
    segno_ms = statistics.median(_timed(lambda: segno.make(URL, error="m", micro=False))
                                 for _ in range(max(runs, 9)))
    rows.append(Row("ms, the QR encoding alone (segno, in stamp)", "-", f"{segno_ms:.1f}", "-", None,
                    "the URL's symbol with its mask chosen; the same at any photo size"))
    print_table(rows)
    missed = [row for row in rows if row.ok is False]
    return 1 if missed and not args.no_targets else 0


if __name__ == "__main__":
    sys.exit(main())
