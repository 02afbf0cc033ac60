"""A fake Gemini API (`generateContent`) speaking the real JSON wire format.

The real google-genai client is pointed at it with `HttpOptions(base_url=...)`. Each
request is recorded (parts in order, prompt text, aspect ratio, image size, size in bytes)
and answered by the next scripted behaviour, or by a plain success when the script is empty.

    fake = FakeGemini(api_key="test-key")
    fake.script(Behaviour.status(503), Behaviour.ok(text_before="Here you go"))

What it checks the way the real API does, before any scripted behaviour:
- the `x-goog-api-key` header holds a key it knows (`accept(...)` adds more than the first);
  any other is answered as Google does: HTTP 400 INVALID_ARGUMENT, "API key not valid.
  Please pass a valid API key.", with an ErrorInfo detail of reason API_KEY_INVALID; a key
  in `exhausted` gets 429 RESOURCE_EXHAUSTED with Google's quota wording. Every call's key is
  recorded (`keys_seen`), so tests can tell whose key reached the provider;
- `GET /{v1,v1beta}/models` lists the models in pages (`pageSize`, default 50, at most
  1000; `nextPageToken` while more remain), in the shape the real API answers;
- the model exists (404 NOT_FOUND otherwise, with Google's wording);
- `imageConfig.aspectRatio` is one the model supports, and `imageConfig.imageSize` is only
  sent to a model that takes it, with a value it takes ("1K", "2K", "4K"; an uppercase K —
  "2k" is rejected): 400 INVALID_ARGUMENT otherwise.
A successful answer is the tinted guest photo at the size the model's resolution table gives
for the requested aspect ratio and image size (1K when no size was sent).
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
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_STATUS_WORDS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# Output pixels per aspect ratio at 1K, from the model pages of the Gemini API docs
# (ai.google.dev/gemini-api/docs/image-generation). 2K and 4K are twice and four times
# each side; "512" (Gemini 3.1 Flash Image only) is half.
_FLASH_25_1K = {
    "1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184),
    "4:3": (1184, 864), "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344),
    "16:9": (1344, 768), "21:9": (1536, 672),
}
_GEMINI_3_1K = {
    "1:1": (1024, 1024), "2:3": (848, 1264), "3:2": (1264, 848), "3:4": (896, 1200),
    "4:3": (1200, 896), "4:5": (928, 1152), "5:4": (1152, 928), "9:16": (768, 1376),
    "16:9": (1376, 768), "21:9": (1584, 672),
}
_GEMINI_31_EXTRA_1K = {"1:4": (512, 2048), "4:1": (2048, 512), "1:8": (384, 3072),
                       "8:1": (3072, 384)}
_SCALE = {"512": 0.5, "1K": 1, "2K": 2, "4K": 4}

INVALID_KEY_MESSAGE = "API key not valid. Please pass a valid API key."
QUOTA_MESSAGE = ("You exceeded your current quota, please check your plan and billing details. "
                 "For more information on this error, head to: "
                 "https://ai.google.dev/gemini-api/docs/rate-limits.")


@dataclass(frozen=True)
class ModelSpec:
    table_1k: dict[str, tuple[int, int]]  # the aspect ratios it takes, with their 1K pixels
    image_sizes: tuple[str, ...] = ()  # the imageSize values it takes; () = not the field


_GEMINI_3 = ModelSpec(_GEMINI_3_1K, ("1K", "2K", "4K"))
_GEMINI_31 = ModelSpec({**_GEMINI_3_1K, **_GEMINI_31_EXTRA_1K}, ("512", "1K", "2K", "4K"))
MODELS: dict[str, ModelSpec] = {
    "gemini-2.5-flash-image": ModelSpec(_FLASH_25_1K),
    "gemini-2.5-flash-image-preview": ModelSpec(_FLASH_25_1K),
    "gemini-3-pro-image-preview": _GEMINI_3,
    "gemini-3-pro-image": _GEMINI_3,
    "gemini-3.1-flash-image-preview": _GEMINI_31,
    "gemini-3.1-flash-image": _GEMINI_31,
}


@dataclass
class Behaviour:
    # ok | status | quota | denied | blocked | finish | text_only | hang | stall_body | cut_body
    kind: str = "ok"
    latency: float = 0.0
    status: int = 200
    reason: str = ""  # block reason or finish reason
    message: str | None = None  # finishMessage / blockReasonMessage, as the API words it
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
    def quota(cls) -> Behaviour:
        """429 RESOURCE_EXHAUSTED as the free tier or a spent quota answers it: Google's
        words, a QuotaFailure and a RetryInfo detail."""
        return cls(kind="quota", status=429)

    @classmethod
    def denied(cls) -> Behaviour:
        """403 PERMISSION_DENIED, as for a key Google has blocked (reported as leaked)."""
        return cls(kind="denied", status=403)

    @classmethod
    def blocked(cls, reason: str = "PROHIBITED_CONTENT", message: str | None = None) -> Behaviour:
        """`promptFeedback.blockReason`: the request was refused before any drawing."""
        return cls(kind="blocked", reason=reason, message=message)

    @classmethod
    def finish(cls, reason: str, message: str | None = None) -> Behaviour:
        """A candidate with this finishReason and no image (IMAGE_SAFETY, NO_IMAGE, …);
        `message` is the candidate's finishMessage."""
        return cls(kind="finish", reason=reason, message=message)

    @classmethod
    def text_only(cls) -> Behaviour:
        return cls(kind="text_only")

    @classmethod
    def hang(cls) -> Behaviour:
        """Never answer; stops when the client goes away."""
        return cls(kind="hang")

    @classmethod
    def stall_body(cls) -> Behaviour:
        """200 and its headers (Content-Length of a whole answer), half the body, then
        nothing more until the client goes away: a connection that dies mid-answer."""
        return cls(kind="stall_body")

    @classmethod
    def cut_body(cls) -> Behaviour:
        """200 and its headers, half the body, then the connection is closed."""
        return cls(kind="cut_body")

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
    headers: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)

    @property
    def images(self) -> list[dict]:
        return [p for p in self.parts if p["kind"] == "image"]

    @property
    def prompt(self) -> str:
        return "\n".join(p["text"] for p in self.parts if p["kind"] == "text")

    @property
    def image_config(self) -> dict:
        return _field(self.generation_config, "imageConfig", "image_config") or {}

    @property
    def aspect_ratio(self) -> str | None:
        return _field(self.image_config, "aspectRatio", "aspect_ratio")

    @property
    def image_size(self) -> str | None:
        return _field(self.image_config, "imageSize", "image_size")

    @property
    def kinds(self) -> list[str]:
        return [p["kind"] for p in self.parts]


class FakeGemini:
    def __init__(self, api_key: str = "test-gemini-key") -> None:
        self.api_key = api_key
        self.keys: set[str] = {api_key}
        self.exhausted: set[str] = set()  # keys whose project is out of quota (429)
        self.requests: list[RecordedRequest] = []
        self.keys_seen: list[tuple[str, str | None]] = []  # (call, key) for every call
        self.list_calls: list[dict[str, str]] = []  # query of each accepted models.list
        self.unauthorized = 0
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self.app = Starlette(routes=[
            Route("/{version}/models", self._list_models, methods=["GET"]),
            Route("/{version}/models/{target}", self._handle, methods=["POST"]),
        ])

    def accept(self, *keys: str) -> None:
        """More keys this fake takes (other accounts' own keys)."""
        self.keys.update(keys)

    def keys_used(self, call: str = "generateContent") -> list[str | None]:
        return [key for name, key in self.keys_seen if name == call]

    def _refuse_key(self, call: str, request: Request) -> Response | None:
        key = request.headers.get("x-goog-api-key")
        self.keys_seen.append((call, key))
        if key not in self.keys:
            self.unauthorized += 1
            return _invalid_key()
        if key in self.exhausted:
            return _quota_exceeded()
        return None

    async def _list_models(self, request: Request) -> Response:
        version = request.path_params["version"]
        if version not in ("v1", "v1beta"):
            return _error(404, f"unknown API version {version}")
        refused = self._refuse_key("models.list", request)
        if refused is not None:
            return refused
        query = dict(request.query_params)
        try:
            size = min(1000, int(query.get("pageSize") or 50))
            start = int(query.get("pageToken") or 0)
        except ValueError:
            return _error(400, "Invalid value for pageSize or pageToken")
        if size < 0:
            return _error(400, "page_size must be positive")
        self.list_calls.append(query)
        names = sorted(MODELS)
        page = names[start:start + (size or 50)]
        body: dict = {"models": [_model_resource(name) for name in page]}
        if start + len(page) < len(names):
            body["nextPageToken"] = str(start + len(page))
        return JSONResponse(body)

    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def _next(self) -> Behaviour:
        with self._lock:
            return self._script.popleft() if self._script else Behaviour.ok()

    async def _handle(self, request: Request) -> Response:
        version = request.path_params["version"]
        model, _, action = request.path_params["target"].partition(":")
        if version not in ("v1", "v1beta") or action != "generateContent":
            return _error(404, f"unknown method {version}/{action}")
        refused = self._refuse_key("generateContent", request)
        if refused is not None:
            return refused

        raw = await request.body()
        body = json.loads(raw)
        record = RecordedRequest(
            version=version,
            model=model,
            api_key=request.headers.get("x-goog-api-key"),
            parts=_parse_parts(body),
            generation_config=_field(body, "generationConfig", "generation_config") or {},
            size=len(raw),
            headers=dict(request.headers),
        )
        self.requests.append(record)

        spec = MODELS.get(model)
        if spec is None:
            return _error(404, f"models/{model} is not found for API version {version}, or is "
                               "not supported for generateContent. Call ListModels to see the list "
                               "of available models and their supported methods.")
        refused = _check_image_config(record, spec)
        if refused is not None:
            return refused

        behaviour = self._next()
        if behaviour.kind == "hang":
            await _hang(request)
            return _error(504, "client went away")
        if behaviour.latency:
            await asyncio.sleep(behaviour.latency)
        if behaviour.kind in ("stall_body", "cut_body"):
            return _broken_answer(behaviour, record, spec, model, request)
        return _answer(behaviour, record, spec, model)


def _field(obj: dict, camel: str, snake: str):
    # Google's JSON mapping accepts both spellings of a field name.
    return obj.get(camel, obj.get(snake))


def _check_image_config(record: RecordedRequest, spec: ModelSpec) -> Response | None:
    ratio, size = record.aspect_ratio, record.image_size
    if ratio is not None and ratio not in spec.table_1k:
        return _error(400, f"Unsupported aspect ratio: {ratio}")
    if size is None:
        return None
    if not spec.image_sizes:
        return _error(400, "Image size is not supported for this model.")
    if size not in spec.image_sizes:
        return _error(400, f"Invalid image size: {size}. Supported values are "
                           + ", ".join(spec.image_sizes) + ".")
    return None


def output_size(spec: ModelSpec, ratio: str, image_size: str | None) -> tuple[int, int]:
    """The pixels the model draws for `ratio` at `image_size` (1K when not sent)."""
    width, height = spec.table_1k[ratio]
    scale = _SCALE[image_size or "1K"]
    return int(width * scale), int(height * scale)


def _parse_parts(body: dict) -> list[dict]:
    parts = []
    for content in body.get("contents", []):
        for part in content.get("parts", []):
            inline = _field(part, "inlineData", "inline_data")
            if inline is not None:
                mime = _field(inline, "mimeType", "mime_type")
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


def _model_resource(name: str) -> dict:
    """One entry of models.list, with the fields the real resource carries."""
    return {"name": f"models/{name}", "version": "2.0", "displayName": name,
            "description": f"{name} (fake)", "inputTokenLimit": 32768,
            "outputTokenLimit": 32768,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
            "temperature": 1, "topP": 0.95, "maxTemperature": 2}


def _invalid_key() -> JSONResponse:
    """What generativelanguage.googleapis.com answers a key it does not know."""
    return JSONResponse({"error": {
        "code": 400, "message": INVALID_KEY_MESSAGE, "status": "INVALID_ARGUMENT",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
             "domain": "googleapis.com",
             "metadata": {"service": "generativelanguage.googleapis.com"}},
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
             "message": INVALID_KEY_MESSAGE},
        ]}}, status_code=400)


def _quota_exceeded() -> JSONResponse:
    """A key whose quota is spent: the same answer as a scripted quota failure."""
    return _quota_error()


def _error(code: int, message: str, details: list[dict] | None = None) -> JSONResponse:
    status = _STATUS_WORDS.get(code, "UNKNOWN")
    error: dict = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=code)


LEAKED_MESSAGE = "Your API key was reported as leaked. Please use another API key."


def _quota_error() -> JSONResponse:
    return _error(429, QUOTA_MESSAGE, details=[
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
            {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
             "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
             "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash-image"},
             "quotaValue": "0"}]},
        {"@type": "type.googleapis.com/google.rpc.Help", "links": [
            {"description": "Learn more about Gemini API quotas",
             "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}])


def _answer(behaviour: Behaviour, record: RecordedRequest, spec: ModelSpec,
            model: str) -> JSONResponse:
    if behaviour.kind == "status":
        return _error(behaviour.status, "scripted failure")
    if behaviour.kind == "quota":
        return _quota_error()
    if behaviour.kind == "denied":
        return _error(403, LEAKED_MESSAGE)
    return JSONResponse(_answer_body(behaviour, record, spec, model))


def _answer_body(behaviour: Behaviour, record: RecordedRequest, spec: ModelSpec,
                 model: str) -> dict:
    if behaviour.kind == "blocked":
        feedback: dict = {"blockReason": behaviour.reason}
        if behaviour.message:
            feedback["blockReasonMessage"] = behaviour.message
        return {"promptFeedback": feedback, "usageMetadata": {"promptTokenCount": 1290},
                "modelVersion": model}
    if behaviour.kind == "finish":
        candidate: dict = {"index": 0, "finishReason": behaviour.reason}
        if behaviour.message:
            candidate["finishMessage"] = behaviour.message
        return {"candidates": [candidate], "modelVersion": model}
    if behaviour.kind == "text_only":
        parts = [{"text": "Could you tell me more about the picture you want?"}]
        return _candidate_body(parts, model)

    first = record.images[0]["data"] if record.images else None
    size = None
    if record.aspect_ratio is not None:
        size = output_size(spec, record.aspect_ratio, record.image_size)
    data = tinted(first, behaviour.image_format, size=size)
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
    return _candidate_body(parts, model)


def _broken_answer(behaviour: Behaviour, record: RecordedRequest, spec: ModelSpec, model: str,
                   request: Request) -> Response:
    whole = json.dumps(_answer_body(Behaviour.ok(), record, spec, model)).encode()
    return _HalfAnswer(whole, stall=behaviour.kind == "stall_body", request=request)


class _HalfAnswer(Response):
    """Status, headers with the whole answer's Content-Length, the first half of the body;
    then either nothing until the client leaves, or the end of the ASGI call without the
    rest, on which the server closes the connection."""

    def __init__(self, whole: bytes, *, stall: bool, request: Request) -> None:
        super().__init__(media_type="application/json")
        self._whole, self._stall, self._request = whole, stall, request

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(self._whole)).encode())]})
        await send({"type": "http.response.body", "body": self._whole[: len(self._whole) // 2],
                    "more_body": True})
        if self._stall:
            await _hang(self._request)


def _candidate(parts: list[dict], model: str) -> JSONResponse:
    return JSONResponse(_candidate_body(parts, model))


def _candidate_body(parts: list[dict], model: str) -> dict:
    return {
        "candidates": [{"index": 0, "finishReason": "STOP",
                        "content": {"role": "model", "parts": parts}}],
        "usageMetadata": {"promptTokenCount": 1290, "totalTokenCount": 2580},
        "modelVersion": model,
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tinted(source: bytes | None, fmt: str = "PNG", size: tuple[int, int] | None = None) -> bytes:
    """The input photo with a warm tint (so a test can tell it was processed), at `size` when
    given, or a small generated picture when there was no input."""
    if source is None:
        return solid(size or (64, 48), (200, 80, 40), fmt)
    img = Image.open(io.BytesIO(source)).convert("RGB")
    img = ImageOps.colorize(img.convert("L"), black=(40, 0, 0), white=(255, 220, 160))
    if size is not None and img.size != size:
        img = img.resize(size)
    out = io.BytesIO()
    # A fast PNG level: a 4K answer is ~17 MP, and only its size matters to the tests.
    img.save(out, format=fmt, **({"compress_level": 1} if fmt == "PNG" else {}))
    return out.getvalue()


def solid(size: tuple[int, int], color: tuple[int, int, int], fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()
