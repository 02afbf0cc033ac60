"""The vision API's model ids (seed 001) → model family and checkpoint. No torch imports here:
the web tier reads this registry to list models; `build_runner` imports the family module.
This is the one table of checkpoints: the runner modules never import the registry (it hands
them `source` and `revision`), so imports go one way only.

Weights: a model id is served from `<model_dir>/<model_id>` when that folder exists
(`BOOTHAI_VISION_MODEL_DIR`, or `model_dir=` / `sources=` passed in), else from its hub id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gpu_jobs.errors import InvalidRequest, ModelUnavailable

MODEL_DIR_ENV = "BOOTHAI_VISION_MODEL_DIR"
DEFAULT_VISION_MODEL = "qwen3_vl_2b"


@dataclass(frozen=True)
class VisionModelSpec:
    id: str
    name: str
    params: str
    family: str  # "qwen3_vl" | "qwen2_vl" | "got_ocr" | "" when unavailable
    checkpoint: str
    revision: str | None = None
    unavailable: str | None = None  # the reason, when this build cannot serve the model


VISION_MODELS: dict[str, VisionModelSpec] = {
    spec.id: spec
    for spec in [
        VisionModelSpec("got_ocr", "GOT-OCR 2.0", "580M", "got_ocr", "stepfun-ai/GOT-OCR-2.0-hf"),
        VisionModelSpec("qwen_vl_2b", "Qwen2-VL 2B", "2B", "qwen2_vl", "Qwen/Qwen2-VL-2B-Instruct"),
        VisionModelSpec("qwen_vl_7b", "Qwen2-VL 7B", "7B", "qwen2_vl", "Qwen/Qwen2-VL-7B-Instruct"),
        VisionModelSpec("qwen3_vl_2b", "Qwen3-VL 2B", "2B", "qwen3_vl", "Qwen/Qwen3-VL-2B-Instruct"),
        VisionModelSpec("qwen3_vl_4b", "Qwen3-VL 4B", "4B", "qwen3_vl", "Qwen/Qwen3-VL-4B-Instruct"),
        VisionModelSpec("qwen3_vl_8b", "Qwen3-VL 8B", "8B", "qwen3_vl", "Qwen/Qwen3-VL-8B-Instruct"),
        VisionModelSpec(
            "dots_ocr",
            "dots.ocr",
            "1.7B",
            "",
            "rednote-hilab/dots.ocr",
            unavailable="needs trust_remote_code, not supported natively by transformers",
        ),
    ]
}


class VisionRunner(Protocol):
    model_id: str
    source: str

    @property
    def loaded(self) -> bool: ...

    def load(self) -> None: ...

    def unload(self) -> None: ...

    def warm_up(self) -> None: ...

    def memory_bytes(self) -> int: ...

    def chat(
        self,
        images: list[bytes],
        prompt: str,
        max_tokens: int = 512,
        temperature: float = 0.7,
        top_p: float = 0.9,
        seed: int | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> str: ...

    def ocr(self, image: bytes, language: str | None = None, max_tokens: int = 2048,
            max_pixels: int | None = None) -> str: ...


def get_spec(model_id: str) -> VisionModelSpec:
    """The spec of a servable model. InvalidRequest if unknown, ModelUnavailable if listed
    but not servable."""
    spec = VISION_MODELS.get(model_id)
    if spec is None:
        raise InvalidRequest(f"unknown vision model {model_id!r}")
    if spec.unavailable:
        raise ModelUnavailable(f"{model_id} is unavailable: {spec.unavailable}")
    return spec


def resolve_source(
    model_id: str,
    *,
    model_dir: str | Path | None = None,
    sources: dict[str, str] | None = None,
) -> str:
    """Where `model_id`'s weights come from: an explicit mapping, a subfolder of the model
    dir, or the hub checkpoint."""
    spec = get_spec(model_id)
    if sources and model_id in sources:
        return sources[model_id]
    folder = model_dir if model_dir is not None else os.environ.get(MODEL_DIR_ENV, "").strip()
    if folder:
        candidate = Path(folder).expanduser() / model_id
        if candidate.is_dir():
            return str(candidate)
    return spec.checkpoint


def build_runner(
    model_id: str,
    *,
    model_dir: str | Path | None = None,
    sources: dict[str, str] | None = None,
    device: str | None = None,
) -> VisionRunner:
    """A (not yet loaded) runner for `model_id`. Imports torch."""
    spec = get_spec(model_id)
    source = resolve_source(model_id, model_dir=model_dir, sources=sources)
    revision = spec.revision if source == spec.checkpoint else None
    if spec.family == "qwen3_vl":
        from gpu_jobs.qwen3_vl import Qwen3VLRunner as runner_cls
    elif spec.family == "qwen2_vl":
        from gpu_jobs.qwen2_vl import Qwen2VLRunner as runner_cls
    elif spec.family == "got_ocr":
        from gpu_jobs.got_ocr import GotOcrRunner as runner_cls
    else:  # pragma: no cover - every servable spec names a family
        raise ModelUnavailable(f"{model_id} has no runner")
    return runner_cls(model_id=model_id, source=source, device=device, revision=revision)
