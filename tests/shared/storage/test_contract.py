"""One contract for each port, run against every adapter: sqlite + filesystem (embedded)
and DynamoDB + S3 over HTTP against a real moto server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from shared.errors import ConditionFailed, NotFound
from shared.ports import ObjectStore, Tables
from shared.signed_links import LinkSigner
from shared.storage.dynamodb_tables import DynamoDBTables
from shared.storage.filesystem_store import FilesystemStore
from shared.storage.s3_store import S3Store
from shared.storage.sqlite_tables import SQLiteTables

_n = iter(range(10_000))


@pytest.fixture(params=["sqlite", "dynamodb"])
def tables(request, tmp_path: Path) -> Tables:
    if request.param == "sqlite":
        return SQLiteTables(tmp_path / "t.sqlite3")
    endpoint = request.getfixturevalue("moto_endpoint")
    request.getfixturevalue("aws_env")
    adapter = DynamoDBTables(prefix=f"c{next(_n)}-", endpoint_url=endpoint)
    adapter.create_tables()
    return adapter


@pytest.fixture(params=["filesystem", "s3"])
def store(request, tmp_path: Path) -> ObjectStore:
    if request.param == "filesystem":
        return FilesystemStore(tmp_path / "objects", signer=LinkSigner(b"x" * 32),
                               public_base_url="http://127.0.0.1:9")
    endpoint = request.getfixturevalue("moto_endpoint")
    request.getfixturevalue("aws_env")
    adapter = S3Store(bucket=f"contract-{next(_n)}", endpoint_url=endpoint)
    adapter.create_bucket()
    return adapter


# -- Tables ---------------------------------------------------------------------------------------
def test_put_get_delete_roundtrip(tables: Tables) -> None:
    item = {"pk": "a", "sk": "1", "name": "x", "n": 3, "f": 1.5, "flag": True, "none": None,
            "nested": {"list": [1, "two", {"three": 3.25}]}}
    tables.put("jobs", item)
    assert tables.get("jobs", "a", "1") == item
    assert tables.get("jobs", "a", "2") is None
    assert tables.get("slots", "a", "1") is None  # tables are separate
    tables.delete("jobs", "a", "1")
    assert tables.get("jobs", "a", "1") is None


def test_put_if_absent_refuses_second_writer(tables: Tables) -> None:
    tables.put("tenants", {"pk": "tenant", "sk": "acme", "v": 1}, if_absent=True)
    with pytest.raises(ConditionFailed):
        tables.put("tenants", {"pk": "tenant", "sk": "acme", "v": 2}, if_absent=True)
    assert tables.get("tenants", "tenant", "acme")["v"] == 1


def test_put_if_version_matches(tables: Tables) -> None:
    tables.put("slots", {"pk": "t", "sk": "s", "version": 1})
    tables.put("slots", {"pk": "t", "sk": "s", "version": 2}, if_version=1)
    with pytest.raises(ConditionFailed):
        tables.put("slots", {"pk": "t", "sk": "s", "version": 3}, if_version=1)
    assert tables.get("slots", "t", "s")["version"] == 2


def test_update_creates_sets_and_adds(tables: Tables) -> None:
    first = tables.update("stats", "t", "day#1", add={"done": 1, "ms": 120})
    assert first["done"] == 1 and first["ms"] == 120
    second = tables.update("stats", "t", "day#1", set={"label": "x"}, add={"done": 2})
    assert second["done"] == 3 and second["ms"] == 120 and second["label"] == "x"


def test_counter_increments_are_atomic_under_concurrency(tables: Tables) -> None:
    def bump() -> None:
        for _ in range(10):
            tables.update("stats", "t", "total#local", add={"done": 1})

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tables.get("stats", "t", "total#local")["done"] == 80


def test_add_within_stops_at_the_limit(tables: Tables) -> None:
    ends = int(time.time()) + 60

    def take() -> dict:
        return tables.add_within("throttle", "c", "w", add={"n": 1}, limits={"n": 3, "bad": 2},
                                 expires_at=ends)

    assert [take()["n"] for _ in range(3)] == [1, 2, 3]
    with pytest.raises(ConditionFailed):
        take()
    assert tables.get("throttle", "c", "w")["n"] == 3
    tables.update("throttle", "c", "w", add={"n": -1})  # given back: room again
    assert take()["n"] == 3
    assert tables.get("throttle", "c", "w")["expires_at"] == ends
    # Any limit reached refuses, also one on a counter this call does not add to.
    tables.update("throttle", "c", "w", add={"n": -3, "bad": 2})
    with pytest.raises(ConditionFailed):
        take()


def test_add_within_never_lets_concurrent_callers_past_the_limit(tables: Tables) -> None:
    """The throttle's guarantee (issue 13, finding 2): 40 simultaneous reservations against a
    limit of 5: exactly 5 pass, however the threads interleave. A read-then-write lets most
    of them through."""
    ends = int(time.time()) + 60
    passed: list[int] = []
    refused: list[int] = []
    start = threading.Barrier(40)

    def attempt() -> None:
        start.wait()
        try:
            passed.append(tables.add_within("throttle", "burst", "w", add={"n": 1},
                                            limits={"n": 5}, expires_at=ends)["n"])
        except ConditionFailed:
            refused.append(1)

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(passed) == [1, 2, 3, 4, 5] and len(refused) == 35


def test_query_by_partition_with_prefix_order_and_limit(tables: Tables) -> None:
    for sk in ["local#02", "local#01", "gemini#01", "local#10"]:
        tables.put("slots", {"pk": "acme", "sk": sk})
    tables.put("slots", {"pk": "other", "sk": "local#01"})
    assert [i["sk"] for i in tables.query("slots", "acme")] == \
        ["gemini#01", "local#01", "local#02", "local#10"]
    assert [i["sk"] for i in tables.query("slots", "acme", sk_prefix="local#")] == \
        ["local#01", "local#02", "local#10"]
    assert [i["sk"] for i in tables.query("slots", "acme", descending=True, limit=2)] == \
        ["local#10", "local#02"]
    # A prefix with LIKE wildcards must match literally.
    assert tables.query("slots", "acme", sk_prefix="local%") == []


def test_query_pages_through_many_items(tables: Tables) -> None:
    for i in range(120):
        tables.put("jobs", {"pk": "acme", "sk": f"{i:04d}", "blob": "x" * 9000})
    items = tables.query("jobs", "acme")
    assert len(items) == 120 and items[-1]["sk"] == "0119"


def test_query_continues_after_a_key_in_its_own_order(tables: Tables) -> None:
    """Keyset paging (event galleries page a tenant's jobs newest first): the page after
    `start_after` starts at the next key in the query's direction, whether that key exists,
    and over the adapter's own internal pages (DynamoDB's 1 MB pages)."""
    for i in range(0, 120, 2):
        tables.put("jobs", {"pk": "acme", "sk": f"{i:04d}", "blob": "x" * 9000})
    tables.put("jobs", {"pk": "other", "sk": "0051"})
    down = tables.query("jobs", "acme", descending=True, limit=3, start_after="0050")
    assert [i["sk"] for i in down] == ["0048", "0046", "0044"]
    gap = tables.query("jobs", "acme", descending=True, limit=2, start_after="0051")
    assert [i["sk"] for i in gap] == ["0050", "0048"]  # a key that is not stored
    up = tables.query("jobs", "acme", limit=2, start_after="0050")
    assert [i["sk"] for i in up] == ["0052", "0054"]
    rest = tables.query("jobs", "acme", descending=True, start_after="0100")
    assert len(rest) == 50 and rest[-1]["sk"] == "0000"
    assert tables.query("jobs", "acme", descending=True, start_after="0000") == []
    assert [i["sk"] for i in tables.query("jobs", "acme", sk_prefix="001", start_after="0012")] \
        == ["0014", "0016", "0018"]


def test_expired_items_are_invisible(tables: Tables) -> None:
    past, future = int(time.time()) - 5, int(time.time()) + 300
    tables.put("lookups", {"pk": "old", "sk": "-", "expires_at": past})
    tables.put("lookups", {"pk": "new", "sk": "-", "expires_at": future})
    assert tables.get("lookups", "old", "-") is None
    assert tables.get("lookups", "new", "-") is not None
    tables.update("throttle", "c", "w", add={"failures": 1}, expires_at=future)
    again = tables.update("throttle", "c", "w", add={"failures": 1}, expires_at=future + 99)
    assert again["failures"] == 2 and again["expires_at"] == future  # first expiry kept


def test_ping(tables: Tables) -> None:
    tables.ping("tenants")


# -- ObjectStore ----------------------------------------------------------------------------------
def test_put_get_head_delete(store: ObjectStore) -> None:
    store.put("originals/acme/2026-11-21/j1.jpg", b"\xff\xd8\xffdata", "image/jpeg")
    assert store.get("originals/acme/2026-11-21/j1.jpg") == b"\xff\xd8\xffdata"
    info = store.head("originals/acme/2026-11-21/j1.jpg")
    assert info is not None and info.size == 7 and info.content_type == "image/jpeg"
    store.delete("originals/acme/2026-11-21/j1.jpg")
    assert store.head("originals/acme/2026-11-21/j1.jpg") is None
    with pytest.raises(NotFound):
        store.get("originals/acme/2026-11-21/j1.jpg")


def test_overwrite_replaces(store: ObjectStore) -> None:
    store.put("references/acme/local/01.png", b"one", "image/png")
    store.put("references/acme/local/01.png", b"two", "image/png")
    assert store.get("references/acme/local/01.png") == b"two"


def test_move_and_list(store: ObjectStore) -> None:
    store.put("originals/acme/d/a.jpg", b"a", "image/jpeg")
    store.put("originals/acme/d/b.jpg", b"b", "image/jpeg")
    store.put("originals/other/d/c.jpg", b"c", "image/jpeg")
    store.move("originals/acme/d/a.jpg", "trash/acme/d/a.jpg")
    assert store.list("originals/acme/") == ["originals/acme/d/b.jpg"]
    assert store.list("trash/") == ["trash/acme/d/a.jpg"]
    assert store.get("trash/acme/d/a.jpg") == b"a"
    assert store.head("trash/acme/d/a.jpg").content_type == "image/jpeg"
    with pytest.raises(NotFound):
        store.move("originals/acme/d/missing.jpg", "trash/x.jpg")


@pytest.mark.parametrize("key", ["../escape", "/abs/path", "a/../../b", "a//b", "a/./b", "", "a\\b",
                                 "a/b?c", "x/" + "y" * 600])
def test_unsafe_keys_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, b"x", "text/plain")


def test_time_limited_url_downloads(store: ObjectStore) -> None:
    store.put("inputs/acme/j.jpg", b"\xff\xd8\xffpayload", "image/jpeg")
    url = store.url("inputs/acme/j.jpg", expires_in=60)
    assert "inputs/acme/j.jpg" in url
    if isinstance(store, S3Store):  # moto serves presigned URLs (it does not check expiry)
        assert httpx.get(url).content == b"\xff\xd8\xffpayload"


def test_ping_store(store: ObjectStore) -> None:
    store.ping()
