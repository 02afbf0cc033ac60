"""shared.vision_prompts: one task text per comparison type, then the answer format."""

from __future__ import annotations

from shared.vision_prompts import comparison_prompt


def test_prompts_differ_per_type_and_carry_the_format_and_extra_instruction() -> None:
    prompts = {t: comparison_prompt(comparison_type=t, output_format="json", num_images=3,
                                    extra="Focus on furniture")
               for t in ("differences", "changes", "similarities")}
    assert len(set(prompts.values())) == 3
    for prompt in prompts.values():
        assert '"images_affected"' in prompt and "1 to 3" in prompt
        assert "Focus on furniture" in prompt
    assert "sequence" in prompts["changes"]
    assert "in common" in prompts["similarities"]
    text = comparison_prompt(comparison_type="differences", output_format="text", num_images=2)
    assert "JSON" not in text and "plain prose" in text
