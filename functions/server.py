"""The uvicorn server `boothai serve` runs, built to face the open internet.

uvicorn on its own waits forever for a request's headers, lets a body trickle in at any
rate, takes any number of connections and believes X-Forwarded-For from loopback. Here:

  headers   a connection that has not sent complete request headers within
            `header_timeout_seconds` of opening (or of the first byte of its next
            keep-alive request) is closed (`GuardedHttpProtocol`, an httptools protocol);
  body      a body that pauses longer than `body_idle_seconds`, or averages less than
            `body_min_bytes_per_second` after that grace, is answered 408 and the
            connection closed (`SlowBodyGuard`). An honest booth upload is far above the
            floor: 25 MB must arrive in ~40 s of the 50 s window, i.e. ≥ 0.6 MB/s, twelve
            times the 50 KiB/s floor;
  capacity  `max_connections` open connections in all (uvicorn's limit_concurrency, 503
            beyond), `max_connections_per_client` from one address (closed at once beyond),
            `max_requests_per_client` running at once per client (429, `ClientRequestCap`);
  proxies   X-Forwarded-For is read only from `trusted_proxies`; unset, proxy headers are
            off and the TCP peer is the client the failure throttle counts.

On Lambda none of this applies: the Function URL buffers the whole request before the
function runs, and Mangum takes the client from `requestContext.http.sourceIp`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import Counter
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared import observability
from shared.config import Settings

log = logging.getLogger("boothai.http")

# After the keep-alive answer, an idle connection may wait this long for its next request
# (the value `boothai serve` always had; proxies with a 60 s idle timeout stay below it).
KEEP_ALIVE_SECONDS = 75
# What a refused client is told to wait before trying again.
RETRY_AFTER_SECONDS = 2

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# -- trusted proxies -------------------------------------------------------------------------
def trusted_proxies(setting: str) -> list[Network]:
    """The networks of `BOOTHAI_TRUSTED_PROXIES` ("10.0.0.5, 192.168.0.0/24"). A malformed
    entry is an error at start: uvicorn would silently take it as a literal never matched."""
    networks = []
    for entry in (part.strip() for part in setting.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"BOOTHAI_TRUSTED_PROXIES: {entry!r} is not an IP address or "
                             "network") from None
    return networks


def _is_trusted(networks: list[Network]) -> Callable[[str], bool]:
    def trusted(host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in networks)

    return trusted


# -- headers and connections: the protocol -----------------------------------------------------
def guarded_http_protocol(*, header_timeout: float, max_per_client: int,
                          trusted: Callable[[str], bool]) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a request-header deadline and a cap on open
    connections per address. One class per server: it holds that server's counts."""
    open_by_client: Counter[str] = Counter()

    class GuardedHttpProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _counted_as: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            host = self.client[0] if self.client else None
            if host and max_per_client > 0 and not trusted(host):
                if open_by_client[host] >= max_per_client:
                    transport.close()  # before any request: nothing to answer yet
                    return
                open_by_client[host] += 1
                self._counted_as = host
            # A connection that sends nothing at all is cut by the same deadline.
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            if self._counted_as is not None:
                open_by_client[self._counted_as] -= 1
                if open_by_client[self._counted_as] <= 0:
                    del open_by_client[self._counted_as]
                self._counted_as = None
            super().connection_lost(exc)

        # httptools calls these as it parses: the first byte of a request, then its end of
        # headers (often within one packet, so the timer is armed and dropped at once).
        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm_header_timer()

        def on_headers_complete(self) -> None:
            self._disarm_header_timer()
            super().on_headers_complete()

        def _arm_header_timer(self) -> None:
            if self._header_timer is None and header_timeout > 0:
                self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedHttpProtocol


# -- bodies and requests: ASGI wrappers --------------------------------------------------------
async def _answer_plain(send: Send, status: int, text: str,
                        headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """A short plain-text answer that also closes the connection: the rest of an unread
    body must not keep it open."""
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *headers]})
    await send({"type": "http.response.body", "body": body})


class _BodyClock:
    """How long the app may wait for the next body chunk. Only time spent waiting in
    `receive()` counts: while the app works (a lookup before it reads), the client cannot
    send more than the buffers hold, so that time is not the client's fault."""

    def __init__(self, idle_seconds: float, min_rate: float) -> None:
        self.idle_seconds, self.min_rate = idle_seconds, min_rate
        self.received = 0
        self.waited = 0.0
        self.complete = False

    def allowance(self) -> float:
        # The body must average min_rate over waited time beyond the first idle_seconds.
        behind_rate = self.idle_seconds + self.received / self.min_rate - self.waited \
            if self.min_rate > 0 else self.idle_seconds
        return max(0.05, min(self.idle_seconds, behind_rate))


class SlowBodyGuard:
    """Answer 408 (and close) when a request body stalls or dribbles."""

    def __init__(self, app: ASGIApp, *, idle_seconds: float, min_bytes_per_second: float) -> None:
        self.app = app
        self.idle_seconds = idle_seconds
        self.min_rate = min_bytes_per_second

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.idle_seconds <= 0:
            return await self.app(scope, receive, send)
        clock = _BodyClock(self.idle_seconds, self.min_rate)
        started = False  # the response
        cut = False

        async def timed_receive() -> Message:
            nonlocal cut
            if cut:
                return {"type": "http.disconnect"}
            if clock.complete:  # after the body: a wait for disconnect is the app's own
                return await receive()
            began = time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), clock.allowance())
            except TimeoutError:
                cut = True
                log.warning("request body too slow from %s: cut after %d bytes in %.1f s",
                            _client(scope), clock.received, clock.waited + time.monotonic() - began)
                if not started:
                    await _answer_plain(send, 408, "The request body arrived too slowly.\n")
                return {"type": "http.disconnect"}
            finally:
                clock.waited += time.monotonic() - began
            if message["type"] == "http.request":
                clock.received += len(message.get("body", b""))
                clock.complete = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if cut:
                return  # the 408 was the answer
            started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not cut:
                raise
            # The app saw the disconnect we gave it and gave up reading: expected.


class ClientRequestCap:
    """At most `per_client` requests running at once from one client address."""

    def __init__(self, app: ASGIApp, *, per_client: int) -> None:
        self.app = app
        self.per_client = per_client
        self.running: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.per_client <= 0:
            return await self.app(scope, receive, send)
        client = _client(scope)
        if self.running[client] >= self.per_client:
            return await _answer_plain(
                send, 429, "Too many requests from this address at once; retry shortly.\n",
                ((b"retry-after", str(RETRY_AFTER_SECONDS).encode()),))
        self.running[client] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.running[client] -= 1
            if self.running[client] <= 0:
                del self.running[client]


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


# -- the server ----------------------------------------------------------------------------------
def guard_app(app: ASGIApp, settings: Settings) -> ASGIApp:
    """The app wrapped in the per-client request cap and the slow-body guard. uvicorn puts
    its proxy-headers middleware outside these, so they see the forwarded client."""
    return ClientRequestCap(
        SlowBodyGuard(app, idle_seconds=settings.body_idle_seconds,
                      min_bytes_per_second=settings.body_min_bytes_per_second),
        per_client=settings.max_requests_per_client)


def build_server(app: ASGIApp, settings: Settings, *, host: str, port: int,
                 log_level: str = "info", access_log: bool = True) -> uvicorn.Server:
    """A uvicorn server for `app` with the limits above, and every log handler redacted."""
    proxies = trusted_proxies(settings.trusted_proxies)
    protocol = guarded_http_protocol(
        header_timeout=settings.header_timeout_seconds,
        max_per_client=settings.max_connections_per_client,
        trusted=_is_trusted(proxies))
    config = uvicorn.Config(
        guard_app(app, settings), host=host, port=port, log_level=log_level,
        access_log=access_log, timeout_keep_alive=KEEP_ALIVE_SECONDS, http=protocol,
        # No route speaks WebSocket; an upgraded connection would also leave the
        # protocol without its connection_lost, and its per-address count with it.
        ws="none",
        limit_concurrency=settings.max_connections or None,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=[str(network) for network in proxies])
    # uvicorn configured logging while building its Config: its handlers exist now.
    observability.install_redaction()
    return uvicorn.Server(config)
