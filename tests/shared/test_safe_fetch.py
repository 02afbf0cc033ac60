"""shared.safe_fetch: SSRF attempts are refused under the default policy; a loopback test
server is reachable only through an explicit, exact allow-list entry, and every redirect
hop is checked again. Real HTTP over loopback, no patching of httpx."""

from __future__ import annotations

import asyncio
import io
import ipaddress
from collections.abc import Iterator

import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from shared.errors import PayloadTooLarge, UnsupportedMedia
from shared.ports import OriginHeaders
from shared.safe_fetch import (
    FetchFailed,
    FetchPolicy,
    SafeFetcher,
    UrlRefused,
    address_refusal,
    host_port,
)
from tests.fakes.server import run_app_in_thread


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


def image_source_app() -> Starlette:
    hosts: list[str] = []
    auth: list[tuple[str, str | None]] = []  # (path, Authorization header) of every request

    async def image(request: Request) -> Response:
        hosts.append(request.headers.get("host", ""))
        auth.append((request.url.path, request.headers.get("authorization")))
        return Response(png(), media_type="image/png")

    async def redirect(request: Request) -> Response:
        auth.append((request.url.path, request.headers.get("authorization")))
        return RedirectResponse(request.query_params["to"], status_code=302)

    async def loop(request: Request) -> Response:
        n = int(request.path_params["n"])
        return RedirectResponse(f"/loop/{n + 1}", status_code=301)

    async def big(request: Request) -> Response:
        async def body():
            for _ in range(64):
                yield b"\0" * 16384  # 1 MiB in all, no Content-Length
        return StreamingResponse(body(), media_type="image/png")

    async def big_declared(request: Request) -> Response:
        return Response(b"\0" * 200_000, media_type="image/png")

    async def slow(request: Request) -> Response:
        async def body():
            for _ in range(100):
                yield b"\x89"
                await asyncio.sleep(0.1)
        return StreamingResponse(body(), media_type="image/png")

    async def text(request: Request) -> Response:
        return Response("<html>not an image</html>", media_type="image/png")

    async def missing(request: Request) -> Response:
        return Response("gone", status_code=404)

    app = Starlette(routes=[
        Route("/img.png", image), Route("/redirect", redirect), Route("/loop/{n}", loop),
        Route("/big", big), Route("/big-declared", big_declared), Route("/slow", slow),
        Route("/text", text), Route("/missing", missing),
    ])
    app.state.hosts = hosts
    app.state.auth = auth
    return app


@pytest.fixture(scope="module")
def source() -> Iterator[tuple[str, Starlette]]:
    app = image_source_app()
    url, stop = run_app_in_thread(app)
    yield url, app
    stop()


def allowing(url: str, **kwargs) -> SafeFetcher:
    """A fetcher that may reach exactly this test server's host:port."""
    return SafeFetcher(FetchPolicy(allow_hosts=frozenset({url.removeprefix("http://")}), **kwargs))


async def never_resolve(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} should have been refused before any lookup")


# --- the default policy refuses internal targets --------------------------------------------------
@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/img.png",
    "http://127.1.2.3/",
    "http://localhost:{port}/img.png",
    "http://LOCALHOST./img.png",
    "http://api.localhost/",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[::1]:{port}/img.png",
    "http://[::]/",
    "http://0.0.0.0:{port}/img.png",
    "http://10.0.0.5/a.png",
    "http://172.16.3.4/a.png",
    "http://192.168.1.1/a.png",
    "http://100.64.0.1/a.png",
    "http://[::ffff:127.0.0.1]/a.png",
    "http://[::ffff:a9fe:a9fe]/a.png",
    "http://[fe80::1]/a.png",
    "http://[fc00::1]/a.png",
    "http://224.0.0.1/a.png",
    "http://240.0.0.1/a.png",
    "http://[64:ff9b::7f00:1]/a.png",
    "http://[2002:7f00:1::]/a.png",
])
async def test_internal_addresses_are_refused(url: str, source) -> None:
    port = source[0].rsplit(":", 1)[1]
    fetcher = SafeFetcher(resolver=never_resolve)
    with pytest.raises(UrlRefused, match="not allowed|this machine|metadata"):
        await fetcher.fetch(url.format(port=port), label="image 1")


async def test_numeric_host_forms_are_resolved_then_refused(source) -> None:
    port = source[0].rsplit(":", 1)[1]
    for host in ("2130706433", "0x7f.1", "017700000001"):  # all 127.0.0.1 to inet_aton
        with pytest.raises(UrlRefused, match="loopback"):
            await SafeFetcher().fetch(f"http://{host}:{port}/img.png")


async def test_public_looking_name_resolving_to_loopback_is_refused(source) -> None:
    calls: list[tuple[str, int]] = []

    async def rebinding_dns(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return ["127.0.0.1"]

    port = int(source[0].rsplit(":", 1)[1])
    with pytest.raises(UrlRefused, match="loopback"):
        await SafeFetcher(resolver=rebinding_dns).fetch(f"http://images.example.com:{port}/img.png")
    assert calls == [("images.example.com", port)]

    async def one_bad_address(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.1.2.3"]  # every address must be public

    with pytest.raises(UrlRefused, match="private"):
        await SafeFetcher(resolver=one_bad_address).fetch("https://cdn.example.com/a.png")


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "ftp://example.com/a.png",
    "gopher://example.com/",
    "data:image/png;base64,iVBORw0KGgo=",
    "javascript:alert(1)",
    "//example.com/a.png",
    "http:///a.png",
    "http://user:secret@example.com/a.png",
])
async def test_other_schemes_and_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(UrlRefused):
        await SafeFetcher(resolver=never_resolve).fetch(url)


def test_address_policy() -> None:
    ip = ipaddress.ip_address
    assert address_refusal(ip("93.184.216.34")) is None
    assert address_refusal(ip("2606:4700:4700::1111")) is None
    assert address_refusal(ip("100.64.0.1")) == "a carrier-grade NAT address"
    # allow_private opens private networks, never metadata, unspecified or mapped addresses
    assert address_refusal(ip("127.0.0.1"), allow_private=True) is None
    assert address_refusal(ip("10.0.0.1"), allow_private=True) is None
    for always in ("169.254.169.254", "fd00:ec2::254", "0.0.0.0", "::ffff:127.0.0.1", "224.0.0.1"):
        assert address_refusal(ip(always), allow_private=True) is not None, always


# --- the allowed test server, and what it may not lead to ---------------------------------------------
async def test_exactly_allowed_host_port_is_fetched_and_decoded(source) -> None:
    url, _ = source
    fetched = await allowing(url).fetch_image(url + "/img.png")
    assert fetched.data == png()
    assert fetched.content_type == "image/png"
    # the allow-list names one port, not the whole loopback interface
    other = SafeFetcher(FetchPolicy(allow_hosts=frozenset({"127.0.0.1:1"})))
    with pytest.raises(UrlRefused, match="loopback"):
        await other.fetch(url + "/img.png")


@pytest.mark.parametrize("target", [
    "http://127.0.0.1:{other}/img.png",
    "http://localhost:{port}/img.png",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:{port}/img.png",
    "http://10.0.0.1/img.png",
    "file:///etc/passwd",
])
async def test_redirects_are_checked_hop_by_hop(source, target: str) -> None:
    url, _ = source
    port = url.rsplit(":", 1)[1]
    to = target.format(port=port, other=int(port) + 1)
    with pytest.raises(UrlRefused):
        await allowing(url).fetch(f"{url}/redirect?to={to}")


async def test_redirects_are_followed_up_to_three(source) -> None:
    url, _ = source
    fetched = await allowing(url).fetch(f"{url}/redirect?to=/redirect%3Fto%3D/img.png")
    assert fetched.data == png() and fetched.url.endswith("/img.png")
    with pytest.raises(FetchFailed, match="more than 3 redirects"):
        await allowing(url).fetch(f"{url}/loop/0")


async def test_pinned_connection_keeps_the_host_name(source) -> None:
    url, app = source
    port = int(url.rsplit(":", 1)[1])
    calls: list[str] = []

    async def dns(host: str, p: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    fetcher = SafeFetcher(FetchPolicy(allow_private=True), resolver=dns)
    await fetcher.fetch(f"http://images.example.test:{port}/img.png")
    assert calls == ["images.example.test"]  # resolved once; the connection used that address
    assert app.state.hosts[-1] == f"images.example.test:{port}"


# --- headers for one origin only (an API key), and the caller's own wording ----------------------------
@pytest.fixture
def other_source() -> Iterator[tuple[str, Starlette]]:
    app = image_source_app()
    url, stop = run_app_in_thread(app)
    yield url, app
    stop()


async def test_origin_headers_go_to_their_origin_and_never_past_a_redirect(
    source, other_source
) -> None:
    (url, app), (other, other_app) = source, other_source
    fetcher = SafeFetcher(FetchPolicy(allow_hosts=frozenset({host_port(url), host_port(other)})))
    key = OriginHeaders(origin=url, headers={"Authorization": "Bearer k-123"})
    app.state.auth.clear()

    # same origin, redirect included: every hop gets the key
    await fetcher.fetch(f"{url}/redirect?to=/img.png", origin_headers=key)
    assert app.state.auth == [("/redirect", "Bearer k-123"), ("/img.png", "Bearer k-123")]

    # redirected to another origin: that server never sees it
    app.state.auth.clear()
    fetched = await fetcher.fetch(f"{url}/redirect?to={other}/img.png", origin_headers=key)
    assert fetched.data == png() and fetched.url == f"{other}/img.png"
    assert app.state.auth == [("/redirect", "Bearer k-123")]
    assert other_app.state.auth == [("/img.png", None)]

    # the same host on another port, or by another name, is another origin
    other_app.state.auth.clear()
    await fetcher.fetch(f"{other}/img.png", origin_headers=key)
    assert other_app.state.auth == [("/img.png", None)]


async def test_origin_headers_cannot_override_the_pinned_host(source) -> None:
    url, app = source
    key = OriginHeaders(origin=url, headers={"Host": "evil.example", "Authorization": "k"})
    await allowing(url).fetch(url + "/img.png", origin_headers=key)
    assert app.state.hosts[-1] == host_port(url)


async def test_errors_name_the_callers_field_and_label(source) -> None:
    url, _ = source
    with pytest.raises(UrlRefused) as err:
        await SafeFetcher().fetch(url + "/img.png", label="Turbotext result", field="result")
    assert err.value.field == "result" and str(err.value).startswith("Turbotext result: ")
    with pytest.raises(FetchFailed) as err:
        await allowing(url).fetch(url + "/missing", field=None)
    assert err.value.field is None
    with pytest.raises(FetchFailed) as err:  # the vision API's wording stays the default
        await allowing(url).fetch(url + "/missing")
    assert err.value.field == "image_urls"


def test_host_port_is_the_allow_list_entry() -> None:
    assert host_port("http://127.0.0.1:8123/x") == "127.0.0.1:8123"
    assert host_port("https://WWW.Turbotext.ru") == "www.turbotext.ru:443"
    assert host_port("http://www.turbotext.ru/") == "www.turbotext.ru:80"
    assert host_port("http://[::1]:9000") == "[::1]:9000"


# --- size, time, content ------------------------------------------------------------------------------
async def test_oversized_bodies_are_cut_off(source) -> None:
    url, _ = source
    small = allowing(url, max_bytes=100_000)
    with pytest.raises(PayloadTooLarge, match="larger than"):
        await small.fetch(url + "/big")  # streamed, no Content-Length
    with pytest.raises(PayloadTooLarge, match="larger than"):
        await small.fetch(url + "/big-declared")  # refused on the declared length


async def test_slow_trickle_hits_the_total_time_limit(source) -> None:
    url, _ = source
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(FetchFailed, match="did not finish within 0.5 s"):
        await allowing(url, timeout=0.5).fetch(url + "/slow")
    assert loop.time() - started < 3


async def test_non_image_content_and_http_errors(source) -> None:
    url, _ = source
    with pytest.raises(UnsupportedMedia, match="image 2: the content is not a readable image"):
        await allowing(url).fetch_image(url + "/text", label="image 2")
    with pytest.raises(FetchFailed, match="HTTP 404"):
        await allowing(url).fetch(url + "/missing")
    dead = "http://127.0.0.1:1"
    with pytest.raises(FetchFailed, match="could not connect"):
        await allowing(dead).fetch(dead + "/img.png")


# --- https: pinned to the checked IP, yet SNI and the certificate check use the host name -----------
def _self_signed(tmp_path, name: str) -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture
def https_source(tmp_path) -> Iterator[tuple[int, str, Starlette]]:
    import socket
    import threading
    import time

    import uvicorn

    cert, key = _self_signed(tmp_path, "images.example.test")
    app = image_source_app()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                           ssl_certfile=cert, ssl_keyfile=key,
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield port, cert, app
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


async def test_https_is_pinned_with_sni_and_certificate_checked_by_name(https_source) -> None:
    import ssl

    port, cert, app = https_source
    trust = ssl.create_default_context(cafile=cert)

    async def dns(host: str, p: int) -> list[str]:
        return ["127.0.0.1"]

    fetcher = SafeFetcher(FetchPolicy(allow_private=True), resolver=dns, verify=trust)
    fetched = await fetcher.fetch_image(f"https://images.example.test:{port}/img.png")
    assert fetched.data == png()
    assert app.state.hosts[-1] == f"images.example.test:{port}"
    # a name the certificate does not cover fails verification, though the IP is the same
    with pytest.raises(FetchFailed, match="could not connect"):
        await fetcher.fetch(f"https://other.example.test:{port}/img.png")
