"""The GPU models every backend lists: the two generative models and the vision registry.
Pure Python: reads gpu_jobs.vision_models (no torch)."""

from __future__ import annotations

from typing import Any

from gpu_jobs.vision_models import VISION_MODELS
from shared.gpu.port import JANUS, QWEN_IMAGE_EDIT

GENERATIVE_MODELS: dict[str, dict[str, str]] = {
    QWEN_IMAGE_EDIT: {
        "id": QWEN_IMAGE_EDIT,
        "name": "Qwen-Image-Edit",
        "params": "20B",
        "kind": "image_edit",
    },
    JANUS: {"id": JANUS, "name": "Janus-Pro", "params": "7B", "kind": "text_to_image"},
}


def known_ids() -> set[str]:
    return set(GENERATIVE_MODELS) | set(VISION_MODELS)


def model_listing(*, loaded: list[str]) -> dict[str, Any]:
    available: list[dict[str, str]] = list(GENERATIVE_MODELS.values())
    unavailable: list[dict[str, str]] = []
    for spec in VISION_MODELS.values():
        if spec.unavailable:
            unavailable.append({**spec.public(), "reason": spec.unavailable})
        else:
            available.append({**spec.public(), "kind": "vision"})
    return {"available": available, "loaded": sorted(loaded), "unavailable": unavailable}
