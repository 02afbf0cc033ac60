"""The two storage ports. Adapters are synchronous (sqlite3, boto3, files); the core calls
them from worker threads so the event loop never blocks.

Tables is DynamoDB-shaped: every item lives in a named table under a partition key `pk`
and a sort key `sk`, both strings. An item may carry `expires_at` (unix seconds): expired
items are invisible to reads (DynamoDB deletes them later by TTL; sqlite on read).

ObjectStore is S3-shaped: keys are `/`-separated paths of safe characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# Logical table names. Each adapter maps them to physical names with the table prefix.
TABLES = ("tenants", "slots", "jobs", "stats", "lookups", "throttle", "traces")

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")


def check_object_key(key: str) -> str:
    """Refuse keys that could escape a prefix or a folder (`..`, absolute, odd characters)."""
    if len(key) > 512 or not _KEY_RE.match(key) or ".." in key:
        raise ValueError(f"invalid object key: {key!r}")
    return key


class Tables(Protocol):
    def get(self, table: str, pk: str, sk: str) -> dict[str, Any] | None: ...

    def put(
        self,
        table: str,
        item: dict[str, Any],
        *,
        if_absent: bool = False,
        if_version: int | None = None,
    ) -> None:
        """Write a whole item (must contain pk and sk).

        if_absent: fail with ConditionFailed when an item with that key exists.
        if_version: fail unless the stored item's `version` equals this number.
        """

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
        """Create-or-update: set attributes and atomically add to numeric counters.
        Returns the item as stored after the update."""

    def add_within(
        self, table: str, pk: str, sk: str, *, add: dict[str, int], limits: dict[str, int],
        expires_at: int,
    ) -> dict[str, Any]:
        """Create-or-update that adds `add` to counters only while every counter named in
        `limits` is below its limit (a missing counter is 0), in one atomic operation: the
        item after the update, or ConditionFailed. N concurrent callers can never pass a
        limit of M < N (shared/throttle.py reserves password checks with it)."""

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
        """Items of partition `pk` in sort-key order (`descending`: newest job first).
        start_after: the sort key to continue after, exclusive, in the query's own order (the
        last key of the previous page; it need not exist): DynamoDB's ExclusiveStartKey, so a
        page costs only its own items however deep it is."""

    def delete(self, table: str, pk: str, sk: str) -> None: ...

    def ping(self, table: str) -> None:
        """Raise if `table` cannot be reached (DynamoDB: DescribeTable, so read access)."""


class WorkQueue(Protocol):
    """Work handed to another function (AWS: an SQS queue feeding it)."""

    def send(self, body: str) -> None:
        """Queue one message; StorageUnavailable when the queue cannot be reached."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store bytes. Keys end in their format's extension; the filesystem adapter derives
        the content type from it, S3 stores the one given."""

    def get(self, key: str) -> bytes:
        """Raise shared.errors.NotFound when the key is absent."""

    def head(self, key: str) -> ObjectInfo | None: ...

    def delete(self, key: str) -> None: ...

    def move(self, src: str, dst: str) -> None: ...

    def list(self, prefix: str) -> list[str]: ...

    def url(self, key: str, expires_in: int) -> str:
        """A time-limited GET link that a third party (Turbotext) can download."""

    def ping(self) -> None: ...


@dataclass(frozen=True)
class Fetched:
    data: bytes
    url: str  # the final URL, after redirects
    content_type: str


@dataclass(frozen=True)
class OriginHeaders:
    """Request headers (an API key) for one origin only: sent on every hop of a fetch whose
    scheme, host and port are `origin`'s, and on no hop a redirect takes anywhere else."""

    origin: str  # e.g. "https://www.turbotext.ru"
    headers: Mapping[str, str]


class UrlFetcher(Protocol):
    """Fetches a URL that came from outside: the vision API's `image_urls`, a link in a
    provider's answer or webhook body. The adapter is shared/safe_fetch.SafeFetcher: public
    addresses only (checked on every redirect), bounded size and time."""

    async def fetch(self, url: str, *, label: str = "image", field: str | None = "image_urls",
                    origin_headers: OriginHeaders | None = None) -> Fetched:
        """The body at `url`; InvalidInput subclasses (4xx, naming `field`, messages starting
        with `label`) when refused or unreachable, PayloadTooLarge past the size limit."""
