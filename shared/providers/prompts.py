"""Prompt templates per processing type, shared by the multi-image edit models (Gemini, and
Qwen-Image-Edit through the GPU backend).

Every request is laid out the same way: the guest photo first, the slot's reference image
second, the text last (Google's advice: text after the images it talks about). The
templates name the images by position ("the first image", "the second image") because
that is all the model sees, and each one says what must stay untouched: a booth guest
must recognise themselves, so identity, expression and pose are kept unless the type is
precisely about changing them.

The operator's slot prompt is combined in, never used raw: for face swap and background
it refines the instruction, for a prompt slot it *is* the instruction.
"""

from __future__ import annotations

from shared.domain import ProcessingType

# Slot prompts come from an operator's text box; a runaway paste should not fill the request.
MAX_SLOT_PROMPT_CHARS = 2000

_KEEP_IDENTITY = (
    "Keep the person's identity exactly: the same face, facial features, skin tone, "
    "expression, age and hairstyle, so that they recognise themselves."
)

FACE_SWAP = (
    "The first image is a photo of a guest. The second image is a reference scene with a "
    "person in it. Produce the reference scene with the guest's face in place of the face of "
    "the person in the scene. {keep} Keep everything else from the second image unchanged: "
    "body, pose, clothing, background, lighting and framing; match the scene's lighting and "
    "colour on the face so it blends in naturally. Output one photorealistic image."
)

BACKGROUND_WITH_REFERENCE = (
    "The first image is a photo of one or more people. The second image is a new background. "
    "Replace the background of the first image with the background from the second image. "
    "Keep the people exactly as they are: pose, clothing, hands and position in the frame. "
    "{keep} Match the lighting and perspective of the people to the new background and keep "
    "the edges around hair clean. Output one photorealistic image with the framing of the "
    "first image."
)

BACKGROUND_FROM_TEXT = (
    "The image is a photo of one or more people. Replace its background as described below. "
    "Keep the people exactly as they are: pose, clothing, hands and position in the frame. "
    "{keep} Match the lighting and perspective of the people to the new background. Output one "
    "photorealistic image with the same framing."
)

PROMPT_EDIT = (
    "Edit the first image as instructed below. Change only what the instruction asks for. "
    "{keep}{reference} Output one image with the framing of the first image."
)

_PROMPT_REFERENCE = " Use the second image as the visual reference the instruction refers to."


def build_prompt(type: ProcessingType, slot_prompt: str, *, has_reference: bool) -> str:
    """The text part of the request. The slot rules (shared/slot_rules.py) have already
    refused a slot without what its type needs; a background without a reference is then
    drawn from the slot prompt."""
    extra = slot_prompt.strip()[:MAX_SLOT_PROMPT_CHARS]

    if type is ProcessingType.FACE_SWAP:
        text = FACE_SWAP.format(keep=_KEEP_IDENTITY)
        return _with_notes(text, extra)
    if type is ProcessingType.BACKGROUND:
        if has_reference:
            return _with_notes(BACKGROUND_WITH_REFERENCE.format(keep=_KEEP_IDENTITY), extra)
        return f"{BACKGROUND_FROM_TEXT.format(keep=_KEEP_IDENTITY)}\n\nNew background: {extra}"
    reference = _PROMPT_REFERENCE if has_reference else ""
    text = PROMPT_EDIT.format(keep=_KEEP_IDENTITY, reference=reference)
    return f"{text}\n\nInstruction: {extra}"


def _with_notes(text: str, extra: str) -> str:
    # For face swap and background the operator's words refine the task; the template
    # still says what must be kept, so a vague note cannot undo it.
    return f"{text}\n\nAdditional notes from the operator: {extra}" if extra else text
