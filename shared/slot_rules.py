"""Whether a slot can run: decided here, once.

Each provider declares its `Capabilities`: the processing types it does and, per type, what
the slot must hold (`needs`: each an "any one of" over the slot's inputs) and which inputs
it reads at all (`uses`). From that one table:

- the pipeline refuses a slot that cannot run (409) and skips a fallback provider that
  could not serve it;
- every provider checks its job before it calls out (a named `missing_*` failure);
- the admin API refuses to enable a slot that cannot run (422, naming the field);
- the operator UI receives the table as data (`as_data`) and renders the same hints for
  unsaved edits, instead of deciding them again in JavaScript.

A background may come from a picture or from words: providers that draw from text (Gemini,
Qwen) need "a reference or a prompt"; a chroma key (Local) or Turbotext's mix_images needs
the picture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.domain import ProcessingType, Slot


class Input(StrEnum):
    REFERENCE = "reference"
    PROMPT = "prompt"


_INPUT_WORDS = {Input.REFERENCE: "a reference image", Input.PROMPT: "a prompt"}


@dataclass(frozen=True)
class Need:
    """The slot must hold any one of `any_of`."""

    any_of: tuple[Input, ...]

    @property
    def code(self) -> str:
        """Stable name of this need when unmet: `missing_reference`, `missing_reference_or_prompt`."""
        return "missing_" + "_or_".join(self.any_of)

    @property
    def words(self) -> str:
        return " or ".join(_INPUT_WORDS[i] for i in self.any_of)

    def met_by(self, held: frozenset[Input]) -> bool:
        return any(i in held for i in self.any_of)


NEEDS_REFERENCE = Need((Input.REFERENCE,))
NEEDS_PROMPT = Need((Input.PROMPT,))
NEEDS_REFERENCE_OR_PROMPT = Need((Input.REFERENCE, Input.PROMPT))


@dataclass(frozen=True)
class TypeRule:
    needs: tuple[Need, ...]
    uses: frozenset[Input]  # what the provider reads for this type (the UI hides the rest)


Capabilities = Mapping[ProcessingType, TypeRule]

# The multi-image edit models (Gemini, Qwen-Image-Edit): guest photo + reference + words.
EDIT_MODEL: Capabilities = {
    ProcessingType.FACE_SWAP: TypeRule((NEEDS_REFERENCE,), frozenset(Input)),
    ProcessingType.BACKGROUND: TypeRule((NEEDS_REFERENCE_OR_PROMPT,), frozenset(Input)),
    ProcessingType.PROMPT: TypeRule((NEEDS_PROMPT,), frozenset(Input)),
}


@dataclass(frozen=True)
class SlotProblem:
    code: str  # "disabled", "no_type", "unsupported_type" or a Need's code
    field: str  # the slot field the operator must change: type, prompt, reference, enabled
    message: str


def held_inputs(*, has_reference: bool, prompt: str) -> frozenset[Input]:
    held = set()
    if has_reference:
        held.add(Input.REFERENCE)
    if prompt.strip():
        held.add(Input.PROMPT)
    return frozenset(held)


def problem(
    capabilities: Capabilities,
    *,
    type: ProcessingType | None,
    has_reference: bool,
    prompt: str,
    label: str,
    where: str,
) -> SlotProblem | None:
    """Why `type` with these inputs cannot run on the provider `label`, or None."""
    if type is None:
        return SlotProblem("no_type", "type", f"{where} has no processing type yet")
    rule = capabilities.get(type)
    if rule is None:
        does = ", ".join(sorted(capabilities)) or "nothing"
        return SlotProblem("unsupported_type", "type", f"{label} does {does}, not {type}")
    held = held_inputs(has_reference=has_reference, prompt=prompt)
    for need in rule.needs:
        if not need.met_by(held):
            return SlotProblem(need.code, str(need.any_of[0]),
                               f"{where} needs {need.words} for {type.replace('_', ' ')}")
    return None


def slot_problem(slot: Slot, capabilities: Capabilities, label: str) -> SlotProblem | None:
    """Why this saved slot cannot process a photo on a provider with `capabilities`."""
    return problem(capabilities, type=slot.type, has_reference=bool(slot.reference_key),
                   prompt=slot.prompt, label=label,
                   where=slot.title)


def as_data(capabilities: Capabilities) -> dict[str, Any]:
    """The table for the UI: {type: {"needs": [{"code", "any_of"}], "uses": [...]}}."""
    return {
        str(type): {
            "needs": [{"code": n.code, "any_of": [str(i) for i in n.any_of]} for n in rule.needs],
            "uses": sorted(str(i) for i in rule.uses),
        }
        for type, rule in capabilities.items()
    }
