"""Cross-site request forgery: a state-changing request from another site is refused (403).

The operator UI authenticates with HTTP Basic, which the browser attaches by itself to every
request to this origin, whoever's page sends it. Without this check a form on any web page
the operator visits could POST /api/upload-password/rotate (every booth of the event stops
working) or run Try it on a paid provider, with the operator's credentials.

Browsers say where a request comes from; other clients (a booth, curl, the openai SDK) send
neither header and are not a CSRF vector, since nobody else's page drives them:

  Sec-Fetch-Site  every current browser: "same-origin" and "none" (typed, bookmarked) pass,
                  "same-site" and "cross-site" do not (a sibling subdomain is not us);
  Origin          browsers without Fetch Metadata: it must name this server (the Host it
                  was sent to, or BOOTHAI_PUBLIC_BASE_URL behind a proxy that rewrites it).

Only unsafe methods are checked (GET/HEAD/OPTIONS change nothing here). Exempt: booth uploads
(`/u/…`: a booth is not a browser, and its own password is in the body) and provider
webhooks (`/hooks/…`: server to server, authenticated by their token).

The refusal is rendered by the route it was for, in its surface's shape (functions/errors.py,
like a body refused for its size).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.errors import REFUSED
from shared.config import Settings
from shared.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EXEMPT_PREFIXES = ("/u/", "/hooks/")
ALLOWED_FETCH_SITES = frozenset({b"same-origin", b"none"})


def _netloc(origin: str) -> str | None:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.hostname}:{parts.port or default}"


class SameOriginWrites:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.public = _netloc(settings.public_base_url) if settings.public_base_url else None

    def cross_site(self, scope: Scope) -> str | None:
        """Why this request is refused, or None."""
        headers = dict(scope["headers"])
        site = headers.get(b"sec-fetch-site")
        if site is not None:
            if site.lower() in ALLOWED_FETCH_SITES:
                return None
            return f"this request came from another site (Sec-Fetch-Site: {site.decode()})"
        origin = headers.get(b"origin")
        if origin is None:
            return None  # not a browser
        claimed = _netloc(origin.decode("latin-1"))
        host = headers.get(b"host", b"").decode("latin-1")
        scheme = scope.get("scheme", "http")
        own = {_netloc(f"{scheme}://{host}"), _netloc(f"https://{host}"), self.public} - {None}
        if claimed in own:
            return None
        return "this request came from another site (its Origin is not this server)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] in SAFE_METHODS
                or scope.get("path", "").startswith(EXEMPT_PREFIXES)):
            return await self.app(scope, receive, send)
        reason = self.cross_site(scope)
        if reason is None:
            return await self.app(scope, receive, send)

        async def no_body() -> Message:
            return {"type": "http.disconnect"}

        refused = {**scope, REFUSED: Forbidden(
            f"{reason}; open the operator page on this server and use it from there")}
        await self.app(refused, no_body, send)
