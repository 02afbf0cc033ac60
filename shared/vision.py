"""The vision API's comparison request (seed 000) and model choice, no web framework.

Its neighbours: the image checks are in shared/images.py (`check_image`,
`decode_base64_image`), the prompts in shared/vision_prompts.py, reading the model's answer
in shared/vision_answers.py.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gpu_jobs.vision_models import DEFAULT_VISION_MODEL, VISION_MODELS
from shared.errors import InvalidInput

MAX_BATCH_FILES = 10  # seed 001
MIN_COMPARISON_IMAGES = 2
MAX_COMPARISON_IMAGES = 4


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
