"""SSRF: address ranges that are not public although Python's `ipaddress` calls them global
(site-local fec0::/10, documentation 3fff::/20, …) are refused by the image fetcher before
any connection is made, whether the URL names them or a host name resolves to them.

The resolver is the fetcher's own injection point (a name resolving to an address), as in
tests/shared/test_safe_fetch.py; nothing under test is patched."""

from __future__ import annotations

import ipaddress

import pytest

from shared.safe_fetch import SafeFetcher, UrlRefused, address_refusal

NON_PUBLIC = [
    "fec0::1",                 # site-local, deprecated (RFC 3879): is_global on 3.11
    "feff:ffff::1",            # the top of fec0::/10
    "3fff::1",                 # documentation (RFC 9637): is_global on 3.11
    "3fff:fff:ffff::1",        # the top of 3fff::/20
    "2001:db8::1",             # documentation (RFC 3849)
    "5f00::1",                 # SRv6 segment identifiers (RFC 9602)
    "100::1",                  # discard-only (RFC 6666)
    "::5db8:d822",             # IPv4-compatible (::93.184.216.34), deprecated
    "::ffff:0:5db8:d822",      # IPv4-translated (RFC 2765)
    "192.88.99.1",             # 6to4 relay anycast, deprecated (RFC 7526): is_global on 3.11
    "192.0.2.1", "198.51.100.1", "203.0.113.1",  # documentation
    "198.18.0.1",              # benchmarking (RFC 2544)
]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_ranges_have_a_refusal(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is not None, address


def test_public_addresses_still_pass() -> None:
    for address in ("93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001::1", "8.8.8.8"):
        assert address_refusal(ipaddress.ip_address(address)) is None, address


@pytest.mark.parametrize("address", NON_PUBLIC)
async def test_a_name_resolving_to_a_non_public_range_is_refused(address: str) -> None:
    async def dns(host: str, port: int) -> list[str]:
        return [address]

    with pytest.raises(UrlRefused, match="not allowed"):
        await SafeFetcher(resolver=dns).fetch("https://images.example.com/a.png")


@pytest.mark.parametrize("address", NON_PUBLIC)
async def test_a_url_naming_a_non_public_range_is_refused(address: str) -> None:
    async def never_resolve(host: str, port: int) -> list[str]:
        raise AssertionError("an address literal is not looked up")

    host = f"[{address}]" if ":" in address else address
    with pytest.raises(UrlRefused, match="not allowed"):
        await SafeFetcher(resolver=never_resolve).fetch(f"http://{host}/a.png")


async def test_one_non_public_address_among_public_ones_refuses_the_name() -> None:
    async def dns(host: str, port: int) -> list[str]:
        return ["2606:4700:4700::1111", "fec0::5"]  # every address must be public

    with pytest.raises(UrlRefused, match="site-local"):
        await SafeFetcher(resolver=dns).fetch("https://cdn.example.com/a.png")
