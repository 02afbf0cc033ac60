"""The embedded data folder is this user's only: the folder and every folder under it 0700,
every file in it (the SQLite database and its -wal/-shm, stored photos and thumbnails,
signing.key) 0600, whatever the process umask; a folder or database left looser by an older
version is tightened when the service starts. Real services, a real server, a real booth
upload and reference upload over HTTP."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import httpx
import pytest

from shared.config import Settings
from shared.services import build_services
from tests.conftest import run
from tests.helpers import photos


@pytest.fixture
def umask_022():
    old = os.umask(0o022)  # the usual default: 0755 folders, 0644 files unless we say so
    yield
    os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[path.relative_to(root).as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _wider(modes: dict[str, int], root: Path) -> dict[str, str]:
    """Every entry that allows more than this user: folders past 0700, files past 0600."""
    wider = {}
    for name, mode in modes.items():
        limit = 0o700 if (root / name).is_dir() else 0o600
        if mode & ~limit:
            wider[name] = oct(mode)
    return wider


def test_everything_written_is_this_users_only(tmp_path, umask_022, live_server_factory) -> None:
    data = tmp_path / "srv" / "boothai"  # two levels that do not exist yet
    services = build_services(Settings(data_dir=data, enabled_providers=["local"]))
    try:
        run(services.create_tenant("acme", "acme-pass"))
        server = live_server_factory(services)
        acme = httpx.Client(base_url=server.url, auth=("acme", "acme-pass"), timeout=60)
        with acme:
            r = acme.put("/api/slots/local/1/reference",
                         files={"file": ("beach.jpg", photos.background(), "image/jpeg")})
            assert r.status_code == 200, r.text
            r = acme.put("/api/slots/local/1", json={"type": "background", "enabled": True})
            assert r.status_code == 200, r.text
            slot = r.json()
            password = acme.get("/api/stats").json()["upload_password"]
        r = httpx.post(slot["upload_url"], data=photos.dslr_fields(password), timeout=60,
                       files={"fileToUpload": ("g.jpg", photos.green_screen(640, 427), "image/jpeg")})
        assert r.status_code == 200, r.text
        run(services.drain())

        modes = _modes(data)
        # What the run wrote is all there: the key, the database with its WAL, a job's
        # original and result (dated folders), the reference and their thumbnails.
        assert {"signing.key", "boothai.sqlite3", "boothai.sqlite3-wal", "objects"} <= set(modes)
        for prefix in ("objects/originals/", "objects/results/", "objects/references/"):
            assert any(n.startswith(prefix) and n.endswith(".jpg") for n in modes), prefix
        assert _wider(modes, data) == {}
    finally:
        run(services.aclose())


def test_a_looser_data_folder_and_database_are_tightened_at_start(tmp_path, umask_022,
                                                                   caplog) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "objects" / "references").mkdir(parents=True)
    os.chmod(data, 0o755)
    (data / "objects").chmod(0o777)
    db, key = data / "boothai.sqlite3", data / "signing.key"
    first = build_services(Settings(data_dir=data, enabled_providers=["local"]))
    run(first.create_tenant("acme", "acme-pass"))
    assert first.signer is not None  # writes signing.key
    run(first.aclose())
    for path in (db, key):
        path.chmod(0o644)  # as an older version, or a copy with `cp`, left them
    os.chmod(data, 0o755)

    services = build_services(Settings(data_dir=data, enabled_providers=["local"]))
    try:
        caplog.set_level("WARNING", logger="boothai")
        assert run(services.repo.get_tenant("acme")) is not None  # opens the tables
        asyncio.run(asyncio.to_thread(services.store.put, "references/acme/local/01.jpg",
                                      photos.background(), "image/jpeg"))
        assert services.signer is not None  # reads the key
        for path, mode in ((data, 0o700), (data / "objects", 0o700), (db, 0o600), (key, 0o600)):
            assert stat.S_IMODE(path.stat().st_mode) == mode, path
        assert "tightened permissions" in caplog.text
    finally:
        run(services.aclose())
