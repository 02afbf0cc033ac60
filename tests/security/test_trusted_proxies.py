"""X-Forwarded-For is believed only from the proxies `BOOTHAI_TRUSTED_PROXIES` names. The
client address is observed the way an attacker meets it: through the upload-password
failure throttle of a real server (429 after `auth_failures_allowed` wrong passwords)."""

from __future__ import annotations

import httpx
import pytest

from functions.server import trusted_proxies
from tests.helpers import photos
from tests.security.test_slow_clients import guarded_server

ALLOWED = 3


def _guesses(url: str, forwarded_for: list[str]) -> list[int]:
    photo = photos.green_screen(320, 213)
    return [httpx.post(url, data=photos.dslr_fields(f"guess-{i}"),
                       files={"fileToUpload": ("a.jpg", photo, "image/jpeg")},
                       headers={"X-Forwarded-For": address}, timeout=10).status_code
            for i, address in enumerate(forwarded_for)]


def test_forwarded_for_is_ignored_without_trusted_proxies(tmp_path) -> None:
    """Unset: a guesser on 127.0.0.1 rotating X-Forwarded-For is still one client."""
    rotating = [f"198.51.100.{i}" for i in range(ALLOWED + 2)]
    with guarded_server(tmp_path, auth_failures_allowed=ALLOWED) as (server, _, path, _pw):
        codes = _guesses(server.url + path, rotating)
    assert codes[:ALLOWED] == [401] * ALLOWED and codes[ALLOWED:] == [429, 429], codes


def test_forwarded_for_is_honoured_from_a_trusted_proxy(tmp_path) -> None:
    """Named: the proxy's X-Forwarded-For is the client; each forwarded address is
    throttled on its own, and one address is still locked out after its own failures."""
    rotating = [f"198.51.100.{i}" for i in range(ALLOWED + 2)]
    with guarded_server(tmp_path, auth_failures_allowed=ALLOWED,
                        trusted_proxies="10.9.0.0/16, 127.0.0.1") as (server, _, path, _pw):
        spread = _guesses(server.url + path, rotating)
        one = _guesses(server.url + path, ["203.0.113.9"] * (ALLOWED + 1))
    assert spread == [401] * len(rotating), spread
    assert one[:ALLOWED] == [401] * ALLOWED and one[ALLOWED] == 429, one


def test_malformed_trusted_proxy_is_refused() -> None:
    assert [str(n) for n in trusted_proxies(" 10.0.0.5, 192.168.0.0/24 ,")] == \
        ["10.0.0.5/32", "192.168.0.0/24"]
    assert trusted_proxies("") == []
    with pytest.raises(ValueError, match="proxy.example"):
        trusted_proxies("10.0.0.5,proxy.example")
