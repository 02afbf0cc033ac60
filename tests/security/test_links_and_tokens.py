"""Signed media links and webhook tokens expire and cannot be forged or moved to another key."""

from __future__ import annotations

import time

import httpx

from shared.signed_links import LinkSigner


def test_signed_links(secure) -> None:
    services, base = secure["services"], secure["base"]
    key = "references/alpha/local/01.jpg"
    signer: LinkSigner = services.signer
    good = f"{base}/media/{key}?{signer.media_query(key, 60)}"
    assert httpx.get(good, timeout=10).status_code == 200

    expired = f"{base}/media/{key}?{signer.media_query(key, 60, now=time.time() - 3600)}"
    assert httpx.get(expired, timeout=10).status_code == 401
    query = signer.media_query(key, 60)
    exp, sig = (part.split("=", 1)[1] for part in query.split("&"))
    # The signature of one key does not open another, nor a later expiry.
    other = "references/bravo/local/01.jpg"
    assert httpx.get(f"{base}/media/{other}?{query}", timeout=10).status_code == 401
    assert httpx.get(f"{base}/media/{key}?exp={int(exp) + 86400}&sig={sig}",
                     timeout=10).status_code == 401
    forged = LinkSigner(b"x" * 32).media_query(key, 60)
    assert httpx.get(f"{base}/media/{key}?{forged}", timeout=10).status_code == 401
    for bad in ("", "exp=&sig=", f"exp={exp}", f"exp=abc&sig={sig}", f"exp={exp}&sig="):
        assert httpx.get(f"{base}/media/{key}?{bad}", timeout=10).status_code == 401
    # Secrets beside the data are never objects.
    for path in ("../signing.key", "..%2Fsigning.key", "%2e%2e/signing.key", "/etc/passwd",
                 "references/../../signing.key"):
        r = httpx.get(f"{base}/media/{path}?{signer.media_query(path, 60)}", timeout=10)
        assert r.status_code in (401, 404), path
        assert b"\x00" not in r.content[:64] and len(r.content) < 200


def test_webhook_tokens_cannot_be_forged(secure) -> None:
    base = secure["base"]
    for job_id, token in (("0123abcd", "forged"), ("0123abcd", ""), ("../../x", "t"),
                          ("0123abcd", LinkSigner(b"y" * 32).sign("webhook:0123abcd"))):
        r = httpx.post(f"{base}/hooks/turbotext/{job_id}?t={token}",
                       data={"success": "true"}, timeout=10)
        assert r.status_code in (403, 404), (job_id, r.status_code)
