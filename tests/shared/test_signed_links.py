"""Signed media links: valid only for their key, only until they expire, not forgeable."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import httpx

from shared.signed_links import LinkSigner
from tests.conftest import run
from tests.helpers import photos


def test_sign_and_check() -> None:
    signer = LinkSigner(b"k" * 32)
    q = parse_qs(signer.media_query("inputs/a/j.jpg", 60))
    exp, sig = q["exp"][0], q["sig"][0]
    assert signer.check_media("inputs/a/j.jpg", exp, sig)
    assert not signer.check_media("inputs/a/other.jpg", exp, sig)  # another key
    assert not signer.check_media("inputs/a/j.jpg", str(int(exp) + 1000), sig)  # longer life
    assert not signer.check_media("inputs/a/j.jpg", exp, sig[:-1] + "A")  # tampered
    assert not LinkSigner(b"z" * 32).check_media("inputs/a/j.jpg", exp, sig)  # other key
    assert not signer.check_media("inputs/a/j.jpg", exp, sig, now=time.time() + 120)  # expired
    assert not signer.check_media("inputs/a/j.jpg", "soon", sig)


def test_media_route_serves_signed_links_only(tmp_path, live_server_factory) -> None:
    from shared.config import Settings
    from shared.services import build_services

    services = build_services(Settings(data_dir=tmp_path / "d", enabled_providers=["local"],
                                       public_base_url="http://placeholder"))
    server = live_server_factory(services)
    data = photos.green_screen(100, 100)
    services.store.put("inputs/acme/job1.jpg", data, "image/jpeg")
    link = urlparse(services.store.url("inputs/acme/job1.jpg", 60))
    url = f"{server.url}{link.path}?{link.query}"
    ok = httpx.get(url)
    assert ok.status_code == 200 and ok.content == data
    assert httpx.get(f"{server.url}{link.path}").status_code == 401
    forged = url.replace("job1", "job2")
    assert httpx.get(forged).status_code in (401, 404)
    assert httpx.get(f"{server.url}/media/../data/signing.key?{link.query}").status_code == 404
    assert run(services.repo.list_tenants()) == []
