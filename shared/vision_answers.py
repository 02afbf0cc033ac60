"""Reading a vision model's answer: drop its thinking, find the JSON in it, and shape that
into the comparison result the API promises (seed 000).

The JSON repair itself (single quotes, trailing commas, comments, Python literals, unquoted
keys, an answer cut off by max_tokens) is the `json-repair` package's. This module only
decides which text it is given, for what the package does not do on its own:

- `<think>…</think>` blocks are dropped (a reasoning model's braces are not the answer);
- a ```json (or unlabelled) fence wins over prose and over other fences;
- only the first value is read, from an opener to where it closes: on the whole text the
  package would read on and return a repeated answer or a second object as a list;
- a `{` must read as an object (the package reads prose like `{both}` as a list), else the
  next `{` is tried;
- what it is given is bounded, because its time grows with length × nesting depth (it
  repairs ~100 kB of unquoted prose a second at depth 1; 16 kB of `{"` took it 11 s)
  and it raises on deep nesting: a value is cut at _MAX_DEPTH and _MAX_CHARS, and one answer
  spends at most _REPAIR_BUDGET characters × depth on repairs. Strict JSON is read by
  `json.loads` first and spends nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import islice
from typing import Any

import json_repair

_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.S | re.I)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n?(.*?)(?:```|\Z)", re.S)
_JSON_FENCES = ("json", "json5", "")
_SIGNIFICANT = re.compile(r"""[{}\[\]"'\\]""")
_MAX_STARTS = 8  # fences read per answer, openers tried per candidate text
_MAX_DEPTH = 32  # the comparison object nests 4 deep
_MAX_CHARS = 32_000  # per value: about what 8192 tokens (the most one may ask for) of JSON take
# Characters × depth repaired per answer: a cut-off 32 kB comparison (depth 4) fits and takes
# json_repair ~10-80 ms; the slowest hostile input found that fits takes ~0.6 s.
_REPAIR_BUDGET = 4 * _MAX_CHARS


def strip_thinking(text: str) -> str:
    """Drop `<think>…</think>` blocks (reasoning models) and surrounding whitespace."""
    return _THINK.sub("", text or "").strip()


def extract_json(text: str) -> Any | None:
    """The first JSON object (or array) found in a model's answer, or None. Never raises.

    Looks in ```json fences first, then other fences, then the whole text; in each, at the
    first few `{` (or `[` when the text is an array or has no `{`), each read leniently
    (json_repair) up to where it closes, or as cut off where it does not."""
    text = strip_thinking(text)
    budget = _REPAIR_BUDGET
    for candidate in _candidates(text):
        for start in _starts(candidate):
            span, depth = _first_value(candidate, start)
            try:
                value = json.loads(span)
            except (ValueError, RecursionError):
                cost = len(span) * max(depth, 1)
                if cost > budget:
                    continue
                budget -= cost
                value = _repair(span)
            if isinstance(value, dict if candidate[start] == "{" else list):
                return value
    return None


def _candidates(text: str) -> list[str]:
    fences = [(m[1].lower(), m[2]) for m in islice(_FENCE.finditer(text), _MAX_STARTS)]
    found = [body for lang, body in fences if lang in _JSON_FENCES]
    found += [body for lang, body in fences if lang not in _JSON_FENCES]
    found.append(text)
    return list(dict.fromkeys(c.strip() for c in found if c.strip()))


def _starts(text: str) -> list[int]:
    braces = [m.start() for m in islice(re.finditer(r"\{", text), _MAX_STARTS)]
    if text.startswith("["):  # the whole answer is an array (of differences, say)
        return [0, *braces]
    return braces or [m.start() for m in islice(re.finditer(r"\[", text), _MAX_STARTS)]


def _first_value(text: str, start: int) -> tuple[str, int]:
    """`text[start:]` up to the bracket that closes the one at `start` (quote-aware), or up
    to where it nests deeper than _MAX_DEPTH or grows past _MAX_CHARS (json_repair then
    closes what is open there, as for an answer cut off by max_tokens); and its depth."""
    end = min(len(text), start + _MAX_CHARS)
    depth, deepest, quote, escaped = 0, 0, "", -1
    for match in _SIGNIFICANT.finditer(text, start, end):
        i, c = match.start(), match.group()
        if i == escaped:
            continue
        if quote:
            if c == "\\":
                escaped = i + 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "{[":
            depth += 1
            if depth > _MAX_DEPTH:
                return text[start:i], deepest
            deepest = max(deepest, depth)
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return text[start:i + 1], deepest
    return text[start:end], deepest


def _repair(text: str) -> Any:
    try:
        return json_repair.loads(text, skip_json_loads=True)
    except Exception:  # heuristics on untrusted text: any failure means "not readable"
        return None


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
