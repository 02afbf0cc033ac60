"""Guessing operator passwords, API keys and booth upload passwords: throttled per client
(429 + Retry-After), compared in constant time, unknown users cost the same as known ones."""

from __future__ import annotations

import inspect

import httpx
import pytest

import shared.auth
from shared.errors import TooManyAttempts, Unauthorized
from shared.signed_links import LinkSigner
from tests.conftest import run
from tests.helpers import photos


def test_basic_auth_brute_force_is_throttled(secure) -> None:
    url = secure["base"] + "/api/stats"
    codes = [httpx.get(url, auth=("alpha", f"guess-{i}"), timeout=10).status_code
             for i in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    # Even the right password waits now: the client is throttled, not the guess.
    blocked = httpx.get(url, auth=secure["alpha"]["auth"], timeout=10)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0


def test_api_key_guessing_is_throttled(secure) -> None:
    url = secure["base"] + "/models"
    codes = [httpx.get(url, headers={"Authorization": f"Bearer bth_guess{i}"},
                       timeout=10).status_code for i in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429


def test_upload_password_brute_force_is_throttled(secure) -> None:
    a = secure["alpha"]
    data = photos.green_screen(320, 213)
    codes = [httpx.post(a["upload_url"], data=photos.dslr_fields(f"guess-{i}"),
                        files={"fileToUpload": ("a.jpg", data, "image/jpeg")},
                        timeout=10).status_code for i in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429


def test_throttle_is_per_client(secure) -> None:
    auth = secure["services"].auth
    for _ in range(5):
        with pytest.raises(Unauthorized):
            run(auth.operator("alpha", "wrong", "10.0.0.1"))
    with pytest.raises(TooManyAttempts):
        run(auth.operator("alpha", "wrong", "10.0.0.1"))
    # Another client is not locked out by the attacker.
    assert run(auth.operator("alpha", secure["alpha"]["auth"][1], "10.0.0.2")).name == "alpha"


def test_unknown_user_does_the_same_work(secure, monkeypatch) -> None:
    calls: list[str] = []
    real = shared.auth.verify_password

    def spy(password_hash: str, password: str) -> bool:
        calls.append(password_hash[:9])
        return real(password_hash, password)

    monkeypatch.setattr(shared.auth, "verify_password", spy)
    auth = secure["services"].auth
    for user in ("alpha", "nobody-at-all"):
        with pytest.raises(Unauthorized) as exc:
            run(auth.operator(user, "wrong", f"client-{user}"))
        assert str(exc.value) == "wrong user name or password"  # no user enumeration
    assert calls == ["$argon2id", "$argon2id"]  # one argon2 verify either way


def test_secrets_are_compared_in_constant_time() -> None:
    assert "hmac.compare_digest" in inspect.getsource(shared.auth.Authenticator.booth)
    assert "hmac.compare_digest" in inspect.getsource(LinkSigner.verify)
    # Operator passwords: argon2 verify, never ==.
    assert "_hasher.verify" in inspect.getsource(shared.auth.verify_password)
