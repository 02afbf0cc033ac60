"""Cross-site writes and framing (issue 13, finding 3).

Before: a form on any site the operator visited could POST with the operator's Basic
credentials (the browser adds them by itself): rotate the upload password mid-event (every
booth stops) or run Try it on a paid provider. Nothing forbade framing the UI either.
Browsers mark such requests (Sec-Fetch-Site, Origin); functions/same_origin.py refuses them.
"""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import photos

CROSS_SITE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


def _password(secure) -> str:
    return httpx.get(secure["base"] + "/api/stats", auth=secure["alpha"]["auth"],
                     timeout=30).json()["upload_password"]


@pytest.mark.parametrize("headers", [
    CROSS_SITE,
    {"Sec-Fetch-Site": "same-site"},          # a sibling subdomain is another party
    {"Origin": "https://evil.example"},       # a browser without Fetch Metadata
    {"Origin": "null"},                       # a sandboxed frame or a data: page
])
def test_a_cross_site_form_cannot_rotate_the_upload_password(secure, headers) -> None:
    before = _password(secure)
    r = httpx.post(secure["base"] + "/api/upload-password/rotate", auth=secure["alpha"]["auth"],
                   headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
                   content=b"x=1", timeout=30)
    assert r.status_code == 403 and "another site" in r.json()["detail"]
    assert _password(secure) == before


def test_a_cross_site_form_cannot_run_try_it_or_the_apis(secure) -> None:
    a, base = secure["alpha"], secure["base"]
    photo = photos.green_screen(160, 107)
    r = httpx.post(f"{base}/api/slots/local/1/test", auth=a["auth"], headers=CROSS_SITE,
                   files={"file": ("a.jpg", photo, "image/jpeg")}, timeout=30)
    assert r.status_code == 403
    r = httpx.post(f"{base}/v1/images/edits", auth=a["auth"], headers=CROSS_SITE,
                   data={"prompt": "x"}, files={"image": ("a.jpg", photo, "image/jpeg")},
                   timeout=30)
    assert r.status_code == 403 and r.json()["error"]["code"] == "INVALID_INPUT"
    stats = httpx.get(f"{base}/api/stats", auth=a["auth"], timeout=30).json()
    assert stats["recent_jobs"] == []  # nothing ran


def test_the_ui_itself_and_non_browser_clients_still_write(secure) -> None:
    a, base = secure["alpha"], secure["base"]
    host = base.removeprefix("http://")
    for headers in ({"Sec-Fetch-Site": "same-origin", "Origin": base},
                    {"Origin": base},                      # older browser, same origin
                    {"Origin": f"https://{host}"},         # TLS ended at a proxy
                    {}):                                   # curl, a script
        r = httpx.post(f"{base}/api/upload-password/rotate", auth=a["auth"], headers=headers,
                       timeout=30)
        assert r.status_code == 200, (headers, r.text)
    # Reads are never refused, and booths and webhooks are not browsers' business.
    assert httpx.get(f"{base}/api/stats", auth=a["auth"], headers=CROSS_SITE,
                     timeout=30).status_code == 200
    r = httpx.post(a["upload_url"], headers=CROSS_SITE, timeout=30,
                   data=photos.dslr_fields(_password(secure)),
                   files={"fileToUpload": ("a.jpg", photos.green_screen(160, 107), "image/jpeg")})
    assert r.status_code == 200


def test_no_page_of_this_server_may_be_framed(secure) -> None:
    a, base = secure["alpha"], secure["base"]
    ui = httpx.get(base + "/", auth=a["auth"], timeout=30)
    policy = ui.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "http" not in policy
    for path in ("/", "/api/stats", "/health", "/docs"):
        r = httpx.get(base + path, auth=a["auth"], timeout=30)
        assert r.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
        assert r.headers["referrer-policy"] == "no-referrer"
