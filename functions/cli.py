"""The `boothai` command: run the service, manage operator accounts."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import secrets
import sys

from shared.config import Settings


def _services(settings: Settings):
    from shared.services import build_services

    return build_services(settings)


def _repo(settings: Settings):
    from shared.services import open_repository

    return open_repository(settings)


async def _first_start(settings: Settings) -> None:
    """An empty store gets tenant `admin`, so a fresh install can log in at once."""
    services = _services(settings)
    try:
        tenants = await services.repo.list_tenants()
        if tenants:
            closed = await services.pipeline.recover_interrupted([t.name for t in tenants])
            if closed:
                print(f"boothai: closed {closed} job(s) interrupted by the last stop; originals in trash/")
            return
        given = settings.admin_password.get_secret_value() if settings.admin_password else None
        tenant, password = await services.create_tenant("admin", given)
        print("boothai: created operator account 'admin'")
        if given is None:
            # Printed once to the operator's terminal, never logged.
            print(f"boothai:   password: {password}   (shown once; change: boothai tenant passwd admin)")
        print(f"boothai:   booth upload password: {tenant.upload_password}")
    finally:
        await services.aclose()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from functions.app import create_app

    settings = Settings()
    _prepare_aws(settings)
    asyncio.run(_first_start(settings))
    app = create_app(settings)
    print(f"boothai: operator UI at http://{args.host}:{args.port}/  (storage: {settings.storage})")
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                timeout_keep_alive=75, access_log=args.access_log)
    return 0


def _prepare_aws(settings: Settings) -> None:
    """Against a local AWS endpoint (moto, DynamoDB Local, MinIO) create what the SAM
    template would; in real AWS the template owns the tables and bucket."""
    if settings.storage != "aws" or not (settings.dynamodb_endpoint_url or settings.s3_endpoint_url):
        return
    from shared.storage.dynamodb_tables import DynamoDBTables
    from shared.storage.s3_store import S3Store

    DynamoDBTables(prefix=settings.table_prefix, endpoint_url=settings.dynamodb_endpoint_url,
                   region=settings.aws_region).create_tables()
    S3Store(bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint_url,
            region=settings.aws_region).create_bucket()


def _ask_password(given: str | None) -> tuple[str, bool]:
    if given:
        return given, False
    if sys.stdin.isatty():
        first = getpass.getpass("New password: ")
        if first and first == getpass.getpass("Repeat: "):
            return first, False
        raise SystemExit("boothai: passwords did not match")
    return secrets.token_urlsafe(12), True


async def _tenant_add(args: argparse.Namespace) -> int:
    from shared.services import create_tenant

    settings = Settings()
    password, generated = _ask_password(args.password)
    tenant, _ = await create_tenant(_repo(settings), settings, args.name, password)
    print(f"created tenant {tenant.name}")
    if generated:
        print(f"  password: {password}   (shown once)")
    print(f"  booth upload password: {tenant.upload_password}")
    return 0


async def _tenant_list(args: argparse.Namespace) -> int:
    for tenant in await _repo(Settings()).list_tenants():
        print(tenant.name)
    return 0


async def _tenant_passwd(args: argparse.Namespace) -> int:
    from shared.auth import hash_password

    password, generated = _ask_password(args.password)
    await _repo(Settings()).set_password_hash(args.name, hash_password(password))
    print(f"password changed for {args.name}")
    if generated:
        print(f"  password: {password}   (shown once)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="boothai", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run every function in one process (embedded default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    serve.set_defaults(run=cmd_serve)

    tenant = sub.add_parser("tenant", help="operator accounts").add_subparsers(
        dest="action", required=True)
    add = tenant.add_parser("add", help="create an operator account")
    add.add_argument("name")
    add.add_argument("--password", help="default: ask, or generate one when not on a terminal")
    add.set_defaults(run=lambda a: asyncio.run(_tenant_add(a)))
    lst = tenant.add_parser("list", help="list operator accounts")
    lst.set_defaults(run=lambda a: asyncio.run(_tenant_list(a)))
    passwd = tenant.add_parser("passwd", help="change an operator's password")
    passwd.add_argument("name")
    passwd.add_argument("--password")
    passwd.set_defaults(run=lambda a: asyncio.run(_tenant_passwd(a)))
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except Exception as exc:
        from shared.errors import BoothaiError

        if isinstance(exc, BoothaiError):
            print(f"boothai: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())
