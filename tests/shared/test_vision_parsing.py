"""shared.vision: reading JSON out of what a VL model writes, the comparison request, prompts,
and the vision API's image checks (decoding, not names)."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from pydantic import ValidationError

from shared.errors import InvalidInput, PayloadTooLarge, UnsupportedMedia
from shared.vision import (
    ComparisonRequest,
    check_image,
    check_model,
    comparison_prompt,
    decode_base64_image,
    extract_json,
    normalize_comparison,
    parse_comparison,
)

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


# --- the request ---------------------------------------------------------------------------------
PNG_B64 = "aGVsbG8="


def test_comparison_request_defaults_follow_the_seed() -> None:
    req = ComparisonRequest(image_base64_list=[PNG_B64, PNG_B64])
    assert (req.comparison_type, req.output_format, req.max_tokens, req.temperature, req.top_p,
            req.min_pixels, req.max_pixels, req.seed) == (
        "differences", "json", 2048, 0.0, 1.0, 65536, 4194304, None)
    assert req.num_images == 2


@pytest.mark.parametrize(("body", "message"), [
    ({"image_urls": ["http://a/1.png"]}, "Number of images must be between 2 and 4"),
    ({"image_urls": ["http://a/1.png"] * 5}, "Number of images must be between 2 and 4"),
    ({}, "exactly one of image_urls or image_base64_list"),
    ({"image_urls": ["http://a/1"] * 2, "image_base64_list": [PNG_B64] * 2}, "exactly one"),
    ({"image_urls": ["http://a/1"] * 2, "comparison_type": "diff"}, "comparison_type"),
    ({"image_urls": ["http://a/1"] * 2, "temperature": 2.5}, "temperature"),
    ({"image_urls": ["http://a/1"] * 2, "min_pixels": 10_000, "max_pixels": 5_000},
     "min_pixels must not exceed max_pixels"),
    ({"image_urls": ["http://a/1"] * 2, "colour": "red"}, "colour"),
])
def test_comparison_request_is_validated(body: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ComparisonRequest(**body)


def test_prompts_differ_per_type_and_carry_the_format_and_extra_instruction() -> None:
    prompts = {t: comparison_prompt(comparison_type=t, output_format="json", num_images=3,
                                    extra="Focus on furniture")
               for t in ("differences", "changes", "similarities")}
    assert len(set(prompts.values())) == 3
    for prompt in prompts.values():
        assert '"images_affected"' in prompt and "1 to 3" in prompt
        assert "Focus on furniture" in prompt
    assert "sequence" in prompts["changes"]
    assert "in common" in prompts["similarities"]
    text = comparison_prompt(comparison_type="differences", output_format="text", num_images=2)
    assert "JSON" not in text and "plain prose" in text


def test_check_model() -> None:
    assert check_model(None) == "qwen3_vl_2b"
    assert check_model("  ", default="got_ocr") == "got_ocr"
    assert check_model("qwen_vl_7b") == "qwen_vl_7b"
    with pytest.raises(InvalidInput, match="unknown model 'gpt-9'"):
        check_model("gpt-9")
    with pytest.raises(InvalidInput, match="dots_ocr is unavailable: needs trust_remote_code"):
        check_model("dots_ocr")


# --- images: decided by decoding -------------------------------------------------------------------
def _image(fmt: str, size: tuple[int, int] = (24, 16)) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", size, (10, 120, 200))
    (img.convert("P") if fmt == "GIF" else img).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "TIFF", "WEBP"])
def test_accepted_formats_are_decoded(fmt: str) -> None:
    info = check_image(_image(fmt))
    assert (info.format, info.width, info.height) == (fmt, 24, 16)


def test_refused_images() -> None:
    with pytest.raises(UnsupportedMedia, match="GIF"):
        check_image(_image("GIF"))
    with pytest.raises(UnsupportedMedia, match="not an image"):
        check_image(b"%PDF-1.7 not an image")
    with pytest.raises(UnsupportedMedia, match="empty"):
        check_image(b"")
    png = _image("PNG", (64, 64))
    with pytest.raises(UnsupportedMedia, match="damaged or truncated"):
        check_image(png[: len(png) // 2])
    with pytest.raises(PayloadTooLarge, match="larger than"):
        check_image(png, max_bytes=100)
    with pytest.raises(PayloadTooLarge, match="megapixels"):
        check_image(png, max_pixels=100)
    # a PNG named .gif is still a PNG: names do not matter, bytes do
    assert check_image(png, label="photo.gif").format == "PNG"


def test_base64_decoding() -> None:
    png = _image("PNG")
    plain = base64.b64encode(png).decode()
    assert decode_base64_image(plain, label="image 1") == png
    assert decode_base64_image("data:image/png;base64," + plain, label="image 1") == png
    wrapped = "\n".join(plain[i:i + 60] for i in range(0, len(plain), 60))
    assert decode_base64_image(wrapped, label="image 1") == png
    assert decode_base64_image(plain.rstrip("="), label="image 1") == png
    with pytest.raises(InvalidInput, match="image 2 is not valid base64"):
        decode_base64_image("not base64!!", label="image 2")
    with pytest.raises(PayloadTooLarge, match="image 1 is larger than"):
        decode_base64_image("A" * 2000, label="image 1", max_bytes=1000)
