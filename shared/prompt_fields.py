"""Prompt fields: a slot's prompt filled from what the booth sent with the photo.

A prompt may name a field in braces, with a default after a bar for when the booth did not
send it: `A portrait of {name|our guest} in the {team|blue} team's colours`. The values come
from the booth's form (DSLR Remote Pro sends `name`, `user_id`, `id`, …) and from the upload
link's query string (`/u/{token}?team=red`: survey answers a booth adds); a form field wins
over a query value of the same name. Try it sends sample values the same way.

Only the names the slot whitelists (`Slot.prompt_fields`) are filled; saving a prompt that
names any other field is refused (422 on "prompt", naming it). Braces that are not a
placeholder (`{ }`, `{a b}`, JSON) stay as written. A value is made one line and cut to
MAX_VALUE_CHARS, and the prompt is filled in one pass, so a value that itself contains
`{x}` stays literal: a guest's name cannot pull another field in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from shared.domain import one_line
from shared.errors import InvalidInput

MAX_FIELDS = 10
MAX_VALUE_CHARS = 60
MAX_DEFAULT_CHARS = 60
FIELD_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,31}"
_FIELD_NAME = re.compile(rf"^{FIELD_NAME}$")
# `{name}` or `{name|a default}`; a default holds no braces and no line break.
PLACEHOLDER = re.compile(rf"\{{({FIELD_NAME})(?:\|([^{{}}\r\n]{{0,{MAX_DEFAULT_CHARS}}}))?\}}")
# Never a prompt field: the booth's password (and what carries the link's secret).
RESERVED = frozenset({"password", "token", "slot_token", "upload_token", "fileToUpload"})


def check_fields(names: Iterable[str]) -> list[str]:
    """The whitelist as saved: each a safe identifier, not a secret's name, at most
    MAX_FIELDS, duplicates dropped (order kept). InvalidInput on "prompt_fields"."""
    out: list[str] = []
    for name in names:
        if not _FIELD_NAME.match(name):
            raise InvalidInput(f"prompt field {name!r} is not a name (letters, digits, _)",
                               field="prompt_fields", code="bad_prompt_field")
        if name.lower() in {r.lower() for r in RESERVED}:
            raise InvalidInput(f"{name!r} cannot be a prompt field", field="prompt_fields",
                               code="bad_prompt_field")
        if name not in out:
            out.append(name)
    if len(out) > MAX_FIELDS:
        raise InvalidInput(f"at most {MAX_FIELDS} prompt fields", field="prompt_fields",
                           code="bad_prompt_field")
    return out


def placeholders(prompt: str) -> list[str]:
    """The field names the prompt's placeholders use, in order, once each."""
    return list(dict.fromkeys(m.group(1) for m in PLACEHOLDER.finditer(prompt)))


def check_prompt(prompt: str, allowed: Iterable[str]) -> None:
    """InvalidInput on "prompt" naming every placeholder the whitelist does not hold."""
    allowed = set(allowed)
    unknown = [name for name in placeholders(prompt) if name not in allowed]
    if unknown:
        names = ", ".join("{" + n + "}" for n in unknown)
        raise InvalidInput(f"the prompt uses {names}, not in the slot's prompt fields: add "
                           "it to the fields or remove it", field="prompt",
                           code="prompt_field_not_allowed")


def values(form: Mapping[str, str] | None, query: Mapping[str, str] | None) -> dict[str, str]:
    """The values a booth request offers: the query string's, then the form's over them.
    Reserved names (the password) are dropped whatever the whitelist says."""
    out: dict[str, str] = {}
    for source in (query or {}, form or {}):
        for name, value in source.items():
            if name.lower() not in {r.lower() for r in RESERVED}:
                out[name] = value
    return out


def fill(prompt: str, allowed: Iterable[str], given: Mapping[str, str]) -> str:
    """The prompt with each whitelisted placeholder replaced, in one pass: the value sent
    (one line, at most MAX_VALUE_CHARS), else the placeholder's default, else nothing.
    Placeholders of other names are left as written (a slot saved before its whitelist)."""
    allowed = set(allowed)
    if not allowed:
        return prompt

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name not in allowed:
            return match.group(0)
        value = one_line(given.get(name) or "", MAX_VALUE_CHARS)
        return value or one_line(default or "", MAX_DEFAULT_CHARS)

    return PLACEHOLDER.sub(replace, prompt)
