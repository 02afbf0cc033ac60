"""ObjectStore on a local folder. Writes go to a temp file and are renamed into place, so a
reader never sees half an object and a crash never leaves one.

The content type is not stored beside each file: every key the service writes ends in its
format's extension (`.jpg`, `.png`, …), so it is derived from the name. That saves a second
file write per object on the booth's hot path."""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path
from urllib.parse import quote

from shared.errors import NotFound, StorageUnavailable
from shared.ports import ObjectInfo, check_object_key
from shared.signed_links import LinkSigner

log = logging.getLogger("boothai")

# Local files, this adapter's and the embedded mode's others (the SQLite tables, signing.key).
# The embedded data folder holds the account table (password hashes, API-key digests, sealed
# upload passwords), the signing key and every guest's photos: this user only, whatever the
# process umask. Files inside are written 0600 by their adapters.
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) as 0700, or tighten it to 0700 if it exists with
    wider permissions, warning once: a folder made by an older version, or by hand, may
    have been listable by every local user. Parents that already exist are not ours to
    change (a home folder, /var/lib)."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):  # mkdir's mode is cut by the umask; 0700 only loses bits
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    tighten(path, PRIVATE_DIR)
    return path


def tighten(path: Path | str, mode: int) -> None:
    """chmod `path` to `mode` when it allows more (group or others); a warning names it."""
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if current & ~mode:
        log.warning("tightened permissions of %s from %o to %o (it held data others could read)",
                    path, current, mode)
        os.chmod(path, mode)


_CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                  ".webp": "image/webp", ".json": "application/json", ".txt": "text/plain"}


def content_type_for(key: str) -> str:
    return _CONTENT_TYPES.get(os.path.splitext(key)[1].lower(), "application/octet-stream")


class FilesystemStore:
    def __init__(
        self, root: Path | str, *, signer: LinkSigner, public_base_url: str | None = None
    ) -> None:
        self.root = private_dir(Path(root).resolve())
        self._signer = signer
        self._public_base_url = public_base_url

    def _path(self, key: str) -> Path:
        # check_object_key admits only [A-Za-z0-9._-] segments joined by "/", none of them
        # "..", never a leading "/": the joined path cannot leave the root, so no resolve()
        # (a realpath walk, one lstat per folder level, three times per booth upload).
        return self.root / check_object_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            self._mkdir(path.parent)
            self._atomic_write(path, data)
        except OSError as exc:
            raise StorageUnavailable(f"object store error: {exc.strerror}") from exc

    def _mkdir(self, folder: Path) -> None:
        """Make `folder` and any missing folders up to the root 0700 (guests' photos: this
        user only). pathlib's parents=True would make the intermediate ones with the
        umask's default (0755). One mkdir call when the folder exists: the booth's path."""
        try:
            folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        except FileNotFoundError:
            if folder == self.root or self.root not in folder.parents:
                raise
            self._mkdir(folder.parent)
            folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
        # mkstemp creates the file 0600 whatever the umask, and os.replace keeps that mode:
        # every stored object is readable by this user only.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no object {key}") from None
        except OSError as exc:
            raise StorageUnavailable(f"object store error: {exc.strerror}") from exc

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        return ObjectInfo(key=key, size=size, content_type=content_type_for(key))

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)

    def move(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        try:
            self._mkdir(target.parent)
            os.replace(source, target)
        except FileNotFoundError:
            raise NotFound(f"no object {src}") from None

    def list(self, prefix: str) -> list[str]:
        keys = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def url(self, key: str, expires_in: int) -> str:
        check_object_key(key)
        if not self._public_base_url:
            raise StorageUnavailable(
                "BOOTHAI_PUBLIC_BASE_URL is not set, so no outside service can download files"
            )
        query = self._signer.media_query(key, expires_in)
        return f"{self._public_base_url}/media/{quote(key)}?{query}"

    def ping(self) -> None:
        if not self.root.is_dir():
            raise StorageUnavailable("object folder is missing")
