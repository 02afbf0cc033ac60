"""Bursts of password guesses against a live server (issue 13, finding 2).

Before: the throttle read the failure count, checked the password, and recorded the failure
afterwards, so every one of 300 simultaneous guesses read "no failures yet" and was checked,
each an argon2 hash on the same CPU lane the booths' photos use. Now a check reserves its
place first (shared/throttle.py) and hashes have their own lane with a short queue
(shared/concurrency.run_hash).

A 401 is a guess that was checked; a 429 one that was refused before any check.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

import shared.auth
from shared.concurrency import CPU, HASH, HASH_QUEUE
from shared.errors import TooManyAttempts, Unauthorized
from shared.throttle import IN_FLIGHT
from tests.conftest import run
from tests.helpers import photos

LIMIT = 5  # the `secure` fixture's auth_failures_allowed
# The most guesses one client can have checked in a window: every place but one may still
# be in flight when the last failure lands.
MOST_CHECKED = LIMIT + IN_FLIGHT - 1


async def _burst(n: int, send) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=n)) as client:
        return await asyncio.gather(*[send(client, i) for i in range(n)])


def _codes(responses: list[httpx.Response]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for r in responses:
        counts[r.status_code] = counts.get(r.status_code, 0) + 1
    return counts


def test_300_simultaneous_wrong_operator_passwords_are_not_all_checked(secure) -> None:
    url = secure["base"] + "/api/stats"
    codes = _codes(asyncio.run(_burst(
        300, lambda client, i: client.get(url, auth=("alpha", f"guess-{i}")))))
    assert set(codes) <= {401, 429}, codes
    assert codes.get(401, 0) <= MOST_CHECKED, codes  # before: ~300 checked
    assert codes.get(429, 0) >= 300 - MOST_CHECKED


def test_simultaneous_wrong_upload_passwords_are_not_all_checked(secure) -> None:
    a = secure["alpha"]
    photo = photos.green_screen(160, 107)

    def send(client: httpx.AsyncClient, i: int):
        return client.post(a["upload_url"], data=photos.dslr_fields(f"guess-{i}"),
                           files={"fileToUpload": ("a.jpg", photo, "image/jpeg")})

    codes = _codes(asyncio.run(_burst(200, send)))
    assert set(codes) <= {401, 429}, codes
    assert codes.get(401, 0) <= MOST_CHECKED, codes
    # The burst used up the client's failures: even the right password waits now.
    right = httpx.post(a["upload_url"], data=photos.dslr_fields(a["upload_password"]),
                       files={"fileToUpload": ("a.jpg", photo, "image/jpeg")}, timeout=30)
    assert right.status_code == 429


def test_honest_concurrent_requests_of_one_client_are_not_throttled(secure) -> None:
    """Places are held only during a check: 30 uploads with the right password from one
    address at once all pass (a venue NAT), as do 30 API calls with one key."""
    a = secure["alpha"]
    photo = photos.green_screen(160, 107)

    def upload(client: httpx.AsyncClient, i: int):
        return client.post(a["upload_url"], data=photos.dslr_fields(a["upload_password"]),
                           files={"fileToUpload": ("a.jpg", photo, "image/jpeg")})

    def models(client: httpx.AsyncClient, i: int):
        return client.get(secure["base"] + "/models",
                          headers={"Authorization": f"Bearer {a['api_key']}"})

    assert _codes(asyncio.run(_burst(30, upload))) == {200: 30}
    assert _codes(asyncio.run(_burst(30, models))) == {200: 30}


def test_a_hash_burst_from_many_addresses_stays_on_its_own_lane(secure, monkeypatch) -> None:
    """60 unknown users from 60 addresses (each a first try for its own address, so only the
    hash lane can stop them): no more hashes at once than the lane has threads, none of them
    on the CPU lane the booths' photos use, and past the lane's short queue an immediate 429
    instead of 60 requests holding 19 MiB each."""
    lock = threading.Lock()
    running = peak = 0
    cpu_used: list[int] = []
    real = shared.auth.verify_password

    def observed(password_hash: str, password: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            cpu_used.append(CPU.statistics().borrowed_tokens)
        try:
            return real(password_hash, password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(shared.auth, "verify_password", observed)
    url = secure["base"] + "/api/stats"

    async def from_many_addresses() -> list[httpx.Response]:
        async def one(i: int) -> httpx.Response:
            transport = httpx.AsyncHTTPTransport(local_address=f"127.0.{1 + i // 200}.{1 + i % 200}")
            async with httpx.AsyncClient(transport=transport, timeout=60) as client:
                return await client.get(url, auth=(f"nobody-{i}", "guess"))

        return await asyncio.gather(*[one(i) for i in range(60)])

    responses = asyncio.run(from_many_addresses())
    codes = _codes(responses)
    assert peak <= HASH.total_tokens, peak
    assert set(cpu_used) == {0}, cpu_used  # before: every hash held a CPU-lane thread
    busy = [r for r in responses if r.status_code == 429]
    assert busy and all("busy" in r.text for r in busy), codes
    assert codes.get(401, 0) >= HASH_QUEUE  # the queue's worth were checked, not refused
    assert codes.get(401, 0) + len(busy) == 60


def test_guesses_spread_over_many_addresses_are_limited_per_account(secure) -> None:
    auth = secure["services"].auth
    auth.account_limit = 8
    for i in range(8):
        with pytest.raises(Unauthorized):
            run(auth.operator("alpha", "wrong", f"10.1.0.{i}"))
    # A ninth address, even with the right password: the account waits out the window.
    with pytest.raises(TooManyAttempts):
        run(auth.operator("alpha", secure["alpha"]["auth"][1], "10.1.0.99"))
    # The other account is untouched.
    assert run(auth.operator("bravo", secure["bravo"]["auth"][1], "10.1.0.99")).name == "bravo"
