"""What does answering late cost a booth photo whose provider is quick?

A slot with `when_late` other than `error` hands its job to a finisher and waits for it
(shared/late_results.py). When the provider answers in time the booth should hardly notice.
In one run, interleaved, medians of the booth's wait (the pipeline's `process`, the embedded
store, a zero-time provider, an 800x600 JPEG) for:
  - baseline:  `when_late: error`: the provider called inside the request, as always;
  - in-process: `when_late: original`, `boothai serve`'s finisher: the same work as a task;
  - queue:     the AWS shape: the order through a queue to the finisher's use case (here a
               loopback queue that starts it at once, as an idle SQS event source would,
               without SQS's own delivery time), the booth polling the job's row (first
               after FIRST_POLL_SECONDS, the pause doubling up to POLL_SECONDS).
Targets: in-process within 1.25x of the baseline (plus 2 ms); the queue's extra wait within
two first pauses (a quick finisher's result is read at the first or second poll).
Measured before the first pauses were short (a flat 0.4 s): +398 ms median.
Exit status 1 on a miss (`--no-targets` to only print).

    python benchmarks/late_handover.py [--runs 40] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.config import Settings  # noqa: E402
from shared.deadline import BoothDeadline  # noqa: E402
from shared.domain import LateAnswer, ProviderName  # noqa: E402
from shared.late_results import FIRST_POLL_SECONDS, LateOrder, QueueFinisher  # noqa: E402
from shared.repository import Repository  # noqa: E402
from shared.services import Services, build_services  # noqa: E402
from tests.helpers import photos  # noqa: E402
from tests.helpers.booth import local_booth, zero_time_provider  # noqa: E402

TARGET_INPROCESS = 1.25
SLACK_MS = 2.0


class LoopbackQueue:
    """An SQS queue whose event source starts the finisher the moment an order is sent."""

    def __init__(self, services: Services, loop: asyncio.AbstractEventLoop) -> None:
        self.services = services
        self.loop = loop

    def send(self, body: str) -> None:  # called on a worker thread, as boto3's would be
        order = LateOrder.from_message(body)
        self.loop.call_soon_threadsafe(
            lambda: asyncio.ensure_future(self.services.late_jobs.run(order)))


async def build(data_dir: Path, finisher: str) -> tuple[Services, object]:
    services = build_services(Settings(data_dir=data_dir, enabled_providers=["local"],
                                       booth_window_seconds=20))
    if finisher == "queue":
        services.__dict__["finisher"] = QueueFinisher(
            queue=LoopbackQueue(services, asyncio.get_running_loop()),
            repo=Repository(services.tables), store=services.store)
    services.providers.providers[ProviderName.LOCAL] = zero_time_provider()
    _, slot = await local_booth(services, "bench")
    if finisher != "none":
        slot.when_late = LateAnswer.ORIGINAL
        slot = await services.repo.save_slot(slot)
    return services, slot


async def one(services: Services, slot, photo: bytes) -> float:
    started = time.perf_counter()
    deadline = BoothDeadline.from_arrival(time.monotonic(), services.settings)
    answer = await services.pipeline.process(slot, photo, deadline=deadline)
    took = (time.perf_counter() - started) * 1000
    assert not answer.served_original, "the provider answers at once: never late"
    return took


async def measure(runs: int) -> dict[str, float]:
    photo = photos.green_screen(800, 600)
    with tempfile.TemporaryDirectory() as tmp:
        built = {name: await build(Path(tmp) / name, name) for name in ("none", "inprocess",
                                                                         "queue")}
        times: dict[str, list[float]] = {name: [] for name in built}
        for services, slot in built.values():  # warm-up
            await one(services, slot, photo)
        for i in range(runs):
            order = list(built) if i % 2 == 0 else list(reversed(built))
            for name in order:
                services, slot = built[name]
                times[name].append(await one(services, slot, photo))
        for services, _ in built.values():
            await services.aclose()
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="5 runs, for a smoke check")
    parser.add_argument("--no-targets", action="store_true")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    medians = asyncio.run(measure(runs))
    base, inprocess, queue = medians["none"], medians["inprocess"], medians["queue"]
    poll_ms = FIRST_POLL_SECONDS * 1000
    rows = [
        ("booth wait, when_late error (baseline)", base, None, "-", None),
        ("booth wait, late slot, in-process", inprocess, inprocess / base,
         f"<={TARGET_INPROCESS}x", inprocess <= TARGET_INPROCESS * base + SLACK_MS),
        ("booth wait, late slot, queue + row polls", queue, queue / base,
         f"+<={2 * poll_ms:.0f}ms", queue - base <= 2 * poll_ms + SLACK_MS),
    ]
    print(f"{'figure':<44} {'ms':>8} {'ratio':>7} {'target':>9}  result")
    for figure, ms, ratio, target, ok in rows:
        result = "-" if ok is None else ("PASS" if ok else "MISS")
        shown = "-" if ratio is None else f"{ratio:.2f}x"
        print(f"{figure:<44} {ms:>8.1f} {shown:>7} {target:>9}  {result}")
    print(f"(runs: {runs} each, interleaved; the queue's extra wait: {queue - base:.0f} ms "
          f"median, the first poll after {poll_ms:.0f} ms)")
    missed = any(ok is False for *_, ok in rows)
    return 1 if missed and not args.no_targets else 0


if __name__ == "__main__":
    raise SystemExit(main())
