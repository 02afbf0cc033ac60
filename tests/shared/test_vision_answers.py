"""shared.vision_answers: reading JSON out of what a VL model writes (fenced or not, chatty,
single-quoted, trailing commas, cut off by max_tokens), and shaping it into the seed's result."""

from __future__ import annotations

import pytest

from shared.vision_answers import extract_json, normalize_comparison, parse_comparison

EXPECTED = {
    "summary": "A cup moved.",
    "differences": [{"description": "The cup moved", "location": "table, left", "images_affected": [1, 2]}],
    "common_elements": ["table", "window"],
}
STRICT = (
    '{"summary": "A cup moved.", "differences": [{"description": "The cup moved", '
    '"location": "table, left", "images_affected": [1, 2]}], "common_elements": ["table", "window"]}'
)

REALISTIC = {
    "plain": STRICT,
    "fenced_json": f"```json\n{STRICT}\n```",
    "fenced_no_language": f"```\n{STRICT}\n```",
    "chatter_around_fence": f"Sure! Here is the comparison you asked for:\n\n```json\n{STRICT}\n```\n\n"
                            "Let me know if you need anything else.",
    "chatter_no_fence": f"Here is the JSON: {STRICT} I hope this helps!",
    "think_block": "<think>The user wants {JSON}. Let me look at image 1...</think>\n" + STRICT,
    "single_quotes_trailing_commas": (
        "{'summary': 'A cup moved.', 'differences': [{'description': 'The cup moved', "
        "'location': 'table, left', 'images_affected': [1, 2,],},], "
        "'common_elements': ['table', 'window',],}"
    ),
    "python_literals_and_comments": (
        "```json\n{\n  // what changed\n  \"summary\": \"A cup moved.\",\n  \"differences\": [\n"
        "    {\"description\": \"The cup moved\", \"location\": \"table, left\", "
        "\"images_affected\": [\"image 1\", \"Image 2\"], \"certain\": True}\n  ],\n"
        "  \"common_elements\": [\"table\", \"window\"], \"notes\": None\n}\n```"
    ),
    "unquoted_keys": (
        '{summary: "A cup moved.", differences: [{description: "The cup moved", '
        'location: "table, left", images_affected: [1, 2]}], common_elements: ["table", "window"]}'
    ),
    "two_fences_prose_first": (
        "```text\nnot this one\n```\nand the answer:\n```json\n" + STRICT + "\n```"
    ),
    # The next four are where json_repair alone goes wrong: it returns the repeated or the
    # second object as a list with the first, and reads prose braces/brackets as values.
    "repeated_and_cut_off": STRICT + "\n" + STRICT[:100],  # a small model looping
    "second_object_after": STRICT + '\n\nFor another pair it could be {"summary": "other"}',
    "braces_in_prose_first": "I compared {both} images: " + STRICT,
    "brackets_in_prose_first": "Here is the result [as requested]: " + STRICT,
}


@pytest.mark.parametrize("name", sorted(REALISTIC))
def test_realistic_model_outputs_parse_to_the_seed_shape(name: str) -> None:
    parsed = parse_comparison(REALISTIC[name], num_images=2)
    assert parsed.error is None
    assert parsed.result == EXPECTED


def test_answer_cut_off_by_max_tokens_keeps_what_was_complete() -> None:
    text = ('```json\n{"summary": "Three frames of a street.", "differences": ['
            '{"description": "A car enters", "location": "left", "images_affected": [2, 3]}, '
            '{"description": "A dog appears", "locat')
    parsed = parse_comparison(text, num_images=3)
    assert parsed.result is not None
    assert parsed.result["summary"] == "Three frames of a street."
    assert parsed.result["differences"][0] == {
        "description": "A car enters", "location": "left", "images_affected": [2, 3]}


def test_aliases_strings_and_out_of_range_images_are_normalized() -> None:
    value = {"Summary": 5, "changes": ["the sky darkens", {"change": "lamp on", "where": "right",
                                                           "images": [0, 2, 7, "3"]}],
             "similarities": [{"name": "street"}, "", "trees"]}
    assert normalize_comparison(value, num_images=3) == {
        "summary": "5",
        "differences": [
            {"description": "the sky darkens", "location": "", "images_affected": []},
            {"description": "lamp on", "location": "right", "images_affected": [2, 3]},
        ],
        "common_elements": ["street", "trees"],
    }
    # a bare list of difference objects is accepted too
    assert normalize_comparison([{"description": "x"}], num_images=2)["differences"] == [
        {"description": "x", "location": "", "images_affected": []}]


@pytest.mark.parametrize("text", [
    "",
    "The two images show a red and a green square.",
    "���*\x19\x0ff���x8��x8��\r}�\n",  # what a tiny random model writes
    "[1] see above",
    '{"foo": 1, "bar": [2]}',  # JSON, but none of the expected keys
    "```json\n```",
])
def test_unreadable_answers_report_why(text: str) -> None:
    parsed = parse_comparison(text, num_images=2)
    assert parsed.result is None
    assert parsed.error and "JSON" in parsed.error


def test_extract_json_prefers_the_fenced_object_and_handles_escapes() -> None:
    text = 'Before {broken: \n```json\n{"a": "quote \\" and \\u00e9", "b": [1.5e2, -3]}\n```'
    assert extract_json(text) == {"a": 'quote " and é', "b": [150.0, -3]}
    assert extract_json("no json at all") is None


def test_a_bare_array_answer_is_read_as_the_differences() -> None:
    text = ('[{"description": "The cup moved", "location": "table, left", "images_affected": [1, 2]},'
            ' {"description": "A lamp is on", "images_affected": [2]}]')
    parsed = parse_comparison(text, num_images=2)
    assert parsed.result is not None
    assert parsed.result["differences"] == [
        EXPECTED["differences"][0],
        {"description": "A lamp is on", "location": "", "images_affected": [2]}]


# Hostile or broken output must not hang or crash the API. json_repair alone raises on deep
# nesting and takes time that grows with depth × length (11 s for 16 kB of `{"`, 160 s for
# 1 MB of `{`); timings are not asserted here, only that a result comes back.
NASTY = {
    "brackets_1MB": "[" * 1_000_000,
    "open_objects_200k": '{"a":' * 200_000,
    "prose_100kB": ("The two images show a red and a green square. " * 2200)[:100_000],
    "open_braces_1MB": "{" * 1_000_000,
    "brace_quote_100k": '{"' * 100_000,
    "bracket_quote_100k": '["' * 100_000,
}


@pytest.mark.parametrize("name", sorted(NASTY))
def test_nasty_input_gives_none_or_a_value_and_never_raises(name: str) -> None:
    value = extract_json(NASTY[name])
    assert value is None or isinstance(value, dict | list)
    parsed = parse_comparison(NASTY[name], num_images=2)
    assert (parsed.result is None) == (parsed.error is not None)
