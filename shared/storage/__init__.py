"""Storage adapters: one file each. `open_tables` / `open_store` pick them from the settings
(separately, so a function that needs only tables never builds an S3 client)."""

from __future__ import annotations

from shared.config import Settings
from shared.ports import ObjectStore, Tables
from shared.signed_links import LinkSigner
from shared.storage.filesystem_store import private_dir


def open_tables(settings: Settings) -> Tables:
    if settings.storage == "aws":
        from shared.storage.dynamodb_tables import DynamoDBTables

        return DynamoDBTables(prefix=settings.table_prefix,
                              endpoint_url=settings.dynamodb_endpoint_url,
                              region=settings.aws_region)
    from shared.storage.sqlite_tables import SQLiteTables

    private_dir(settings.data_dir)
    return SQLiteTables(settings.data_dir / "boothai.sqlite3")


def open_store(settings: Settings, signer: LinkSigner | None) -> ObjectStore:
    """`signer` signs embedded mode's /media links (S3 presigns its own; None there)."""
    if settings.storage == "aws":
        from shared.storage.s3_store import S3Store

        return S3Store(bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint_url,
                       region=settings.aws_region)
    from shared.storage.filesystem_store import FilesystemStore

    if signer is None:
        raise ValueError("embedded storage signs its media links: a signer is required")
    private_dir(settings.data_dir)
    return FilesystemStore(settings.data_dir / "objects", signer=signer,
                           public_base_url=settings.public_base_url)

