"""How large a request body may be, per route and per deployment, enforced before it is read.

Two limits meet here:
- the deployment's settings: BOOTHAI_MAX_UPLOAD_MB for the routes that take a photo (the
  booth, the console's reference and Try it, /ocr and /chat), BOOTHAI_MAX_API_REQUEST_MB for
  the multi-file APIs (10 × 10 MB per their specs), and 1 MB for every other route;
- on AWS Lambda, the platform's (shared/platform_limits.py): about 4.5 MB of upload is all a
  function ever sees. Larger requests are answered by AWS itself with its own 413 ("Request
  must be smaller than 6291456 bytes …") and never reach the code, so the function refuses
  from LAMBDA_BODY_BYTES on, a margin below, where the caller still gets an answer that
  says what to change.

The 413 is rendered by the route the request was for (functions/errors.py): plain text for
the booth, the OpenAI error object for /v1/images/edits, the seeds' shapes for vision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.errors import REFUSED
from shared.config import Settings
from shared.errors import PayloadTooLarge
from shared.platform_limits import LAMBDA_BODY_BYTES

# Routes whose specs allow several 10 MB files (or base64 images) in one request.
API_UPLOAD_PREFIXES = ("/v1/images/edits", "/batch/ocr", "/api/v1/image/comparison")
BOOTH_PREFIX = "/u/"
# Routes that take one photo or file: the booth, the vision API's single-file routes, and
# the console's reference upload, Try it and the chroma-key preview.
FILE_PREFIXES = (BOOTH_PREFIX, "/ocr", "/chat")
CONSOLE_UPLOAD = re.compile(r"^/api/slots/[^/]+/[^/]+/(reference|test|preview|late-preview)$")
# A slot's settings, an API key's name, a provider's webhook: a few KB of JSON.
SMALL_BODY_BYTES = 1024 * 1024
# Multipart framing and the booth's ten text fields add a little over the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024

# A 2400 px JPEG from a DSLR is ~1-2 MB: well inside the limit, and plenty for a print.
BOOTH_MAX_IMAGE_SIZE_HINT = 2400


@dataclass(frozen=True)
class BodyRule:
    limit: int  # bytes
    platform: bool  # the limit is AWS Lambda's, not a setting the operator can raise

    def refusal(self, path: str) -> PayloadTooLarge:
        size = f"{self.limit / 1024 / 1024:.0f} MB"
        if not self.platform:
            return PayloadTooLarge(f"upload too large; the limit is {size}")
        if path.startswith(BOOTH_PREFIX):
            return PayloadTooLarge(
                f"photo too large for this deployment (AWS Lambda takes {size}); in DSLR Remote "
                f"Pro set Postprocess photos > Settings > Max image size to "
                f"{BOOTH_MAX_IMAGE_SIZE_HINT} pixels")
        return PayloadTooLarge(
            f"request too large for this deployment (AWS Lambda takes {size} per request); "
            f"send fewer or smaller images, or image URLs where the API takes them")


def body_rule(settings: Settings, path: str) -> BodyRule:
    if path.startswith(API_UPLOAD_PREFIXES):
        configured = int(settings.max_api_request_mb * 1024 * 1024)
    elif path.startswith(FILE_PREFIXES) or CONSOLE_UPLOAD.match(path):
        configured = settings.max_upload_bytes + FORM_OVERHEAD_BYTES
    else:
        # Every other route takes a small JSON body at most. Its limit was the upload
        # limit: 25 MB of JSON to PUT /api/slots/… cost 630 MB of parsing (issue 13).
        return BodyRule(SMALL_BODY_BYTES, platform=False)
    if settings.on_lambda and configured > LAMBDA_BODY_BYTES:
        return BodyRule(LAMBDA_BODY_BYTES, platform=True)
    return BodyRule(configured, platform=False)


class BodyLimit:
    """Refuse bodies over the route's limit before they are read: by Content-Length at once,
    and by counting for chunked uploads that do not declare one."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        rule = body_rule(self.settings, path)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > rule.limit):
            return await self._too_large(scope, send, rule)
        seen = 0

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > rule.limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge:
            await self._too_large(scope, send, rule)

    async def _too_large(self, scope: Scope, send: Send, rule: BodyRule) -> None:
        """Route the request without its body: the route it was for renders the refusal in
        its own surface's shape (ErrorRoute answers it before parsing or authenticating)."""
        refused = {**scope, REFUSED: rule.refusal(scope.get("path", ""))}

        async def no_body() -> Message:
            return {"type": "http.disconnect"}  # nothing more of this body is read

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        await self.app(refused, no_body, closing)


class _BodyTooLarge(BaseException):
    """BaseException, so no handler that catches Exception (a form parser's "malformed body"
    → 422) can turn an oversize body into anything but 413."""
