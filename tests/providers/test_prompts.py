"""Prompt templates: layout, identity clause, and how the slot's prompt is combined in."""

from __future__ import annotations

import pytest

from shared.domain import ProcessingType
from shared.providers import prompts


@pytest.mark.parametrize("type", list(ProcessingType))
def test_every_type_keeps_identity_and_combines_the_slot_prompt(type):
    text = prompts.build_prompt(type, "  sunset over the sea  ", has_reference=True)
    assert "identity" in text
    assert "sunset over the sea" in text
    assert "  sunset" not in text  # stripped
    assert "second image" in text  # the reference is named by its position


def test_face_swap_puts_the_guest_face_into_the_reference_scene():
    text = prompts.build_prompt(ProcessingType.FACE_SWAP, "", has_reference=True)
    assert text.startswith("The first image is a photo of a guest. The second image is a "
                           "reference scene")
    assert "Additional notes" not in text  # no empty operator notes


def test_background_from_text_when_there_is_no_reference():
    text = prompts.build_prompt(ProcessingType.BACKGROUND, "a snowy forest", has_reference=False)
    assert "second image" not in text
    assert text.endswith("New background: a snowy forest")


def test_prompt_edit_instruction_comes_last():
    text = prompts.build_prompt(ProcessingType.PROMPT, "add a party hat", has_reference=False)
    assert text.endswith("Instruction: add a party hat")
    assert "second image" not in text


def test_slot_prompt_is_capped():
    text = prompts.build_prompt(ProcessingType.PROMPT, "x" * 10_000, has_reference=False)
    assert text.count("x") <= prompts.MAX_SLOT_PROMPT_CHARS + 10
