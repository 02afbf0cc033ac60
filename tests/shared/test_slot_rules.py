"""shared/slot_rules.py: whether a slot can run, decided once from a provider's capabilities."""

from __future__ import annotations

import pytest

from shared.domain import ProcessingType, ProviderName, Slot
from shared.providers.local import LocalProvider
from shared.providers.turbotext import TurbotextProvider
from shared.slot_rules import EDIT_MODEL, as_data, problem, slot_problem

LOCAL = LocalProvider.capabilities
TURBOTEXT = TurbotextProvider.capabilities


def _problem(capabilities, type, *, reference=False, prompt=""):
    found = problem(capabilities, type=type, has_reference=reference, prompt=prompt,
                    label="Test", where="slot 1")
    return found and (found.code, found.field)


@pytest.mark.parametrize(("capabilities", "type", "reference", "prompt", "expected"), [
    # The edit models draw a background from words alone, a chroma key cannot.
    (EDIT_MODEL, ProcessingType.BACKGROUND, False, "a snowy forest", None),
    (EDIT_MODEL, ProcessingType.BACKGROUND, True, "", None),
    (EDIT_MODEL, ProcessingType.BACKGROUND, False, "  ",
     ("missing_reference_or_prompt", "reference")),
    (LOCAL, ProcessingType.BACKGROUND, False, "a snowy forest", ("missing_reference", "reference")),
    (LOCAL, ProcessingType.BACKGROUND, True, "", None),
    # Turbotext's mix_images needs the picture; face swap needs the scene; prompt the words.
    (TURBOTEXT, ProcessingType.BACKGROUND, False, "beach", ("missing_reference", "reference")),
    (TURBOTEXT, ProcessingType.FACE_SWAP, False, "x", ("missing_reference", "reference")),
    (EDIT_MODEL, ProcessingType.FACE_SWAP, False, "anything", ("missing_reference", "reference")),
    (EDIT_MODEL, ProcessingType.PROMPT, True, "  ", ("missing_prompt", "prompt")),
    (EDIT_MODEL, ProcessingType.PROMPT, False, "hat", None),
    (LOCAL, ProcessingType.PROMPT, True, "hat", ("unsupported_type", "type")),
    (LOCAL, None, True, "", ("no_type", "type")),
])
def test_what_a_slot_needs(capabilities, type, reference, prompt, expected):
    assert _problem(capabilities, type, reference=reference, prompt=prompt) == expected


def test_a_saved_slot_reads_its_reference_and_prompt():
    slot = Slot(tenant="t", provider=ProviderName.GEMINI, index=3, upload_token="-",
                type=ProcessingType.BACKGROUND, prompt="")
    found = slot_problem(slot, EDIT_MODEL, "Gemini")
    assert found is not None and found.message == (
        "slot 3 on the gemini tab needs a reference image or a prompt for background")
    slot.prompt = "a beach at dusk"
    assert slot_problem(slot, EDIT_MODEL, "Gemini") is None


def test_the_ui_gets_the_table_as_data():
    data = as_data(LOCAL)
    assert data == {"background": {"needs": [{"code": "missing_reference", "any_of": ["reference"]}],
                                   "uses": ["reference"]}}
    edit = as_data(EDIT_MODEL)["background"]["needs"]
    assert edit == [{"code": "missing_reference_or_prompt", "any_of": ["reference", "prompt"]}]
    # Turbotext's face swap reads no prompt: the UI hides the box.
    assert as_data(TURBOTEXT)["face_swap"]["uses"] == ["reference"]
