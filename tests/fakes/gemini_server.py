"""A fake Gemini API (`generateContent`) speaking the real JSON wire format.

The real google-genai client is pointed at it with `HttpOptions(base_url=...)`. Each
request is recorded (parts in order, prompt text, aspect ratio, size) and answered by the
next scripted behaviour, or by a plain success when the script is empty.

    fake = FakeGemini(api_key="test-key")
    fake.script(Behaviour.status(503), Behaviour.ok(text_before="Here you go"))
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from PIL import Image, ImageOps
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_STATUS_WORDS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass
class Behaviour:
    kind: str = "ok"  # ok | status | blocked | finish | text_only | hang
    latency: float = 0.0
    status: int = 200
    reason: str = ""  # block reason or finish reason
    text_before: str | None = None  # a text part before the image
    thought_image: bool = False  # add an inline image marked thought (must be ignored)
    declared_mime: str | None = None  # lie about the mime type of the returned image
    image_format: str = "PNG"

    @classmethod
    def ok(cls, **kw) -> Behaviour:
        return cls(kind="ok", **kw)

    @classmethod
    def slow(cls, seconds: float, **kw) -> Behaviour:
        return cls(kind="ok", latency=seconds, **kw)

    @classmethod
    def error(cls, status: int, latency: float = 0.0) -> Behaviour:
        return cls(kind="status", status=status, latency=latency)

    @classmethod
    def blocked(cls, reason: str = "PROHIBITED_CONTENT") -> Behaviour:
        return cls(kind="blocked", reason=reason)

    @classmethod
    def finish(cls, reason: str) -> Behaviour:
        """A candidate with this finishReason and no image (IMAGE_SAFETY, NO_IMAGE, …)."""
        return cls(kind="finish", reason=reason)

    @classmethod
    def text_only(cls) -> Behaviour:
        return cls(kind="text_only")

    @classmethod
    def hang(cls) -> Behaviour:
        """Never answer; stops when the client goes away."""
        return cls(kind="hang")

    @classmethod
    def wrong_mime(cls) -> Behaviour:
        """A JPEG declared as image/png."""
        return cls(kind="ok", image_format="JPEG", declared_mime="image/png")


@dataclass
class RecordedRequest:
    version: str
    model: str
    api_key: str | None
    parts: list[dict]  # {"kind": "image", "mime", "data"} or {"kind": "text", "text"}
    generation_config: dict
    size: int
    at: float = field(default_factory=time.monotonic)

    @property
    def images(self) -> list[dict]:
        return [p for p in self.parts if p["kind"] == "image"]

    @property
    def prompt(self) -> str:
        return "\n".join(p["text"] for p in self.parts if p["kind"] == "text")

    @property
    def aspect_ratio(self) -> str | None:
        config = self.generation_config.get("imageConfig") or self.generation_config.get(
            "image_config"
        ) or {}
        return config.get("aspectRatio") or config.get("aspect_ratio")

    @property
    def kinds(self) -> list[str]:
        return [p["kind"] for p in self.parts]


class FakeGemini:
    def __init__(self, api_key: str = "test-gemini-key") -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.unauthorized = 0
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[Route("/{version}/models/{target}", self._handle, methods=["POST"])]
        )

    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def _next(self) -> Behaviour:
        with self._lock:
            return self._script.popleft() if self._script else Behaviour.ok()

    async def _handle(self, request: Request) -> JSONResponse:
        version = request.path_params["version"]
        model, _, action = request.path_params["target"].partition(":")
        if version not in ("v1", "v1beta") or action != "generateContent":
            return _error(404, f"unknown method {version}/{action}")
        if request.headers.get("x-goog-api-key") != self.api_key:
            self.unauthorized += 1
            return _error(403, "API key not valid")

        raw = await request.body()
        body = json.loads(raw)
        record = RecordedRequest(
            version=version,
            model=model,
            api_key=request.headers.get("x-goog-api-key"),
            parts=_parse_parts(body),
            generation_config=body.get("generationConfig") or body.get("generation_config") or {},
            size=len(raw),
        )
        self.requests.append(record)

        behaviour = self._next()
        if behaviour.kind == "hang":
            await _hang(request)
            return _error(504, "client went away")
        if behaviour.latency:
            await asyncio.sleep(behaviour.latency)
        return _answer(behaviour, record, model)


def _parse_parts(body: dict) -> list[dict]:
    parts = []
    for content in body.get("contents", []):
        for part in content.get("parts", []):
            inline = part.get("inlineData") or part.get("inline_data")
            if inline is not None:
                mime = inline.get("mimeType") or inline.get("mime_type")
                parts.append(
                    {"kind": "image", "mime": mime, "data": _b64decode(inline["data"])}
                )
            elif "text" in part:
                parts.append({"kind": "text", "text": part["text"]})
    return parts


def _b64decode(text: str) -> bytes:
    # Google accepts standard and URL-safe base64, padded or not; the SDK sends URL-safe.
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4))


async def _hang(request: Request) -> None:
    for _ in range(6000):  # at most ten minutes
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.1)


def _error(code: int, message: str) -> JSONResponse:
    status = _STATUS_WORDS.get(code, "UNKNOWN")
    return JSONResponse({"error": {"code": code, "message": message, "status": status}},
                        status_code=code)


def _answer(behaviour: Behaviour, record: RecordedRequest, model: str) -> JSONResponse:
    if behaviour.kind == "status":
        return _error(behaviour.status, "scripted failure")
    if behaviour.kind == "blocked":
        return JSONResponse({"promptFeedback": {"blockReason": behaviour.reason},
                             "modelVersion": model})
    if behaviour.kind == "finish":
        return JSONResponse({"candidates": [{"index": 0, "finishReason": behaviour.reason}],
                             "modelVersion": model})
    if behaviour.kind == "text_only":
        parts = [{"text": "Could you tell me more about the picture you want?"}]
        return _candidate(parts, model)

    first = record.images[0]["data"] if record.images else None
    data = tinted(first, behaviour.image_format)
    mime = behaviour.declared_mime or f"image/{behaviour.image_format.lower()}"
    parts = []
    if behaviour.text_before:
        parts.append({"text": behaviour.text_before})
    parts.append({"inlineData": {"mimeType": mime, "data": _b64(data)}})
    if behaviour.thought_image:
        # A draft image marked as thought, placed last: "take the last image" alone would
        # pick it, so the provider must skip thoughts.
        draft = solid((32, 32), (0, 255, 0))
        parts.append({"inlineData": {"mimeType": "image/png", "data": _b64(draft)},
                      "thought": True})
    return _candidate(parts, model)


def _candidate(parts: list[dict], model: str) -> JSONResponse:
    return JSONResponse({
        "candidates": [{"index": 0, "finishReason": "STOP",
                        "content": {"role": "model", "parts": parts}}],
        "usageMetadata": {"promptTokenCount": 1290, "totalTokenCount": 2580},
        "modelVersion": model,
    })


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tinted(source: bytes | None, fmt: str = "PNG") -> bytes:
    """The input photo with a warm tint (so a test can tell it was processed), or a small
    generated picture when there was no input."""
    if source is None:
        return solid((64, 48), (200, 80, 40), fmt)
    img = Image.open(io.BytesIO(source)).convert("RGB")
    img = ImageOps.colorize(img.convert("L"), black=(40, 0, 0), white=(255, 220, 160))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def solid(size: tuple[int, int], color: tuple[int, int, int], fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()
