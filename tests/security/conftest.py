"""Two tenants on one live server (local provider), their secrets known to the tests."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.apikeys import ApiKeys
from shared.config import Settings
from shared.domain import ProcessingType, ProviderName
from shared.services import build_services
from tests.conftest import run
from tests.helpers import photos

PASSWORDS = {"alpha": "alpha-operator-secret-1", "bravo": "bravo-operator-secret-2"}


async def _tenant(services, name: str) -> dict:
    tenant, _ = await services.create_tenant(name, PASSWORDS[name])
    slot = await services.repo.get_slot(name, ProviderName.LOCAL, 1)
    key = f"references/{name}/local/01.jpg"
    await asyncio.to_thread(services.store.put, key, photos.background(), "image/jpeg")
    slot.type, slot.enabled, slot.reference_key = ProcessingType.BACKGROUND, True, key
    slot.reference_mime = "image/jpeg"
    await services.repo.save_slot(slot)
    record, secret = await ApiKeys(services.tables).create(name, "ci")
    SECRETS.update({secret, tenant.upload_password})
    return {"name": name, "auth": (name, PASSWORDS[name]), "upload_password": tenant.upload_password,
            "slot": slot, "api_key": secret, "key_id": record.key_id}


@pytest.fixture
def secure(tmp_path, live_server_factory):
    settings = Settings(data_dir=tmp_path / "data", enabled_providers=["local"],
                        auth_failures_allowed=5)
    services = build_services(settings)
    alpha, bravo = run(_tenant(services, "alpha")), run(_tenant(services, "bravo"))
    server = live_server_factory(services)
    for t in (alpha, bravo):
        t["upload_url"] = f"{server.url}/u/{t['slot'].upload_token}"
    return {"services": services, "base": server.url, "alpha": alpha, "bravo": bravo}


# -- every log line of the session, for test_no_secrets_in_logs ------------------------------------
# Until the root tests/conftest.py tees all records to test-output/ (proposed to the lead), this
# handler does it from here: conftests load at collection, before any test runs, so it sees the
# whole session's in-process records (server subprocesses log to their own pipes).
SECRETS: set[str] = set(PASSWORDS.values())
LOG_LINES: list[str] = []


class _Tee(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = f"{record.name} {record.levelname} {record.getMessage()}"
            if record.exc_info:
                line += "\n" + logging.Formatter().formatException(record.exc_info)
        except Exception:  # a broken record must not break the suite
            line = f"{record.name} {record.levelname} {record.msg!r} {record.args!r}"
        LOG_LINES.append(line)


if not any(isinstance(h, _Tee) for h in logging.getLogger().handlers):
    logging.getLogger().addHandler(_Tee(level=logging.DEBUG))
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)


def pytest_collection_modifyitems(session, config, items) -> None:
    """The log scan runs after every other test of the session."""
    last = [i for i in items if "test_no_secrets_in_logs" in i.nodeid]
    items[:] = [i for i in items if i not in last] + last
