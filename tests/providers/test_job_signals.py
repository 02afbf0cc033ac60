"""JobSignals: the lookups-table item is the cross-process channel; an in-process event
wakes a waiter in the same process at once."""

from __future__ import annotations

import asyncio
import threading
import time

from shared import job_signals
from shared.job_signals import JobSignals


async def test_publish_then_wait_returns_the_payload(tables):
    signals = JobSignals(tables)
    assert await signals.publish("j1", {"success": True, "uploaded_image": "x", "w": 1.5})
    assert await signals.wait("j1", timeout=1) == {"success": True, "uploaded_image": "x",
                                                    "w": 1.5}


async def test_item_layout_and_ttl(tables):
    await JobSignals(tables, ttl_seconds=120).publish("j2", {"a": 1})
    item = tables.get("lookups", "hook#j2", "-")
    assert item is not None
    assert time.time() + 100 < item["expires_at"] <= time.time() + 121


async def test_first_delivery_wins(tables):
    signals = JobSignals(tables)
    assert await signals.publish("j3", {"n": 1}) is True
    assert await signals.publish("j3", {"n": 2}) is False
    assert await signals.get("j3") == {"n": 1}


async def test_wait_times_out_with_none(tables):
    started = time.monotonic()
    assert await JobSignals(tables).wait("nobody", timeout=0.3, poll_interval=0.1) is None
    assert 0.25 < time.monotonic() - started < 1.0
    assert "nobody" not in job_signals._waiters


async def test_in_process_publish_wakes_the_waiter_at_once(tables):
    waiter = JobSignals(tables)
    publisher = JobSignals(tables)  # another instance: the registry is per process

    async def later():
        await asyncio.sleep(0.2)
        await publisher.publish("j4", {"ok": True})

    started = time.monotonic()
    task = asyncio.create_task(later())
    # A 10 s poll interval: only the in-process wake-up can make this fast.
    assert await waiter.wait("j4", timeout=5, poll_interval=10) == {"ok": True}
    assert time.monotonic() - started < 1.0
    await task


async def test_publish_from_another_thread_and_loop_wakes_the_waiter(tables):
    def other_thread():
        time.sleep(0.2)
        asyncio.run(JobSignals(tables).publish("j5", {"from": "thread"}))

    thread = threading.Thread(target=other_thread)
    started = time.monotonic()
    thread.start()
    assert await JobSignals(tables).wait("j5", timeout=5, poll_interval=10) == {"from": "thread"}
    assert time.monotonic() - started < 1.0
    thread.join()


async def test_another_process_is_seen_by_polling(tables, tmp_path):
    """A write by another process reaches the table only: the poll must find it."""
    from shared.storage.sqlite_tables import SQLiteTables

    other = SQLiteTables(tables.path)  # a second connection, as another process would open

    async def write_directly():
        await asyncio.sleep(0.2)
        other.put("lookups", {"pk": "hook#j6", "sk": "-", "payload": '{"x": 1}',
                              "expires_at": int(time.time()) + 60}, if_absent=True)

    task = asyncio.create_task(write_directly())
    assert await JobSignals(tables).wait("j6", timeout=3, poll_interval=0.1) == {"x": 1}
    await task


async def test_cancelled_wait_unregisters(tables):
    task = asyncio.create_task(JobSignals(tables).wait("j7", timeout=10))
    await asyncio.sleep(0.1)
    assert "j7" in job_signals._waiters
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert "j7" not in job_signals._waiters
