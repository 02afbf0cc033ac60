"""Upload passwords are sealed at rest: the account table holds no booth password in clear
and nothing that opens without the deployment key, a sealed value is bound to its account,
booths still sign in with the password in clear, and rows written before sealing (plaintext)
still work and are sealed on their next rotation or read-write. Real SQLite file, real
server, real booth uploads (tests/security/conftest.py's two tenants)."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from pathlib import Path

import httpx
import pytest

from shared.secret_box import SealedSecretError, SecretBox
from shared.services import build_services
from tests.conftest import run
from tests.helpers import photos


def _db_bytes(data_dir: Path) -> bytes:
    """Every byte SQLite keeps on disk: the database and its write-ahead log."""
    db = data_dir / "boothai.sqlite3"
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())


def _row(data_dir: Path, name: str) -> str:
    with sqlite3.connect(data_dir / "boothai.sqlite3") as db:
        (data,) = db.execute("SELECT data FROM items WHERE tbl='tenants' AND sk=?",
                             (name,)).fetchone()
    return data


def _stored_upload_password(services, name: str) -> str:
    return services.tables.get("tenants", "tenant", name)["upload_password"]


def _upload(url: str, password: str) -> httpx.Response:
    return httpx.post(url, data=photos.dslr_fields(password), timeout=60,
                      files={"fileToUpload": ("g.jpg", photos.green_screen(320, 213), "image/jpeg")})


def test_the_table_holds_no_upload_password(secure) -> None:
    services = secure["services"]
    data_dir = services.settings.data_dir
    raw = _db_bytes(data_dir)
    for tenant in (secure["alpha"], secure["bravo"]):
        password = tenant["upload_password"]
        assert password.encode() not in raw
        assert password not in _row(data_dir, tenant["name"])
        stored = _stored_upload_password(services, tenant["name"])
        assert stored.startswith("sb1.") and password not in stored
        body = stored.removeprefix("sb1.")
        assert password.encode() not in base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        # Another deployment's key (a stolen database without signing.key) opens nothing.
        with pytest.raises(SealedSecretError):
            SecretBox(b"another deployment's key").open(stored, f"tenants/{tenant['name']}/upload_password")


def test_booths_still_sign_in_with_the_password_in_clear(secure) -> None:
    alpha, bravo = secure["alpha"], secure["bravo"]
    assert _upload(alpha["upload_url"], alpha["upload_password"]).status_code == 200
    assert _upload(alpha["upload_url"], bravo["upload_password"]).status_code == 401
    # The operator reads it back in clear, to type into another booth PC.
    stats = httpx.get(secure["base"] + "/api/stats", auth=alpha["auth"]).json()
    assert stats["upload_password"] == alpha["upload_password"]


def test_rotation_stores_the_new_password_sealed(secure) -> None:
    services, alpha = secure["services"], secure["alpha"]
    new = httpx.post(secure["base"] + "/api/upload-password/rotate",
                     auth=alpha["auth"]).json()["upload_password"]
    assert new.encode() not in _db_bytes(services.settings.data_dir)
    assert _stored_upload_password(services, "alpha").startswith("sb1.")
    assert _upload(alpha["upload_url"], new).status_code == 200
    assert _upload(alpha["upload_url"], alpha["upload_password"]).status_code == 401


def test_a_sealed_password_does_not_open_on_another_account(secure) -> None:
    services = secure["services"]
    bravos = _stored_upload_password(services, "bravo")
    services.tables.update("tenants", "tenant", "alpha", set={"upload_password": bravos})
    tenant = run(services.repo.get_tenant("alpha"))
    with pytest.raises(SealedSecretError):
        tenant.upload_password  # noqa: B018 (opening is the test)


def test_a_plaintext_row_from_before_still_works_and_is_sealed_on_rotation(secure) -> None:
    services, alpha = secure["services"], secure["alpha"]
    legacy = "legacypass23"
    services.tables.update("tenants", "tenant", "alpha", set={"upload_password": legacy})
    assert _upload(alpha["upload_url"], legacy).status_code == 200
    new = httpx.post(secure["base"] + "/api/upload-password/rotate",
                     auth=alpha["auth"]).json()["upload_password"]
    assert _stored_upload_password(services, "alpha").startswith("sb1.")
    assert _upload(alpha["upload_url"], new).status_code == 200


def test_a_plaintext_row_is_sealed_when_the_account_is_written(tmp_path) -> None:
    from shared.auth import hash_password
    from shared.config import Settings

    services = build_services(Settings(data_dir=tmp_path / "data", enabled_providers=["local"]))
    try:
        run(services.create_tenant("acme", "acme-pass"))
        services.tables.update("tenants", "tenant", "acme", set={"upload_password": "legacypass23"})
        run(services.repo.set_password_hash("acme", hash_password("new-operator-pass")))
        assert _stored_upload_password(services, "acme").startswith("sb1.")
        assert run(services.repo.get_tenant("acme")).upload_password == "legacypass23"
        # A fresh process over the same data folder (the key kept in signing.key) opens it.
        again = build_services(Settings(data_dir=tmp_path / "data", enabled_providers=["local"]))
        assert run(again.repo.get_tenant("acme")).upload_password == "legacypass23"
        asyncio.run(again.aclose())
    finally:
        run(services.aclose())


def test_a_password_sealed_under_another_key_leaves_the_console_working(secure) -> None:
    """The deployment key changed (BOOTHAI_SIGNING_KEY set anew, signing.key lost): the
    console still opens and says what to do, the booth gets that reason instead of a 500,
    and one rotation puts things right."""
    services, alpha = secure["services"], secure["alpha"]
    foreign = SecretBox(b"the key this deployment had before").seal(
        alpha["upload_password"], "tenants/alpha/upload_password")
    services.tables.update("tenants", "tenant", "alpha", set={"upload_password": foreign})

    stats = httpx.get(secure["base"] + "/api/stats", auth=alpha["auth"])
    assert stats.status_code == 200, stats.text
    assert stats.json()["upload_password"] == ""
    assert "rotate" in stats.json()["upload_password_problem"]
    refused = _upload(alpha["upload_url"], alpha["upload_password"])
    assert refused.status_code == 409 and "rotate the upload password" in refused.text
    assert foreign not in refused.text and alpha["upload_password"] not in refused.text

    new = httpx.post(secure["base"] + "/api/upload-password/rotate",
                     auth=alpha["auth"]).json()["upload_password"]
    assert _upload(alpha["upload_url"], new).status_code == 200
    assert httpx.get(secure["base"] + "/api/stats",
                     auth=alpha["auth"]).json()["upload_password_problem"] is None
