"""The API docs page (/docs) loads nothing from another host: its script, stylesheet and
icon come from this server (Swagger UI vendored in functions/swagger_ui/), the page forbids
other origins by CSP, and FastAPI's CDN-backed pages are not mounted. Over a live server."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from functions.docs import SWAGGER_UI_VERSION


class _Refs(HTMLParser):
    """Every URL the page makes a browser load: script src, link href, img src, …"""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append((tag, value))


def test_docs_page_loads_only_from_this_server(live_server) -> None:
    base = live_server.url
    r = httpx.get(base + "/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    parser = _Refs()
    parser.feed(r.text)
    tags = {tag for tag, _ in parser.refs}
    assert {"script", "link"} <= tags, parser.refs
    for tag, ref in parser.refs:
        assert not re.match(r"^(https?:)?//", ref, re.I), (tag, ref)  # no other host
        assert urlsplit(urljoin(base + "/docs", ref)).netloc == urlsplit(base).netloc
        asset = httpx.get(urljoin(base + "/docs", ref))
        assert asset.status_code == 200, (ref, asset.status_code)
        assert len(asset.content) > 0
    assert "cdn.jsdelivr.net" not in r.text and "fastapi.tiangolo.com" not in r.text
    assert '"validatorUrl": null' in r.text  # no badge fetched from validator.swagger.io
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self' 'unsafe-inline'" in csp
    # The spec the page loads is ours too.
    assert "url: '/openapi.json'" in r.text
    assert httpx.get(base + "/openapi.json").json()["info"]["title"] == "boothai"


def test_assets_are_the_vendored_swagger_ui(live_server) -> None:
    base = f"{live_server.url}/docs/assets/{SWAGGER_UI_VERSION}"
    js = httpx.get(base + "/swagger-ui-bundle.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in js.content
    css = httpx.get(base + "/swagger-ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for name in ("LICENSE", "README.md", "..%2Fdocs.py", "../docs.py", "nope.js"):
        assert httpx.get(f"{base}/{name}").status_code == 404, name


def test_fastapis_cdn_pages_are_not_mounted(live_server) -> None:
    r = httpx.get(live_server.url + "/redoc")
    assert r.status_code in (401, 404) and "cdn.jsdelivr.net" not in r.text
    assert "/docs" not in httpx.get(live_server.url + "/openapi.json").json()["paths"]
