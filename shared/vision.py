"""The vision API's core (seeds 000 and 001), no web framework: image checks for the vision
endpoints, the comparison request and its prompts, and robust reading of the JSON a model
writes (fenced or not, chatty, single-quoted, trailing commas, cut off by max_tokens).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gpu_jobs.vision_models import DEFAULT_VISION_MODEL, VISION_MODELS
from shared.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia

# --- limits (seed 001) ----------------------------------------------------------------------
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_BATCH_FILES = 10
# The runners refuse more than this (gpu_jobs._common.MAX_INPUT_PIXELS); refuse it here first.
MAX_IMAGE_PIXELS = 40_000_000
# Decoded by Pillow, never judged by name. The booth's formats plus BMP and TIFF (seed 001).
VISION_FORMATS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png",
                  "WEBP": "image/webp", "BMP": "image/bmp", "TIFF": "image/tiff"}
FORMATS_TEXT = "JPEG, PNG, WEBP, BMP or TIFF"

MIN_COMPARISON_IMAGES = 2
MAX_COMPARISON_IMAGES = 4


@dataclass(frozen=True)
class VisionImage:
    format: str
    mime: str
    width: int
    height: int


def check_image(data: bytes, *, label: str = "the image", max_bytes: int = MAX_FILE_BYTES,
                max_pixels: int = MAX_IMAGE_PIXELS) -> VisionImage:
    """Decide what `data` is by decoding it (blocking: call on a worker thread).

    PayloadTooLarge over `max_bytes` or `max_pixels`; UnsupportedMedia when Pillow cannot
    read it, it is not an accepted format, or it is damaged or truncated."""
    if not data:
        raise UnsupportedMedia(f"{label} is empty")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{label} is larger than {max_bytes / 1024 / 1024:g} MB")
    try:
        img = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnsupportedMedia(f"{label} is not an image; send {FORMATS_TEXT}") from exc
    with img:
        fmt = img.format or ""
        if fmt not in VISION_FORMATS:
            raise UnsupportedMedia(
                f"{label} is {fmt or 'an unknown format'}; send {FORMATS_TEXT}")
        width, height = img.size
        if width * height > max_pixels:
            raise PayloadTooLarge(
                f"{label} is {width}x{height}; the limit is {max_pixels / 1e6:g} megapixels")
        try:
            img.load()
        except (OSError, ValueError, SyntaxError) as exc:
            raise UnsupportedMedia(f"{label} is damaged or truncated") from exc
    return VisionImage(fmt, VISION_FORMATS[fmt], width, height)


_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[\w=.+-]+)*;base64,", re.I)


def decode_base64_image(text: str, *, label: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """Base64 (plain or a `data:image/...;base64,` URL) → bytes; 4xx on bad input."""
    text = _DATA_URL.sub("", text.strip(), count=1)
    text = "".join(text.split())  # line-wrapped base64 is common
    if len(text) * 3 // 4 > max_bytes + 3:
        raise PayloadTooLarge(f"{label} is larger than {max_bytes / 1024 / 1024:g} MB")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        try:
            data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise InvalidInput(f"{label} is not valid base64", field="image_base64_list") from exc
    if not data:
        raise InvalidInput(f"{label} is empty", field="image_base64_list")
    return data


# --- models ---------------------------------------------------------------------------------
def check_model(model_id: str | None, default: str = DEFAULT_VISION_MODEL) -> str:
    """The model id to use. InvalidInput (400) if unknown or unservable by this build."""
    model_id = (model_id or "").strip() or default
    spec = VISION_MODELS.get(model_id)
    if spec is None:
        known = ", ".join(sorted(s.id for s in VISION_MODELS.values() if not s.unavailable))
        raise InvalidInput(f"unknown model {model_id!r}; available: {known}", field="model")
    if spec.unavailable:
        raise InvalidInput(f"model {model_id} is unavailable: {spec.unavailable}", field="model")
    return model_id


# --- the comparison request (seed 000) ----------------------------------------------------------
ComparisonType = Literal["differences", "changes", "similarities"]
OutputFormat = Literal["json", "text"]

COMPARISON_EXAMPLE = {
    "image_urls": ["https://example.com/before.jpg", "https://example.com/after.jpg"],
    "comparison_type": "differences",
    "output_format": "json",
}


class ComparisonRequest(BaseModel):
    """`POST /api/v1/image/comparison`: 2-4 images by URL or base64 (exactly one method)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [COMPARISON_EXAMPLE]})

    image_urls: list[str] | None = Field(
        None, description="2-4 http(s) image URLs (public addresses only)")
    image_base64_list: list[str] | None = Field(
        None, description="2-4 base64-encoded images (a data: URL prefix is accepted)")
    comparison_type: ComparisonType = Field(
        "differences", description="differences | changes (a sequence, in order) | similarities")
    output_format: OutputFormat = Field("json", description="json (structured) | text (prose)")
    prompt: str | None = Field(
        None, max_length=4000, description="Extra instruction added to the comparison prompt")
    max_tokens: int = Field(2048, ge=1, le=8192, description="Most tokens to generate")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 = greedy (deterministic)")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Top-p sampling, used when temperature > 0")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Seed for reproducible sampling")
    min_pixels: int = Field(65536, ge=784, le=16_777_216,
                            description="Fewest pixels per image after resizing")
    max_pixels: int = Field(4194304, ge=784, le=16_777_216,
                            description="Most pixels per image after resizing")
    model: str | None = Field(None, description="Vision model id (default: qwen3_vl_2b)")

    @model_validator(mode="after")
    def _one_method_2_to_4_images(self) -> ComparisonRequest:
        if (self.image_urls is None) == (self.image_base64_list is None):
            raise ValueError("Provide exactly one of image_urls or image_base64_list")
        images = self.image_urls if self.image_urls is not None else self.image_base64_list
        if not MIN_COMPARISON_IMAGES <= len(images or []) <= MAX_COMPARISON_IMAGES:
            raise ValueError(
                f"Number of images must be between {MIN_COMPARISON_IMAGES} and {MAX_COMPARISON_IMAGES}")
        if self.min_pixels > self.max_pixels:
            raise ValueError("min_pixels must not exceed max_pixels")
        return self

    @property
    def num_images(self) -> int:
        return len(self.image_urls or self.image_base64_list or [])


# --- prompts ------------------------------------------------------------------------------------
_TASKS: dict[str, str] = {
    "differences": (
        "Compare these {n} images and find every difference between them: objects added, removed "
        "or moved, and changes in colour, size, position, text, people, lighting or background."
    ),
    "changes": (
        "These {n} images are a sequence, in order (image 1 first). Describe what changes from "
        "each image to the next: what appears, disappears, moves or changes, and how the scene "
        "progresses overall."
    ),
    "similarities": (
        "Compare these {n} images and find what they have in common: shared objects, people, "
        "setting, colours, composition, style and themes. Mention differences only briefly."
    ),
}

_JSON_FORMAT = (
    "Images are numbered 1 to {n} in the order given. Answer with one JSON object and nothing "
    "else (no markdown, no commentary), exactly in this form:\n"
    '{{"summary": "<one or two sentences>", '
    '"differences": [{{"description": "<what differs or changes>", '
    '"location": "<where in the image>", "images_affected": [<image numbers>]}}], '
    '"common_elements": ["<an element all images share>"]}}\n'
    "Use an empty list when there is nothing to report."
)
_TEXT_FORMAT = (
    "Images are numbered 1 to {n} in the order given; refer to them by number. Answer in plain "
    "prose: a short summary first, then the details."
)


def comparison_prompt(*, comparison_type: str, output_format: str, num_images: int,
                      extra: str | None = None) -> str:
    parts = [_TASKS[comparison_type].format(n=num_images)]
    if extra and extra.strip():
        parts.append(f"Additional instructions: {extra.strip()}")
    fmt = _JSON_FORMAT if output_format == "json" else _TEXT_FORMAT
    parts.append(fmt.format(n=num_images))
    return "\n\n".join(parts)


# --- reading JSON out of model text ---------------------------------------------------------------
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.S | re.I)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n?(.*?)(?:```|\Z)", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\",
            '"': '"', "'": "'"}
_WORDS = {"true": "true", "false": "false", "null": "null", "none": "null", "nil": "null",
          "nan": "null", "undefined": "null"}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")
_MAX_STARTS = 8
_MAX_CUTS = 24


def strip_thinking(text: str) -> str:
    """Drop `<think>…</think>` blocks (reasoning models) and surrounding whitespace."""
    return _THINK.sub("", text or "").strip()


def extract_json(text: str) -> Any | None:
    """The first JSON object (or array) found in a model's answer, or None.

    Looks in ```json fences first, then at balanced {...} spans in the text, then the whole
    text; each candidate is parsed strictly, then leniently (single quotes, trailing commas,
    comments, Python literals, unquoted keys), then as cut off (closing what was left open)."""
    text = strip_thinking(text)
    if not text:
        return None
    for candidate in _candidates(text):
        value = _loads_lenient(candidate)
        if isinstance(value, dict | list):
            return value
    return None


def _candidates(text: str) -> list[str]:
    found: list[str] = []
    fences = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    found += [body for lang, body in fences if lang in ("json", "json5", "")]
    found += [body for lang, body in fences if lang not in ("json", "json5", "")]
    for source in [*found, text]:
        found += _spans(source)
    found.append(text)
    unique: list[str] = []
    for c in found:
        c = c.strip()
        if c and c not in unique:
            unique.append(c)
    return unique


def _spans(text: str) -> list[str]:
    """Balanced {...} / [...] spans (string-aware), from the first few openers; an opener
    that never closes yields the rest of the text (a cut-off answer)."""
    spans: list[str] = []
    starts = [i for i, c in enumerate(text) if c == "{"][:_MAX_STARTS]
    if not starts:
        starts = [i for i, c in enumerate(text) if c == "["][:_MAX_STARTS]
    for start in starts:
        end = _match(text, start)
        spans.append(text[start:end])
    return spans


def _match(text: str, start: int) -> int:
    depth = 0
    quote = ""
    i = start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def _loads_lenient(candidate: str) -> Any | None:
    try:
        return json.loads(candidate)
    except ValueError:
        pass
    try:
        return json.loads(_repair(candidate))
    except ValueError:
        pass
    # Cut off mid-value (max_tokens): retry from the last few commas back, closing the rest.
    cuts = [i for i, c in enumerate(candidate) if c == ","][-_MAX_CUTS:]
    for cut in reversed(cuts):
        try:
            return json.loads(_repair(candidate[:cut]))
        except ValueError:
            continue
    return None


def _repair(s: str) -> str:
    """Rewrite JSON-ish text as strict JSON: any-quote strings, comments dropped, trailing
    commas dropped, bare words as literals or strings, open strings/brackets closed."""
    out: list[str] = []
    stack: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in "\"'":
            value, i = _read_string(s, i)
            out.append(json.dumps(value, ensure_ascii=False))
            continue
        if s.startswith("//", i) or c == "#":
            while i < n and s[i] != "\n":
                i += 1
            continue
        if s.startswith("/*", i):
            end = s.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if c in "{[":
            stack.append(c)
            out.append(c)
        elif c in "}]":
            _drop_dangling(out)
            if stack:
                stack.pop()
            out.append(c)
        elif (number := _NUMBER.match(s, i)) is not None:
            out.append(_json_number(number.group(0)))
            i = number.end()
            continue
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (s[j].isalnum() or s[j] in "_-"):
                j += 1
            word = s[i:j]
            out.append(_WORDS.get(word.lower(), json.dumps(word)))
            i = j
            continue
        else:
            out.append(c)
        i += 1
    _drop_dangling(out)
    while stack:
        _drop_dangling(out)
        out.append("}" if stack.pop() == "{" else "]")
    return "".join(out)


def _json_number(token: str) -> str:
    try:
        value = float(token)
    except ValueError:  # pragma: no cover - the pattern only matches numbers
        return "null"
    if value.is_integer() and not re.search(r"[.eE]", token):
        return str(int(value))
    return repr(value) if value == value and abs(value) != float("inf") else "null"


def _read_string(s: str, i: int) -> tuple[str, int]:
    quote = s[i]
    i += 1
    buf: list[str] = []
    while i < len(s) and s[i] != quote:
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", s[i + 2:i + 6]):
                buf.append(chr(int(s[i + 2:i + 6], 16)))
                i += 6
                continue
            buf.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        buf.append(c)
        i += 1
    return "".join(buf), i + 1  # past the closing quote (or the end, if cut off)


def _drop_dangling(out: list[str]) -> None:
    """Remove trailing whitespace, commas and a dangling `"key":` before a closer."""
    while out:
        tail = out[-1]
        if tail.isspace() or tail == ",":
            out.pop()
        elif tail == ":":
            out.pop()
            while out and out[-1].isspace():
                out.pop()
            if out and out[-1].startswith('"'):
                out.pop()  # the key whose value never came
        else:
            break


# --- the comparison result -------------------------------------------------------------------
_SUMMARY_KEYS = ("summary", "overview", "conclusion", "description")
_DIFF_KEYS = ("differences", "changes", "diffs", "difference")
_COMMON_KEYS = ("common_elements", "similarities", "common", "shared_elements", "commonalities")
_DESC_KEYS = ("description", "difference", "change", "detail", "details", "text", "what")
_LOC_KEYS = ("location", "where", "region", "area", "position")
_IMAGES_KEYS = ("images_affected", "images", "affected_images", "image_indices", "image")


@dataclass(frozen=True)
class ParsedComparison:
    result: dict[str, Any] | None  # {summary, differences, common_elements} when parsed
    error: str | None  # why parsing failed, when it did


def parse_comparison(text: str, *, num_images: int) -> ParsedComparison:
    """A model's JSON-mode answer → the seed's result shape, or why it could not be read."""
    value = extract_json(text)
    if value is None:
        return ParsedComparison(None, "the model's answer contains no readable JSON")
    result = normalize_comparison(value, num_images=num_images)
    if result is None:
        return ParsedComparison(
            None, "the model's JSON has none of summary, differences or common_elements")
    return ParsedComparison(result, None)


def normalize_comparison(value: Any, *, num_images: int) -> dict[str, Any] | None:
    if isinstance(value, list):
        if not value or not all(isinstance(v, dict) for v in value):
            return None
        value = {"differences": value}
    if not isinstance(value, dict):
        return None
    obj = {str(k).strip().lower(): v for k, v in value.items()}
    summary = _first(obj, _SUMMARY_KEYS)
    diffs = _first(obj, _DIFF_KEYS)
    common = _first(obj, _COMMON_KEYS)
    if summary is None and diffs is None and common is None:
        return None
    return {
        "summary": _as_text(summary),
        "differences": [_difference(d, num_images) for d in _as_list(diffs) if d not in (None, "")],
        "common_elements": [t for t in (_as_text(c) for c in _as_list(common)) if t],
    }


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in obj:
            return obj[key]
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        found = _first({str(k).lower(): v for k, v in value.items()},
                       ("description", "name", "element", "text"))
        if isinstance(found, str):
            return found.strip()
    if isinstance(value, list):
        return "; ".join(t for t in (_as_text(v) for v in value) if t)
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, int | float) else str(value)


def _difference(item: Any, num_images: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        return {"description": _as_text(item), "location": "", "images_affected": []}
    obj = {str(k).strip().lower(): v for k, v in item.items()}
    return {
        "description": _as_text(_first(obj, _DESC_KEYS)) or _as_text(item),
        "location": _as_text(_first(obj, _LOC_KEYS)),
        "images_affected": _image_numbers(_first(obj, _IMAGES_KEYS), num_images),
    }


def _image_numbers(value: Any, num_images: int) -> list[int]:
    numbers: set[int] = set()
    for v in _as_list(value):
        if isinstance(v, bool):
            continue
        numeric = isinstance(v, int | float)
        candidates = [int(v)] if numeric else [int(m) for m in re.findall(r"\d+", str(v))]
        numbers.update(x for x in candidates if 1 <= x <= num_images)
    return sorted(numbers)
