"""No work for a stranger (issue 13, finding 1): a request without valid credentials is
answered from its headers, before its body is read.

Before: FastAPI read and parsed the whole body before any dependency ran, authentication
included. One unauthenticated 105 MB JSON body to the comparison API took the server from
532 MB to 3.1 GB; 25 MB to PUT /api/slots/local/1 added 630 MB; multipart bodies were
spooled to disk in full, and only then came the 401.

Each test here declares a large body, sends a first piece of it and stops: the answer must
arrive while most of the body is still unsent. Before the fix the server sat waiting for the
rest (the read below timed out).
"""

from __future__ import annotations

import base64
import socket
from urllib.parse import urlsplit

import httpx

from tests.helpers import photos

MB = 1024 * 1024


def _answer_before_body(url: str, method: str, headers: dict[str, str], declared: int,
                        first: bytes, *, wait: float = 10.0) -> tuple[int, dict[str, str]]:
    """Send the headers and `first` bytes of a `declared`-byte body, then wait for an answer
    without sending more: (status, headers)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=wait) as sock:
        head = [f"{method} {parts.path} HTTP/1.1", f"Host: {parts.netloc}",
                f"Content-Length: {declared}", *[f"{k}: {v}" for k, v in headers.items()]]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + first)
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            raise AssertionError(f"no answer within {wait} s: the server waits for the body "
                                 f"({declared:,} bytes declared, {len(first):,} sent)") from None
    status_line, *lines = received.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    answer_headers = {k.strip().lower(): v.strip() for k, _, v in
                      (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), answer_headers


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_unauthenticated_json_to_the_comparison_api_is_refused_unread(secure) -> None:
    status, headers = _answer_before_body(
        secure["base"] + "/api/v1/image/comparison", "POST",
        {"Content-Type": "application/json"}, 100 * MB, b'{"image_base64_list": ["' + b"A" * MB)
    assert status == 401 and headers.get("connection") == "close"


def test_a_wrong_api_key_is_refused_before_a_multipart_body(secure) -> None:
    for path in ("/v1/images/edits", "/ocr", "/batch/ocr"):
        status, _ = _answer_before_body(
            secure["base"] + path, "POST",
            {"Content-Type": "multipart/form-data; boundary=xyz",
             "Authorization": "Bearer bth_not-a-key"},
            20 * MB, b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; "
                     b"filename=\"a.png\"\r\n\r\n" + b"\0" * MB)
        assert status == 401, path


def test_unauthenticated_console_writes_are_refused_unread(secure) -> None:
    base = secure["base"]
    # Within the route's limit: refused by credentials, unread.
    for method, path in (("PUT", "/api/slots/local/1"), ("POST", "/api/upload-password/rotate"),
                         ("PUT", "/api/slots/local/1/reference")):
        status, _ = _answer_before_body(base + path, method, {
            "Content-Type": "application/json",
            "Authorization": _basic("alpha", "wrong")}, 900 * 1024, b"{" + b" " * 1000)
        assert status == 401, path
    # Past it (a slot's settings are a few KB): 413 from the declared length alone.
    status, _ = _answer_before_body(base + "/api/slots/local/1", "PUT",
                                    {"Content-Type": "application/json"}, 25 * MB, b"{")
    assert status == 413


def test_a_wrong_booth_password_stops_the_upload_at_its_field(secure) -> None:
    """DSLR Remote Pro's text fields come with the photo in one multipart body; the password
    is checked when its part ends, so the 20 MB photo behind it is never taken in."""
    a = secure["alpha"]
    first = (b"--xyz\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nguess\r\n"
             b"--xyz\r\nContent-Disposition: form-data; name=\"fileToUpload\"; "
             b"filename=\"IMG_0001.JPG\"\r\nContent-Type: image/jpeg\r\n\r\n" + b"\xff" * MB)
    status, headers = _answer_before_body(
        a["upload_url"], "POST", {"Content-Type": "multipart/form-data; boundary=xyz"},
        20 * MB, first)
    assert status == 401


def test_a_locked_out_booth_client_is_refused_before_its_body(secure) -> None:
    a = secure["alpha"]
    photo = photos.green_screen(160, 107)
    for i in range(5):  # the fixture allows 5 failures
        r = httpx.post(a["upload_url"], data=photos.dslr_fields(f"guess-{i}"),
                       files={"fileToUpload": ("a.jpg", photo, "image/jpeg")}, timeout=30)
        assert r.status_code == 401
    status, headers = _answer_before_body(
        a["upload_url"], "POST", {"Content-Type": "multipart/form-data; boundary=xyz"},
        20 * MB, b"--xyz\r\n")
    assert status == 429 and int(headers["retry-after"]) > 0


def test_the_right_credentials_still_get_through(secure) -> None:
    """The same routes with valid credentials: the body is read and the request served."""
    a = secure["alpha"]
    r = httpx.put(secure["base"] + "/api/slots/local/2", auth=a["auth"], timeout=30,
                  json={"type": "background", "prompt": "", "enabled": False})
    assert r.status_code == 200, r.text
    r = httpx.post(secure["base"] + "/api/v1/image/comparison", timeout=30,
                   headers={"Authorization": f"Bearer {a['api_key']}"},
                   json={"image_base64_list": ["not base64!"] * 2})
    assert r.status_code == 400 and r.json()["success"] is False  # read, validated, refused
