"""ObjectStore on a local folder. Writes go to a temp file and are renamed into place, so a
reader never sees half an object and a crash never leaves one.

The content type is not stored beside each file: every key the service writes ends in its
format's extension (`.jpg`, `.png`, …), so it is derived from the name. That saves a second
file write per object on the booth's hot path."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from shared.errors import NotFound, StorageUnavailable
from shared.ports import ObjectInfo, check_object_key
from shared.signed_links import LinkSigner

_CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                  ".webp": "image/webp", ".json": "application/json", ".txt": "text/plain"}


def content_type_for(key: str) -> str:
    return _CONTENT_TYPES.get(os.path.splitext(key)[1].lower(), "application/octet-stream")


class FilesystemStore:
    def __init__(
        self, root: Path | str, *, signer: LinkSigner, public_base_url: str | None = None
    ) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
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
            path.parent.mkdir(parents=True, exist_ok=True)
            self._atomic_write(path, data)
        except OSError as exc:
            raise StorageUnavailable(f"object store error: {exc.strerror}") from exc

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
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
            target.parent.mkdir(parents=True, exist_ok=True)
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
