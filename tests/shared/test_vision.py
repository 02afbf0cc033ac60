"""shared.usecases.vision: the comparison request (2-4 images, exactly one way of sending them) and the
choice of model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.errors import InvalidInput
from shared.usecases.vision import ComparisonRequest, check_model

# --- the request ---------------------------------------------------------------------------------
PNG_B64 = "aGVsbG8="


def test_comparison_request_defaults_follow_the_seed() -> None:
    req = ComparisonRequest(image_base64_list=[PNG_B64, PNG_B64])
    assert (req.comparison_type, req.output_format, req.max_tokens, req.temperature, req.top_p,
            req.min_pixels, req.max_pixels, req.seed) == (
        "differences", "json", 2048, 0.0, 1.0, 65536, 4194304, None)


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



def test_check_model() -> None:
    assert check_model(None) == "qwen3_vl_2b"
    assert check_model("  ", default="got_ocr") == "got_ocr"
    assert check_model("qwen_vl_7b") == "qwen_vl_7b"
    with pytest.raises(InvalidInput, match="unknown model 'gpt-9'"):
        check_model("gpt-9")
    with pytest.raises(InvalidInput, match="dots_ocr is unavailable: needs trust_remote_code"):
        check_model("dots_ocr")
