"""A tenant's credentials never reach another tenant's data, on any admin endpoint."""

from __future__ import annotations

import httpx

from tests.helpers import photos


def test_every_admin_endpoint_is_tenant_scoped(secure) -> None:
    base, alpha, bravo = secure["base"], secure["alpha"], secure["bravo"]
    r = httpx.post(alpha["upload_url"], data=photos.dslr_fields(alpha["upload_password"]),
                   files={"fileToUpload": ("a.jpg", photos.green_screen(320, 213), "image/jpeg")},
                   timeout=30)
    assert r.status_code == 200
    job_id = r.headers["x-boothai-job"]

    def as_bravo(method: str, path: str, **kw) -> httpx.Response:
        return httpx.request(method, base + path, auth=bravo["auth"], timeout=10, **kw)

    # Alpha's job images, by id, with bravo's credentials.
    for which in ("original", "result"):
        assert as_bravo("GET", f"/api/jobs/{job_id}/{which}").status_code == 404
    stats = as_bravo("GET", "/api/stats").json()
    assert stats["tenant"] == "bravo" and stats["upload_password"] == bravo["upload_password"]
    assert job_id not in str(stats) and alpha["upload_password"] not in str(stats)
    slots = as_bravo("GET", "/api/slots").json()
    assert alpha["slot"].upload_token not in str(slots)
    # Bravo's slot 1 is bravo's own; changing it leaves alpha's alone.
    assert as_bravo("DELETE", "/api/slots/local/1/reference").status_code == 200
    alpha_ref = httpx.get(base + "/api/slots/local/1/reference", auth=alpha["auth"], timeout=10)
    assert alpha_ref.status_code == 200
    # API keys: listing shows only bravo's; alpha's key id cannot be revoked by bravo.
    keys = as_bravo("GET", "/api/keys").json()["keys"]
    assert [k["key_id"] for k in keys] == [bravo["key_id"]]
    assert as_bravo("DELETE", f"/api/keys/{alpha['key_id']}").status_code == 404
    alpha_keys = httpx.get(base + "/api/keys", auth=alpha["auth"], timeout=10).json()["keys"]
    assert [k["key_id"] for k in alpha_keys] == [alpha["key_id"]]
    # Rotating bravo's upload password leaves alpha's working.
    assert as_bravo("POST", "/api/upload-password/rotate").status_code == 200
    r = httpx.post(alpha["upload_url"], data=photos.dslr_fields(alpha["upload_password"]),
                   files={"fileToUpload": ("a.jpg", photos.green_screen(320, 213), "image/jpeg")},
                   timeout=30)
    assert r.status_code == 200
    # Bravo's upload password does not open alpha's upload link.
    r = httpx.post(alpha["upload_url"], data=photos.dslr_fields(bravo["upload_password"]),
                   files={"fileToUpload": ("a.jpg", photos.green_screen(320, 213), "image/jpeg")},
                   timeout=30)
    assert r.status_code == 401


def test_api_keys_are_tenant_bound_and_revocable(secure) -> None:
    base, alpha = secure["base"], secure["alpha"]
    bearer = {"Authorization": f"Bearer {alpha['api_key']}"}
    assert httpx.get(base + "/models", headers=bearer, timeout=10).status_code != 401
    # An API key is not an operator password: it does not open the admin API.
    assert httpx.get(base + "/api/stats", auth=("alpha", alpha["api_key"]),
                     timeout=10).status_code == 401
    r = httpx.delete(f"{base}/api/keys/{alpha['key_id']}", auth=alpha["auth"], timeout=10)
    assert r.status_code == 204
    assert httpx.get(base + "/models", headers=bearer, timeout=10).status_code == 401
