"""What a component of the core may touch in the two storage ports, and the guard that holds
it to that.

Every component that talks to Tables or ObjectStore declares an `Access`: the tables it
reads or writes, the object-key prefixes it reads or writes, and the stack secrets it needs.
A use case's access is the union of its own and its components' (`a | b`). One declaration,
two checks:

- `scope_tables(tables, access)` / `scope_store(store, access)` wrap the ports a component
  receives, so a call outside its declaration fails at once — in every test, naming what is
  missing — instead of as AccessDenied on the first real AWS request;
- tests/infra/test_iam.py holds each Lambda function's policies in template.yaml against
  the access of the use cases that function serves: a missing or an extra grant fails it.

Levels follow the SAM policy templates, so a declaration maps to one policy each:
READ (DynamoDBReadPolicy / s3:GetObject), WRITE (DynamoDBWritePolicy / s3:PutObject),
CRUD (DynamoDBCrudPolicy / s3:GetObject+PutObject+DeleteObject).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.ports import ObjectInfo, ObjectStore, Tables


class Level(StrEnum):
    READ = "read"
    WRITE = "write"
    CRUD = "crud"

    def __or__(self, other: object) -> Level:  # type: ignore[override]
        if not isinstance(other, Level):
            return NotImplemented
        return self if self is other else Level.CRUD

    def allows(self, needed: Level) -> bool:
        return self is Level.CRUD or self is needed


class Secret(StrEnum):
    """The stack's Secrets Manager secrets (template.yaml), by what they hold."""

    SIGNING_KEY = "signing_key"  # BOOTHAI_SIGNING_KEY: webhook tokens, signed links
    PROVIDER_KEYS = "provider_keys"  # GEMINI_API_KEY, TURBOTEXT_API_KEY, MODAL_TOKEN_*


def _merge(a: Mapping[str, Level], b: Mapping[str, Level]) -> dict[str, Level]:
    merged = dict(a)
    for name, level in b.items():
        merged[name] = merged[name] | level if name in merged else level
    return merged


@dataclass(frozen=True)
class Access:
    tables: Mapping[str, Level] = field(default_factory=dict)
    # Object-key prefixes ("originals/", …; shared/object_keys.py) → level.
    objects: Mapping[str, Level] = field(default_factory=dict)
    # HeadBucket (the store's ping) needs s3:ListBucket on the bucket itself.
    list_bucket: bool = False
    secrets: frozenset[Secret] = frozenset()
    # The stack's SQS queues (template.yaml) by name ("finisher"): WRITE sends to it
    # (SQSSendMessagePolicy), READ is the function its messages feed (an SQS event source).
    queues: Mapping[str, Level] = field(default_factory=dict)

    def __or__(self, other: Access) -> Access:
        return Access(
            tables=_merge(self.tables, other.tables),
            objects=_merge(self.objects, other.objects),
            list_bucket=self.list_bucket or other.list_bucket,
            secrets=self.secrets | other.secrets,
            queues=_merge(self.queues, other.queues),
        )

    def table_allows(self, table: str, needed: Level) -> bool:
        level = self.tables.get(table)
        return level is not None and level.allows(needed)

    def object_allows(self, key: str, needed: Level) -> bool:
        return any(key.startswith(prefix) and level.allows(needed)
                   for prefix, level in self.objects.items())


NONE = Access()

# The GPU backend touches no storage port; the Modal adapter signs in with MODAL_TOKEN_*
# from the provider-keys secret.
GPU_BACKEND = Access(secrets=frozenset({Secret.PROVIDER_KEYS}))


def union(*accesses: Access) -> Access:
    total = NONE
    for access in accesses:
        total = total | access
    return total


class AccessNotDeclared(RuntimeError):
    """A component touched a table or object prefix its `Access` does not declare. A bug in
    the code or the declaration, never the caller's fault: it must fail loudly (500)."""


class ScopedTables:
    """A Tables port that only lets through what `access` declares."""

    def __init__(self, tables: Tables, access: Access, owner: str) -> None:
        self._tables = tables
        self._access = access
        self._owner = owner

    def _need(self, table: str, level: Level) -> None:
        if not self._access.table_allows(table, level):
            raise AccessNotDeclared(f"{self._owner} needs {level} on table {table!r} "
                                    "but does not declare it")

    def get(self, table: str, pk: str, sk: str) -> dict[str, Any] | None:
        self._need(table, Level.READ)
        return self._tables.get(table, pk, sk)

    def put(self, table: str, item: dict[str, Any], *, if_absent: bool = False,
            if_version: int | None = None) -> None:
        self._need(table, Level.WRITE)
        self._tables.put(table, item, if_absent=if_absent, if_version=if_version)

    def update(self, table: str, pk: str, sk: str, *, set: dict[str, Any] | None = None,
               add: dict[str, int] | None = None, expires_at: int | None = None) -> dict[str, Any]:
        self._need(table, Level.WRITE)
        return self._tables.update(table, pk, sk, set=set, add=add, expires_at=expires_at)

    def add_within(self, table: str, pk: str, sk: str, *, add: dict[str, int],
                   limits: dict[str, int], expires_at: int) -> dict[str, Any]:
        self._need(table, Level.WRITE)
        return self._tables.add_within(table, pk, sk, add=add, limits=limits,
                                       expires_at=expires_at)

    def query(self, table: str, pk: str, *, sk_prefix: str | None = None,
              descending: bool = False, limit: int | None = None,
              start_after: str | None = None) -> list[dict[str, Any]]:
        self._need(table, Level.READ)
        return self._tables.query(table, pk, sk_prefix=sk_prefix, descending=descending,
                                  limit=limit, start_after=start_after)

    def delete(self, table: str, pk: str, sk: str) -> None:
        self._need(table, Level.CRUD)
        self._tables.delete(table, pk, sk)

    def ping(self, table: str) -> None:
        self._need(table, Level.READ)
        self._tables.ping(table)


class ScopedStore:
    """An ObjectStore port that only lets through the prefixes `access` declares."""

    def __init__(self, store: ObjectStore, access: Access, owner: str) -> None:
        self._store = store
        self._access = access
        self._owner = owner

    def _need(self, key: str, level: Level) -> None:
        if not self._access.object_allows(key, level):
            raise AccessNotDeclared(f"{self._owner} needs {level} on object {key!r} "
                                    "but does not declare its prefix")

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._need(key, Level.WRITE)
        self._store.put(key, data, content_type)

    def get(self, key: str) -> bytes:
        self._need(key, Level.READ)
        return self._store.get(key)

    def head(self, key: str) -> ObjectInfo | None:
        self._need(key, Level.READ)
        return self._store.head(key)

    def delete(self, key: str) -> None:
        self._need(key, Level.CRUD)
        self._store.delete(key)

    def move(self, src: str, dst: str) -> None:
        # S3: CopyObject reads the source and writes the target, then the source is deleted.
        self._need(src, Level.CRUD)
        self._need(dst, Level.WRITE)
        self._store.move(src, dst)

    def list(self, prefix: str) -> list[str]:
        if not self._access.list_bucket:
            raise AccessNotDeclared(f"{self._owner} lists objects but does not declare list_bucket")
        return self._store.list(prefix)

    def url(self, key: str, expires_in: int) -> str:
        # A presigned GET is signed with our own credentials: we need read on the key.
        self._need(key, Level.READ)
        return self._store.url(key, expires_in)

    def ping(self) -> None:
        if not self._access.list_bucket:
            raise AccessNotDeclared(f"{self._owner} pings the store but does not declare list_bucket")
        self._store.ping()


def scope_tables(tables: Tables, access: Access, owner: str) -> Tables:
    return ScopedTables(tables, access, owner)


def scope_store(store: ObjectStore, access: Access, owner: str) -> ObjectStore:
    return ScopedStore(store, access, owner)
