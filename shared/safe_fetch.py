"""Fetching a caller's image URL without letting the caller reach our own network (SSRF).

Every hop of a fetch is checked the same way, in order:
  1. the URL: http or https only, a host, no credentials, no metadata host names;
  2. the host is resolved (getaddrinfo on a worker thread; the injectable `resolver`) and
     *every* address must be public: private, loopback, link-local, multicast, reserved,
     unspecified, CGNAT (100.64/10), IPv4-mapped / -compatible / 6to4 / Teredo / NAT64 IPv6,
     the cloud metadata addresses and the non-public ranges `ipaddress` calls global
     (`NOT_PUBLIC`: site-local fec0::/10, documentation 3fff::/20, …) are refused;
  3. the connection goes to the address that was checked (pinned: the request URL carries
     the IP, the Host header and TLS SNI / certificate check keep the name), so DNS rebinding
     between check and connect cannot redirect it;
  4. redirects are followed by hand, at most `max_redirects`, each target checked from step 1.
The body is streamed and cut off past `max_bytes`; the whole fetch (DNS, every hop, the body)
runs under one time limit; `fetch_image` then decodes what arrived.

The policy is injectable: `FetchPolicy(allow_private=True)` (BOOTHAI_FETCH_ALLOW_PRIVATE, for
on-premises deployments and tests) lets private and loopback addresses through — metadata,
unspecified, multicast and IPv6 transition addresses stay refused whatever the policy — and
`allow_hosts={"127.0.0.1:8123"}` exempts exactly those host:port pairs from the address
check, hop by hop (a redirect elsewhere is checked strictly); `host_port(url)` spells the
entry for a configured base URL.

A caller may pass `OriginHeaders` (an API key for the service whose link it fetches): they
go on every hop to that one origin and on no hop a redirect takes elsewhere. Errors carry the
caller's `label` and `field` (the vision API's `image_urls` unless told otherwise).
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from shared.concurrency import run_cpu, run_io
from shared.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia
from shared.ports import Fetched, OriginHeaders

log = logging.getLogger("boothai.fetch")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = 15.0
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "boothai-image-fetch/1.0"

# Refused by name before any lookup, whatever the policy.
METADATA_HOSTS = frozenset({
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
})
# Refused whatever the policy: instance metadata / credential endpoints of the clouds.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean
    "169.254.170.2",    # AWS ECS task credentials
    "169.254.169.123",  # AWS time sync
    "100.100.100.200",  # Alibaba Cloud
    "fd00:ec2::254",    # AWS IMDS over IPv6
))
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Embedded-IPv4 forms that no host should answer on: IPv4-compatible (::a.b.c.d, deprecated
# by RFC 4291) and IPv4-translated (::ffff:0:a.b.c.d, RFC 2765). `::` and `::1` sit in the
# first range too but are judged as unspecified / loopback.
EMBEDDED_IPV4 = (ipaddress.ip_network("::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))
# Ranges that are not public but that `ipaddress` calls global (is_global is True for them on
# Python 3.11, or was on some release), so the checks below would let them through. Named
# here, refused under the default policy whatever the Python version says.
NOT_PUBLIC = (
    (ipaddress.ip_network("fec0::/10"), "a site-local address"),      # RFC 3879, deprecated
    (ipaddress.ip_network("3fff::/20"), "a documentation address"),   # RFC 9637
    (ipaddress.ip_network("2001:db8::/32"), "a documentation address"),  # RFC 3849
    (ipaddress.ip_network("5f00::/16"), "a segment-routing address"),   # RFC 9602 (SRv6 SIDs)
    (ipaddress.ip_network("100::/64"), "a discard-only address"),     # RFC 6666
    (ipaddress.ip_network("192.88.99.0/24"), "a 6to4 relay address"),  # RFC 7526, deprecated
    (ipaddress.ip_network("192.0.2.0/24"), "a documentation address"),
    (ipaddress.ip_network("198.51.100.0/24"), "a documentation address"),
    (ipaddress.ip_network("203.0.113.0/24"), "a documentation address"),
    (ipaddress.ip_network("198.18.0.0/15"), "a benchmarking address"),  # RFC 2544
)


class UrlRefused(InvalidInput):
    """The URL may not be fetched: scheme, credentials, host name or address."""


class FetchFailed(InvalidInput):
    """The URL was allowed but gave no usable answer (unreachable, HTTP error, too slow)."""


@dataclass(frozen=True)
class FetchPolicy:
    allow_private: bool = False
    # Exact "host:port" pairs exempt from the address check (tests' loopback servers).
    allow_hosts: frozenset[str] = field(default_factory=frozenset)
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT  # seconds for the whole fetch, every hop included
    max_redirects: int = 3


def address_refusal(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why `ip` may not be contacted (a short phrase), or None when it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        if ip.sixtofour is not None or ip.teredo is not None or any(ip in n for n in NAT64):
            return "an IPv6 transition address"
        if not (ip.is_loopback or ip.is_unspecified) and any(ip in n for n in EMBEDDED_IPV4):
            return "an IPv6 transition address"
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if allow_private:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT:
        return "a carrier-grade NAT address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    for network, reason in NOT_PUBLIC:
        if ip.version == network.version and ip in network:
            return reason
    if not ip.is_global:
        return "a non-public address"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses, by getaddrinfo on a worker thread."""
    infos = await run_io(lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in seen:
            seen.append(addr)
    return seen


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None


def decode_check(data: bytes) -> None:
    """Default content check: Pillow must recognise and fully decode the bytes."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UnsupportedMedia("the content is not a readable image") from exc


class SafeFetcher:
    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        resolver: Resolver | None = None,
        image_check: Callable[[bytes], Any] | None = None,
        verify: Any = True,  # httpx TLS verification (a path or SSLContext in tests)
    ) -> None:
        self.policy = policy or FetchPolicy()
        self.resolver = resolver or system_resolver
        self.image_check = image_check or decode_check
        self.verify = verify

    async def fetch_image(self, url: str, *, label: str = "image",
                          field: str | None = "image_urls",
                          origin_headers: OriginHeaders | None = None) -> Fetched:
        """`fetch`, then decode the body (on a worker thread): UnsupportedMedia if it is
        not an image."""
        fetched = await self.fetch(url, label=label, field=field, origin_headers=origin_headers)
        try:
            await run_cpu(lambda: self.image_check(fetched.data))
        except UnsupportedMedia as exc:
            raise UnsupportedMedia(f"{label}: {exc}") from exc
        return fetched

    async def fetch(self, url: str, *, label: str = "image", field: str | None = "image_urls",
                    origin_headers: OriginHeaders | None = None) -> Fetched:
        """The body at `url`, under the policy. UrlRefused / FetchFailed (4xx to the caller,
        naming `field`), PayloadTooLarge past max_bytes. `origin_headers` go only to hops on
        their own origin."""
        policy = self.policy
        try:
            async with asyncio.timeout(policy.timeout):
                return await self._fetch(url, _Call(label, field, origin_headers))
        except TimeoutError as exc:
            raise FetchFailed(
                f"{label}: the download did not finish within {policy.timeout:g} s",
                field=field,
            ) from exc

    # -- internals ----------------------------------------------------------------------------
    async def _fetch(self, url: str, call: _Call) -> Fetched:
        policy, label, field = self.policy, call.label, call.field
        current = url
        deadline = time.monotonic() + policy.timeout
        timeout = httpx.Timeout(policy.timeout)
        async with httpx.AsyncClient(
            trust_env=False,  # no proxies from the environment: we connect to the checked IP
            follow_redirects=False,
            timeout=timeout,
            verify=self.verify,
        ) as client:
            for hop in range(policy.max_redirects + 1):
                target, ip, host = await self._check(current, call)
                request_url = target.copy_with(host=str(ip))
                host_header = _bracket(host) + (f":{target.port}" if target.port else "")
                extensions: dict[str, Any] = {"timeout": _remaining(deadline)}
                if target.scheme == "https":
                    extensions["sni_hostname"] = host
                request = client.build_request(
                    "GET",
                    request_url,
                    headers=call.headers_for(target) | {
                        # ours last: nothing a caller passes may undo the pinning
                        "Host": host_header,
                        "Accept": "image/*",
                        "Accept-Encoding": "identity",  # no decompression bombs
                        "User-Agent": USER_AGENT,
                    },
                    extensions=extensions,
                )
                try:
                    response = await client.send(request, stream=True)
                except httpx.TimeoutException as exc:
                    raise FetchFailed(f"{label}: the server did not answer in time",
                                      field=field) from exc
                except httpx.HTTPError as exc:
                    raise FetchFailed(f"{label}: could not connect ({type(exc).__name__})",
                                      field=field) from exc
                try:
                    if response.status_code in REDIRECT_CODES:
                        location = response.headers.get("location", "").strip()
                        if not location:
                            raise FetchFailed(f"{label}: redirect without a location",
                                              field=field)
                        if hop == policy.max_redirects:
                            raise FetchFailed(
                                f"{label}: more than {policy.max_redirects} redirects",
                                field=field,
                            )
                        current = urljoin(str(target), location)
                        continue
                    if response.status_code != 200:
                        raise FetchFailed(f"{label}: the server answered HTTP {response.status_code}",
                                          field=field)
                    data = await self._read_body(response, call)
                    return Fetched(data=data, url=str(target),
                                   content_type=response.headers.get("content-type", ""))
                finally:
                    await response.aclose()
        raise FetchFailed(f"{label}: too many redirects", field=field)  # pragma: no cover

    async def _check(self, url: str, call: _Call) -> tuple[httpx.URL, IPAddress, str]:
        """One hop's URL → (parsed URL, the checked address to connect to, host name)."""
        label, field = call.label, call.field
        try:
            target = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise UrlRefused(f"{label}: not a valid URL", field=field) from exc
        if target.scheme not in ("http", "https"):
            raise UrlRefused(f"{label}: only http and https URLs are accepted", field=field)
        if target.userinfo:
            raise UrlRefused(f"{label}: URLs with credentials are not accepted", field=field)
        try:  # the ASCII (IDNA) form: what DNS, the Host header and SNI carry
            host = target.raw_host.decode("ascii").rstrip(".").lower()
        except UnicodeDecodeError as exc:
            raise UrlRefused(f"{label}: not a valid host name", field=field) from exc
        if not host:
            raise UrlRefused(f"{label}: the URL has no host", field=field)
        port = target.port or (443 if target.scheme == "https" else 80)
        if host in METADATA_HOSTS:
            raise UrlRefused(f"{label}: the host is a cloud metadata service", field=field)
        exempt = f"{_bracket(host)}:{port}" in self.policy.allow_hosts
        allow_private = self.policy.allow_private or exempt
        if not allow_private and (host == "localhost" or host.endswith(".localhost")):
            raise UrlRefused(f"{label}: the host is this machine", field=field)
        literal = _parse_ip(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            try:
                resolved = await self.resolver(host, port)
            except (OSError, UnicodeError) as exc:
                raise FetchFailed(f"{label}: the host name does not resolve",
                                  field=field) from exc
            addresses = [ip for ip in (_parse_ip(a) for a in resolved) if ip is not None]
            if not addresses:
                raise FetchFailed(f"{label}: the host name does not resolve", field=field)
        for ip in addresses:
            reason = address_refusal(ip, allow_private=allow_private)
            if reason is not None:
                log.info("refused fetch of %s: %s resolves to %s", label, host, reason)
                raise UrlRefused(f"{label}: the URL's host is {reason}, which is not allowed",
                                 field=field)
        return target, addresses[0], host

    async def _read_body(self, response: httpx.Response, call: _Call) -> bytes:
        limit, label, field = self.policy.max_bytes, call.label, call.field
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"{label}: the image is larger than {_mb(limit)}")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"{label}: the image is larger than {_mb(limit)}")
                chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise FetchFailed(f"{label}: the download did not finish in time",
                              field=field) from exc
        except httpx.HTTPError as exc:
            raise FetchFailed(f"{label}: the download broke off ({type(exc).__name__})",
                              field=field) from exc
        return b"".join(chunks)


@dataclass(frozen=True)
class _Call:
    """One fetch's wording and its per-origin headers."""

    label: str
    field: str | None
    origin_headers: OriginHeaders | None

    def headers_for(self, target: httpx.URL) -> dict[str, str]:
        given = self.origin_headers
        if given is None or _origin(str(target)) != _origin(given.origin):
            return {}
        return dict(given.headers)


def host_port(url: str) -> str:
    """The `allow_hosts` entry for the host and port `url` names ("host:port", the port
    filled in from the scheme, an IPv6 host in brackets)."""
    _, host, port = _origin(url)
    return f"{_bracket(host)}:{port}"


def _origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) as `_check` reads them (the ASCII host, the port filled in from
    the scheme): what "the same origin" compares."""
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii", "replace").rstrip(".").lower()
    return parsed.scheme, host, parsed.port or (443 if parsed.scheme == "https" else 80)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _remaining(deadline: float) -> dict[str, float]:
    left = max(0.05, deadline - time.monotonic())
    return {"connect": left, "read": left, "write": left, "pool": left}


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB"
