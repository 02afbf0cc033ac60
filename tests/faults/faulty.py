"""Fault injection around the real storage adapters.

`FaultyTables` / `FaultyStore` wrap a real adapter and, per call, consult a shared
`Faults` switchboard: a rule matches an operation (`put`, `get`, …, or `*`) and optionally
an argument predicate (a table name, a key prefix), and either raises what a real adapter
raises when its backend is down (`StorageUnavailable`) or sleeps first (a slow backend;
the sleep happens in the worker thread, exactly where a slow network call would block).

    faults = Faults()
    tables, store = wrap_storage(services.tables, services.store, faults)
    services = build_services(settings, tables=tables, store=store)
    faults.slow("put", 5.0, table="jobs")
    faults.down("put", key_prefix="originals/")
    faults.clear()
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from shared.errors import StorageUnavailable


@dataclass
class Rule:
    op: str
    kind: str  # "down" | "slow"
    seconds: float = 0.0
    table: str | None = None
    key_prefix: str | None = None

    def matches(self, op: str, args: tuple) -> bool:
        if self.op not in ("*", op):
            return False
        first = str(args[0]) if args else ""
        if self.table is not None and first != self.table:
            return False
        return not (self.key_prefix is not None and not first.startswith(self.key_prefix))


class Faults:
    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self.hits: list[tuple[str, str]] = []

    def down(self, op: str = "*", **where: Any) -> None:
        with self._lock:
            self._rules.append(Rule(op, "down", **where))

    def slow(self, op: str, seconds: float, **where: Any) -> None:
        with self._lock:
            self._rules.append(Rule(op, "slow", seconds, **where))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def apply(self, what: str, op: str, args: tuple) -> None:
        with self._lock:
            rules = [r for r in self._rules if r.matches(op, args)]
        for rule in rules:
            self.hits.append((what, op))
            if rule.kind == "slow":
                time.sleep(rule.seconds)
            else:
                raise StorageUnavailable(f"{what} {op}: injected outage")


class _Faulty:
    _what = "storage"

    def __init__(self, inner: Any, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.faults.apply(self._what, name, args)
            return attr(*args, **kwargs)

        return call


class FaultyTables(_Faulty):
    _what = "tables"


class FaultyStore(_Faulty):
    _what = "objects"


def wrap_storage(tables: Any, store: Any, faults: Faults) -> tuple[FaultyTables, FaultyStore]:
    return FaultyTables(tables, faults), FaultyStore(store, faults)
