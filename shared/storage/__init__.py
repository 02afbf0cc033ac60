"""Storage adapters: one file each. `open_storage` picks them from the settings."""

from __future__ import annotations

from shared.config import Settings
from shared.ports import ObjectStore, Tables
from shared.signed_links import LinkSigner


def open_storage(settings: Settings, signer: LinkSigner) -> tuple[Tables, ObjectStore]:
    if settings.storage == "aws":
        from shared.storage.dynamodb_tables import DynamoDBTables
        from shared.storage.s3_store import S3Store

        tables: Tables = DynamoDBTables(
            prefix=settings.table_prefix,
            endpoint_url=settings.dynamodb_endpoint_url,
            region=settings.aws_region,
        )
        store: ObjectStore = S3Store(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.aws_region,
        )
        return tables, store

    from shared.storage.filesystem_store import FilesystemStore
    from shared.storage.sqlite_tables import SQLiteTables

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    tables = SQLiteTables(settings.data_dir / "boothai.sqlite3")
    store = FilesystemStore(
        settings.data_dir / "objects", signer=signer, public_base_url=settings.public_base_url
    )
    return tables, store
