"""One request → one runner call → one answer. The in-process backend and modal_app.py both
serve requests through these functions, so the two paths cannot drift apart.

Each function first drops a request whose deadline has passed (`DeadlinePassed`): it never
reaches the runner. In a Modal container that is the moment the request leaves Modal's
queue; in-process, the moment it holds the GPU lock.

Pure Python: the runners are passed in (their modules import torch; this one does not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpu_jobs.errors import DeadlinePassed, InvalidRequest
from gpu_jobs.requests import (
    EditAnswer,
    EditRequest,
    ImageAnswer,
    JanusRequest,
    OcrRequest,
    TextAnswer,
    VisionChatRequest,
    expired,
)
from gpu_jobs.vision_models import VisionRunner

if TYPE_CHECKING:  # the runner modules import torch
    from gpu_jobs.image_edit import QwenImageEditor
    from gpu_jobs.janus import JanusGenerator


def edit(runner: QwenImageEditor, request: EditRequest) -> EditAnswer:
    """`per_input` picks `edit_each` (each image on its own) or `edit` (one joint edit)."""
    drop_if_expired(request)
    call = runner.edit_each if request.per_input else runner.edit
    images = call(
        list(request.images),
        request.prompt,
        negative_prompt=request.negative_prompt,
        n=request.n,
        size=request.size,
        steps=request.steps,
        true_cfg_scale=request.true_cfg_scale,
        seed=request.seed,
        max_sequence_length=request.max_sequence_length,
    )
    return EditAnswer(images=images)


def janus(runner: JanusGenerator, request: JanusRequest) -> ImageAnswer:
    drop_if_expired(request)
    image = runner.generate_from_photo(request.photo, request.prompt, request.size, seed=request.seed)
    return ImageAnswer(image=image)


def vision_chat(runner: VisionRunner, request: VisionChatRequest) -> TextAnswer:
    drop_if_expired(request)
    _check_model(runner, request.model_id)
    text = runner.chat(
        list(request.images),
        request.prompt,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        seed=request.seed,
        min_pixels=request.min_pixels,
        max_pixels=request.max_pixels,
    )
    return TextAnswer(text=text)


def vision_ocr(runner: VisionRunner, request: OcrRequest) -> TextAnswer:
    drop_if_expired(request)
    _check_model(runner, request.model_id)
    text = runner.ocr(request.image, request.language, max_tokens=request.max_tokens,
                      max_pixels=request.max_pixels)
    return TextAnswer(text=text)


def _check_model(runner: VisionRunner, model_id: str) -> None:
    # A Modal VisionModel container serves one model id; a request for another is a bug.
    if runner.model_id != model_id:
        raise InvalidRequest(f"this runner serves {runner.model_id!r}, not {model_id!r}")


def drop_if_expired(request: object) -> None:
    """DeadlinePassed when nobody waits for `request` any more."""
    if expired(request):
        raise DeadlinePassed("the request's deadline passed before it reached the GPU: dropped")
