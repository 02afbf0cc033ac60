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
            closed = await services.interrupted_jobs.close_all()
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
    from shared.memory import tune_allocator
    tune_allocator()  # first, before any worker thread: freed memory goes back (issue 17)
    from functions.app import create_app
    from functions.server import build_server

    settings = Settings()
    _prepare_aws(settings)
    asyncio.run(_first_start(settings))
    app = create_app(settings)
    # Timeouts, connection caps, trusted proxies and log redaction: functions/server.py.
    try:
        server = build_server(app, settings, host=args.host, port=args.port,
                              log_level=args.log_level, access_log=args.access_log)
    except ValueError as exc:  # a malformed setting (BOOTHAI_TRUSTED_PROXIES)
        print(f"boothai: {exc}", file=sys.stderr)
        return 2
    print(f"boothai: operator UI at http://{args.host}:{args.port}/  (storage: {settings.storage})")
    server.run()
    return 0 if server.started else 3  # uvicorn.run's exit code when the port is taken


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


# -- API keys -----------------------------------------------------------------------------------
async def _api_keys(tenant_name: str):
    """ApiKeys on the configured storage, after checking the tenant exists (no providers)."""
    from shared.apikeys import ApiKeys
    from shared.errors import NotFound

    repo = _repo(Settings())
    if await repo.get_tenant(tenant_name) is None:
        raise NotFound(f"no tenant {tenant_name!r}")
    return ApiKeys(repo.tables)


async def _apikey_create(args: argparse.Namespace) -> int:
    record, secret = await (await _api_keys(args.tenant)).create(args.tenant, args.name)
    print(f"created API key {record.key_id} ({record.name}) for {args.tenant}")
    print(f"  key: {secret}   (shown once)")
    return 0


async def _apikey_list(args: argparse.Namespace) -> int:
    keys = await (await _api_keys(args.tenant)).list(args.tenant)
    for key in sorted(keys, key=lambda k: k.created_at):
        print(f"{key.key_id}  {key.prefix}…  {key.name}")
    return 0


async def _apikey_revoke(args: argparse.Namespace) -> int:
    await (await _api_keys(args.tenant)).revoke(args.tenant, args.key_id)
    print(f"revoked API key {args.key_id}")
    return 0


# -- GPU (Modal) ------------------------------------------------------------------------------------
WARM_FUNCTION = "set_warm_containers"  # modal_app.py: sets min_containers on every GPU class
WARM_RECHECK_SECONDS = 600


def parse_until(value: str, now=None):
    """`HH:MM` (today, or tomorrow when already past) or an ISO date-time → aware datetime."""
    from datetime import datetime, timedelta

    now = now or datetime.now().astimezone()
    try:
        clock = datetime.strptime(value, "%H:%M")
    except ValueError:
        clock = None
    if clock is not None:
        at = now.replace(hour=clock.hour, minute=clock.minute, second=0, microsecond=0)
        return at if at > now else at + timedelta(days=1)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise SystemExit(f"boothai: --until {value!r}: use HH:MM or an ISO date-time") from None
    at = at if at.tzinfo else at.astimezone()
    if at <= now:
        raise SystemExit(f"boothai: --until {value} is in the past")
    return at


def _set_warm(app_name: str, containers: int) -> str | None:
    """Call the deployed app's autoscaler function; a one-line problem, or None when done."""
    try:
        import modal
        import modal.exception as mexc
    except ImportError:
        return "the modal package is not installed (pip install 'boothai[modal]')"
    try:
        modal.Function.from_name(app_name, WARM_FUNCTION).remote(containers)
    except mexc.AuthError:
        return ("Modal credentials are missing or invalid: set MODAL_TOKEN_ID and "
                "MODAL_TOKEN_SECRET or run `modal token new`")
    except mexc.NotFoundError:
        return f"Modal app {app_name!r} is not deployed (modal deploy modal_app.py)"
    except (mexc.Error, OSError) as exc:
        return f"Modal call failed: {type(exc).__name__}: {exc}"
    return None


def cmd_gpu_warm(args: argparse.Namespace) -> int:
    """Keep `--containers` of each GPU class warm until `--until`, then scale to zero.
    Re-asserts the setting every few minutes; Ctrl-C scales down at once."""
    import time
    from datetime import datetime

    settings = Settings()
    until = parse_until(args.until)
    problem = _set_warm(settings.modal_app_name, args.containers)
    if problem:
        print(f"boothai: {problem}", file=sys.stderr)
        return 2
    print(f"boothai: {args.containers} warm container(s) per GPU model until "
          f"{until:%Y-%m-%d %H:%M %Z}; Ctrl-C scales down now")
    try:
        while (left := (until - datetime.now().astimezone()).total_seconds()) > 0:
            time.sleep(min(left, WARM_RECHECK_SECONDS))
            if until > datetime.now().astimezone():
                problem = _set_warm(settings.modal_app_name, args.containers)
                if problem:
                    print(f"boothai: warning: {problem}", file=sys.stderr)
    except KeyboardInterrupt:
        print("boothai: stopping early")
    finally:
        problem = _set_warm(settings.modal_app_name, 0)
        print(f"boothai: {problem}" if problem else "boothai: GPU containers scale to zero again",
              file=sys.stderr if problem else sys.stdout)
    return 0


def cmd_gpu_cool(args: argparse.Namespace) -> int:
    problem = _set_warm(Settings().modal_app_name, 0)
    if problem:
        print(f"boothai: {problem}", file=sys.stderr)
        return 2
    print("boothai: GPU containers scale to zero")
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

    apikey = sub.add_parser("apikey", help="API keys for /v1/images/edits and the vision API"
                            ).add_subparsers(dest="action", required=True)
    create = apikey.add_parser("create", help="create a key (printed once)")
    create.add_argument("tenant")
    create.add_argument("name")
    create.set_defaults(run=lambda a: asyncio.run(_apikey_create(a)))
    keys = apikey.add_parser("list", help="list a tenant's keys")
    keys.add_argument("tenant")
    keys.set_defaults(run=lambda a: asyncio.run(_apikey_list(a)))
    revoke = apikey.add_parser("revoke", help="revoke a key")
    revoke.add_argument("tenant")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=lambda a: asyncio.run(_apikey_revoke(a)))

    gpu = sub.add_parser("gpu", help="GPU models on Modal").add_subparsers(
        dest="action", required=True)
    warm = gpu.add_parser("warm", help="keep GPU containers warm during event hours")
    warm.add_argument("--until", required=True, help="HH:MM (local time) or ISO date-time")
    warm.add_argument("--containers", type=int, default=1, help="warm containers per model")
    warm.set_defaults(run=cmd_gpu_warm)
    cool = gpu.add_parser("cool", help="let GPU containers scale to zero now")
    cool.set_defaults(run=cmd_gpu_cool)
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
