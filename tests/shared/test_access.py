"""shared/access.py: declarations combine like the SAM policy levels, and the scoped ports
refuse whatever a component did not declare."""

from __future__ import annotations

import pytest

from shared.access import Access, AccessNotDeclared, Level, Secret, scope_store, scope_tables
from shared.signed_links import LinkSigner
from shared.storage.filesystem_store import FilesystemStore
from shared.storage.sqlite_tables import SQLiteTables


def test_levels_combine_to_the_nearest_policy_template():
    assert Level.READ | Level.READ is Level.READ
    assert Level.READ | Level.WRITE is Level.CRUD
    assert Level.WRITE | Level.CRUD is Level.CRUD
    a = Access(tables={"jobs": Level.WRITE}, objects={"results/": Level.WRITE},
               secrets=frozenset({Secret.SIGNING_KEY}))
    b = Access(tables={"jobs": Level.READ, "slots": Level.READ}, list_bucket=True)
    both = a | b
    assert both.tables == {"jobs": Level.CRUD, "slots": Level.READ}
    assert both.objects == {"results/": Level.WRITE}
    assert both.list_bucket and both.secrets == {Secret.SIGNING_KEY}


@pytest.fixture
def tables(tmp_path):
    return SQLiteTables(tmp_path / "t.sqlite3")


@pytest.fixture
def store(tmp_path):
    return FilesystemStore(tmp_path / "o", signer=LinkSigner(b"k" * 32),
                           public_base_url="https://boothai.example")


def test_scoped_tables_let_through_only_what_is_declared(tables):
    scoped = scope_tables(tables, Access(tables={"jobs": Level.WRITE, "slots": Level.READ}),
                          "TestComponent")
    scoped.put("jobs", {"pk": "t", "sk": "1"})
    scoped.update("jobs", "t", "1", set={"status": "done"})
    assert scoped.get("slots", "t", "x") is None
    with pytest.raises(AccessNotDeclared, match="TestComponent needs read on table 'jobs'"):
        scoped.get("jobs", "t", "1")
    with pytest.raises(AccessNotDeclared, match="crud on table 'jobs'"):
        scoped.delete("jobs", "t", "1")
    with pytest.raises(AccessNotDeclared, match="write on table 'slots'"):
        scoped.put("slots", {"pk": "t", "sk": "x"})
    with pytest.raises(AccessNotDeclared, match="table 'lookups'"):
        scoped.query("lookups", "x")
    assert tables.get("jobs", "t", "1")["status"] == "done"  # what was allowed did happen


def test_scoped_store_checks_prefixes_and_both_ends_of_a_move(store):
    scoped = scope_store(store, Access(objects={"originals/": Level.CRUD, "trash/": Level.WRITE,
                                                "references/": Level.READ}), "Pipeline")
    scoped.put("originals/t/1.jpg", b"\xff\xd8\xffphoto", "image/jpeg")
    scoped.move("originals/t/1.jpg", "trash/t/1.jpg")
    assert store.get("trash/t/1.jpg") == b"\xff\xd8\xffphoto"
    with pytest.raises(AccessNotDeclared, match="read on object 'trash/t/1.jpg'"):
        scoped.get("trash/t/1.jpg")
    with pytest.raises(AccessNotDeclared, match="crud on object 'trash/t/1.jpg'"):
        scoped.move("trash/t/1.jpg", "originals/t/1.jpg")
    with pytest.raises(AccessNotDeclared, match="write on object 'references/"):
        scoped.put("references/t/local/01.jpg", b"x", "image/jpeg")
    with pytest.raises(AccessNotDeclared, match="results/"):
        scoped.url("results/t/1.jpg", 60)
    with pytest.raises(AccessNotDeclared, match="list_bucket"):
        scoped.ping()
    # A prefix is a prefix: "originals-evil/" is not under "originals/".
    with pytest.raises(AccessNotDeclared):
        scoped.put("originalsx/t/1.jpg", b"x", "image/jpeg")
