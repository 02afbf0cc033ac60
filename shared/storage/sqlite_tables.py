"""Tables on one SQLite file (WAL). Items are JSON documents keyed by (table, pk, sk).

One connection guarded by a lock: SQLite serialises writers anyway, and each call is
sub-millisecond. Writes that read first run inside BEGIN IMMEDIATE so they are atomic even
when two processes share the file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from shared.errors import ConditionFailed, StorageUnavailable
from shared.storage.filesystem_store import PRIVATE_FILE, tighten

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    tbl TEXT NOT NULL,
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (tbl, pk, sk)
) WITHOUT ROWID;
"""


class SQLiteTables:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        _create_private(self.path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _live(expires_at: int | None) -> bool:
        return expires_at is None or expires_at > time.time()

    def _read(self, table: str, pk: str, sk: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT data, expires_at FROM items WHERE tbl=? AND pk=? AND sk=?", (table, pk, sk)
        ).fetchone()
        if row is None or not self._live(row[1]):
            return None
        return json.loads(row[0])

    def _write(self, table: str, item: dict[str, Any]) -> None:
        expires = item.get("expires_at")
        self._db.execute(
            "INSERT OR REPLACE INTO items (tbl, pk, sk, data, expires_at) VALUES (?,?,?,?,?)",
            (table, item["pk"], item["sk"], json.dumps(item), int(expires) if expires else None),
        )

    def _tx(self, fn):
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    result = fn()
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                raise StorageUnavailable(f"table store error: {exc.__class__.__name__}") from exc

    # -- port --------------------------------------------------------------------------------
    def get(self, table: str, pk: str, sk: str) -> dict[str, Any] | None:
        with self._lock:
            return self._read(table, pk, sk)

    def put(
        self,
        table: str,
        item: dict[str, Any],
        *,
        if_absent: bool = False,
        if_version: int | None = None,
    ) -> None:
        def op() -> None:
            if if_absent or if_version is not None:
                current = self._read(table, item["pk"], item["sk"])
                if if_absent and current is not None:
                    raise ConditionFailed("item exists")
                if if_version is not None and (current or {}).get("version") != if_version:
                    raise ConditionFailed("version changed")
            self._write(table, item)

        self._tx(op)

    def update(
        self,
        table: str,
        pk: str,
        sk: str,
        *,
        set: dict[str, Any] | None = None,
        add: dict[str, int] | None = None,
        expires_at: int | None = None,
    ) -> dict[str, Any]:
        def op() -> dict[str, Any]:
            item = self._read(table, pk, sk) or {"pk": pk, "sk": sk}
            item.update(set or {})
            for name, delta in (add or {}).items():
                item[name] = item.get(name, 0) + delta
            if expires_at is not None and "expires_at" not in item:
                item["expires_at"] = expires_at
            self._write(table, item)
            return item

        return self._tx(op)

    def add_within(
        self, table: str, pk: str, sk: str, *, add: dict[str, int], limits: dict[str, int],
        expires_at: int,
    ) -> dict[str, Any]:
        def op() -> dict[str, Any]:
            # The read and the write share one BEGIN IMMEDIATE transaction: no other writer,
            # in this process or another, can slip between the compare and the add.
            item = self._read(table, pk, sk) or {"pk": pk, "sk": sk, "expires_at": expires_at}
            for name, limit in limits.items():
                if item.get(name, 0) >= limit:
                    raise ConditionFailed(f"{name} reached {limit}")
            for name, delta in add.items():
                item[name] = item.get(name, 0) + delta
            self._write(table, item)
            return item

        return self._tx(op)

    def query(
        self,
        table: str,
        pk: str,
        *,
        sk_prefix: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[dict[str, Any]]:
        sql = "SELECT data, expires_at FROM items WHERE tbl=? AND pk=?"
        args: list[Any] = [table, pk]
        if sk_prefix:
            # Range on the key instead of LIKE: prefixes may contain % or _.
            sql += " AND sk >= ? AND sk < ?"
            args += [sk_prefix, sk_prefix + "\U0010ffff"]
        if start_after is not None:
            sql += " AND sk < ?" if descending else " AND sk > ?"
            args.append(start_after)
        sql += " ORDER BY sk " + ("DESC" if descending else "ASC")
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [json.loads(data) for data, exp in rows if self._live(exp)]

    def delete(self, table: str, pk: str, sk: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM items WHERE tbl=? AND pk=? AND sk=?", (table, pk, sk))

    def ping(self, table: str) -> None:
        with self._lock:
            self._db.execute("SELECT 1").fetchone()


def _create_private(path: str) -> None:
    """Make the database file 0600 before SQLite opens it. SQLite creates it with 0644 cut by
    the umask, and gives its -wal and -shm files the database file's own mode: so a 0600
    database keeps all three readable by this user only. Files left looser by an older
    version are tightened (with a warning)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    os.close(fd)
    for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
        tighten(name, PRIVATE_FILE)
