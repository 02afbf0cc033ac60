"""Path tricks, multipart bombs, huge bodies, decompression bombs and polyglot files."""

from __future__ import annotations

import io
import os
import struct
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import run
from tests.helpers import photos


def _post(url: str, password: str, data: bytes, *, filename: str = "IMG_0001.JPG",
          mime: str = "image/jpeg", timeout: float = 30) -> httpx.Response:
    return httpx.post(url, data=photos.dslr_fields(password),
                      files={"fileToUpload": (filename, data, mime)}, timeout=timeout)


def _files_outside(root: Path, since: float) -> list[str]:
    """Files written after `since` anywhere under the temp dir but outside the data dir."""
    return [str(p) for p in root.rglob("*") if p.is_file() and p.stat().st_mtime >= since
            and "data" not in p.relative_to(root).parts]


# -- path tricks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("filename", ["../../etc/passwd", "..\\..\\boothai.sqlite3",
                                      "/tmp/evil.jpg", "a/../../../x.jpg", "%2e%2e%2fx.jpg",
                                      "IMG\x00.jpg", "x" * 5000])
def test_upload_filename_never_reaches_a_path(secure, tmp_path, filename) -> None:
    a, since = secure["alpha"], time.time()
    r = _post(a["upload_url"], a["upload_password"], photos.green_screen(320, 213),
              filename=filename)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        job = run(secure["services"].repo.get_job("alpha", r.headers["x-boothai-job"]))
        assert job.original_key.startswith("originals/alpha/")
        assert ".." not in job.original_key and "passwd" not in job.original_key
    assert _files_outside(tmp_path, since) == []


@pytest.mark.parametrize("path", [
    "/api/slots/local/..%2F..%2F1", "/api/slots/local/-1", "/api/slots/local/999",
    "/api/slots/local/1e3", "/api/slots/..%2Flocal/1", "/api/slots/local/0",
    "/api/jobs/..%2F..%2Fsigning.key/original", "/api/jobs/../original",
    "/api/jobs/abc/..%2F..%2Fsigning.key", "/api/slots/local/21/reference",
])
def test_path_tricks_in_ids_and_indexes(secure, path) -> None:
    r = httpx.get(secure["base"] + path, auth=secure["alpha"]["auth"], timeout=10)
    assert r.status_code in (404, 405, 422), (path, r.status_code)
    assert "signing" not in r.text and len(r.content) < 2000


def test_reference_upload_filename_is_ignored(secure, tmp_path) -> None:
    since = time.time()
    r = httpx.put(secure["base"] + "/api/slots/local/2/reference", auth=secure["alpha"]["auth"],
                  files={"file": ("../../../../etc/cron.d/x", photos.background(), "image/jpeg")},
                  timeout=10)
    assert r.status_code == 200, r.text
    assert secure["services"].store.list("references/alpha/local/02.")
    assert _files_outside(tmp_path, since) == []


# -- bodies -----------------------------------------------------------------------------------------
def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = "bombboundary1234"
    out = io.BytesIO()
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out.write(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode())
        out.write(value + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("bomb", ["fields", "field_name", "files", "field_value"])
def test_multipart_bombs_are_refused_quickly(secure, bomb) -> None:
    a = secure["alpha"]
    photo = photos.green_screen(320, 213)
    parts: list[tuple[str, str | None, bytes]] = [("password", None, a["upload_password"].encode())]
    if bomb == "fields":
        parts += [(f"f{i}", None, b"x") for i in range(20_000)]
    elif bomb == "field_name":
        parts += [("n" * 2_000_000, None, b"x")]
    elif bomb == "files":
        parts += [(f"file{i}", f"{i}.jpg", b"\xff\xd8\xff") for i in range(500)]
    else:
        parts += [("profile", None, b"v" * 5_000_000)]
    parts.append(("fileToUpload", "a.jpg", photo))
    body, content_type = _multipart(parts)
    started = time.monotonic()
    r = httpx.post(a["upload_url"], content=body, headers={"content-type": content_type},
                   timeout=30)
    assert r.status_code in (413, 422), r.status_code
    assert time.monotonic() - started < 5
    assert httpx.get(secure["base"] + "/health", timeout=5).status_code == 200


def test_100mb_body_with_content_length_is_refused_before_reading(secure) -> None:
    a = secure["alpha"]
    r = httpx.post(a["upload_url"], content=b"\0" * (100 * 1024 * 1024),
                   headers={"content-type": "multipart/form-data; boundary=x"}, timeout=60)
    assert r.status_code == 413


def test_100mb_chunked_body_is_cut_off(secure) -> None:
    a = secure["alpha"]
    sent = 0

    def chunks():
        nonlocal sent
        yield (b'--x\r\nContent-Disposition: form-data; name="fileToUpload"; '
               b'filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n')
        for _ in range(100):
            sent += 1
            yield b"\0" * (1024 * 1024)

    try:
        r = httpx.post(a["upload_url"], content=chunks(),
                       headers={"content-type": "multipart/form-data; boundary=x"}, timeout=60)
        assert r.status_code == 413
    except httpx.HTTPError:
        pass  # the server may close the connection mid-upload; either way it stopped reading
    assert sent < 100  # it did not swallow all 100 MB
    assert httpx.get(secure["base"] + "/health", timeout=5).status_code == 200
    assert not secure["services"].store.list("originals/")


# -- decompression bombs --------------------------------------------------------------------------
def _jpeg_declaring(width: int, height: int) -> bytes:
    """A real small JPEG whose SOF0 header is rewritten to declare a huge size."""
    data = bytearray(photos.green_screen(64, 48))
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def _real_huge_canvas_png() -> bytes:
    """A genuine, fully valid 1-bit PNG of 20000x20000 (400 MP) that is only ~50 KB."""
    img = Image.new("1", (20000, 20000), 0)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


@pytest.mark.parametrize("kind", ["png_header", "jpeg_header", "real_png"])
def test_decompression_bombs_are_413_without_decoding(secure, kind) -> None:
    bomb = {"png_header": photos.pixel_bomb, "jpeg_header": lambda: _jpeg_declaring(65000, 65000),
            "real_png": _real_huge_canvas_png}[kind]()
    assert len(bomb) < 2_000_000
    a = secure["alpha"]
    started = time.monotonic()
    r = _post(a["upload_url"], a["upload_password"], bomb,
              mime="image/png" if "png" in kind else "image/jpeg")
    assert r.status_code == 413, r.text
    assert time.monotonic() - started < 3
    # Also as a slot reference.
    r = httpx.put(secure["base"] + "/api/slots/local/3/reference", auth=a["auth"],
                  files={"file": ("ref.png", bomb, "image/png")}, timeout=10)
    assert r.status_code == 413


# -- polyglots --------------------------------------------------------------------------------------
def _jpeg_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("index.html", "<script>alert(1)</script>")
    return photos.green_screen(320, 213) + out.getvalue()


def _jpeg_html() -> bytes:
    jpeg = photos.green_screen(320, 213)
    html = b"<html><body><script>alert(document.cookie)</script></body></html>"
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(html) + 2) + html + jpeg[2:]


@pytest.mark.parametrize("make", [_jpeg_zip, _jpeg_html], ids=["jpeg+zip", "jpeg+html"])
def test_polyglots_are_only_ever_images(secure, make) -> None:
    a, base = secure["alpha"], secure["base"]
    data = make()
    r = _post(a["upload_url"], a["upload_password"], data, filename="x.html", mime="text/html")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    job_id = r.headers["x-boothai-job"]
    served = [r]
    for which in ("original", "result"):
        served.append(httpx.get(f"{base}/api/jobs/{job_id}/{which}", auth=a["auth"], timeout=10))
    ref = httpx.put(f"{base}/api/slots/local/4/reference", auth=a["auth"],
                    files={"file": ("ref.html", data, "text/html")}, timeout=10)
    assert ref.status_code == 200
    served.append(httpx.get(f"{base}/api/slots/local/4/reference", auth=a["auth"], timeout=10))
    for response in served:
        assert response.status_code == 200
        assert response.headers["content-type"].split(";")[0] in ("image/jpeg", "image/png")
        assert response.headers.get("x-content-type-options") == "nosniff"


def test_html_disguised_as_jpeg_is_415(secure) -> None:
    a = secure["alpha"]
    r = _post(a["upload_url"], a["upload_password"], b"<html><script>alert(1)</script></html>")
    assert r.status_code == 415
    assert r.headers["content-type"].startswith("text/plain")
    assert os.environ.get("BOOTHAI_NEVER_SET") is None  # sanity: nothing leaks via env
