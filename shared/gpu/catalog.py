"""The GPU models every backend lists: the two generative models and the vision registry.
Pure Python: reads gpu_jobs.vision_models (no torch)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from gpu_jobs.vision_models import VISION_MODELS, VisionModelSpec
from shared.errors import InvalidInput, ModelNotReady
from shared.gpu.port import JANUS, QWEN_IMAGE_EDIT, ModelInfo, ModelListing

GENERATIVE_MODELS: dict[str, ModelInfo] = {
    QWEN_IMAGE_EDIT: ModelInfo(QWEN_IMAGE_EDIT, "Qwen-Image-Edit", "20B", kind="image_edit"),
    JANUS: ModelInfo(JANUS, "Janus-Pro", "7B", kind="text_to_image"),
}


def known_ids() -> set[str]:
    return set(GENERATIVE_MODELS) | set(VISION_MODELS)


def _vision_info(spec: VisionModelSpec) -> ModelInfo:
    return ModelInfo(spec.id, spec.name, spec.params, kind="vision", reason=spec.unavailable)


def model_listing(*, loaded: Iterable[str]) -> ModelListing:
    """Everything the app can serve; the registry's unservable models with their reasons."""
    vision = [_vision_info(spec) for spec in VISION_MODELS.values()]
    return ModelListing(
        available=[*GENERATIVE_MODELS.values(), *(m for m in vision if m.reason is None)],
        loaded=sorted(loaded),
        unavailable=[m for m in vision if m.reason is not None],
    )


def nothing_servable(reason: str) -> ModelListing:
    """Every model unavailable: the servable ones with `reason`, the rest with their own."""
    listing = model_listing(loaded=())
    moved = [dataclasses.replace(m, reason=reason) for m in listing.available]
    return ModelListing(available=(), loaded=(), unavailable=[*moved, *listing.unavailable])


def check_vision_model(model_id: str) -> None:
    """InvalidInput(field="model") for an unknown id, ModelNotReady for an unservable one."""
    spec = VISION_MODELS.get(model_id)
    if spec is None:
        raise InvalidInput(f"unknown vision model {model_id!r}", field="model")
    if spec.unavailable:
        raise ModelNotReady(f"{model_id} is unavailable: {spec.unavailable}")
