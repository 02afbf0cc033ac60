"""The vision API's comparison prompts: one task text per comparison type, then the answer
format (a JSON object in the seed's shape, or plain prose)."""

from __future__ import annotations

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
