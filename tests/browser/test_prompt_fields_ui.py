"""Prompt fields in a real browser (issue 15): on a Gemini card the operator lists the
booth fields the prompt may use, is refused a placeholder outside that list (on the prompt
field), types sample values and sees with Try it's result the prompt the provider received
(the fake Gemini records it too) and the job viewer shows it; Russian labels; a 390 px
phone stays 390 px wide.
Screenshots: test-output/browser/prompts_*.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Service, green_screen_photo
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.server import run_app_in_thread

pytestmark = pytest.mark.browser

# 390 and innerWidth === 390: a too-wide phone page zooms out and innerWidth grows with it.
NO_SCROLL = "() => document.documentElement.scrollWidth <= 390 && window.innerWidth === 390"
PROMPT = "Paint {name|our guest} in the {team|blue} team's colours"
FILLED = "Paint Anna in the red team's colours"


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini(api_key="browser-test-gemini-key")  # the service's deployment key
    base, stop = run_app_in_thread(fake.app)
    fake.base = base
    yield fake
    stop()


@pytest.fixture(scope="module")
def service_env(gemini: FakeGemini) -> dict[str, str]:
    return {"BOOTHAI_GEMINI_BASE_URL": gemini.base}


def gemini_card(page: Page, index: int = 1):
    page.locator("#tab-gemini").click()
    card = page.locator(f'[data-slot="gemini-{index}"]')
    expect(card).to_be_visible()
    return card


def test_prompt_fields_filled_in_try_it(page: Page, service: Service, gemini: FakeGemini,
                                        shots) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    card = gemini_card(page)
    card.locator('[data-bind="type"]').select_option("prompt")
    card.locator('[data-bind="prompt"]').fill(PROMPT + " from {city}")
    card.locator('[data-bind="prompt_fields"]').fill("name, team")
    card.locator(".save").click()
    # {city} is not a listed field: refused on the prompt, naming it.
    error = card.locator('[data-error="prompt"]')
    expect(error).to_contain_text("{city}")
    expect(card.locator('[data-bind="prompt"]')).to_have_attribute("aria-invalid", "true")

    card.locator('[data-bind="prompt"]').fill(PROMPT)
    card.locator(".save").click()
    expect(card.locator(".card-foot .msg")).to_have_text("Saved")
    saved = service.slot("gemini", 1)
    assert saved["prompt_fields"] == ["name", "team"] and saved["prompt"] == PROMPT

    samples = card.locator(".prompt-sample")
    expect(samples).to_have_count(2)
    card.locator('.prompt-sample[data-field="name"]').fill("Anna")
    card.locator('.prompt-sample[data-field="team"]').fill("red")
    card.locator(".try-file").set_input_files(
        files=[{"name": "guest.jpg", "mimeType": "image/jpeg", "buffer": green_screen_photo()}])
    expect(card.locator(".try-prompt-text")).to_have_text(FILLED, timeout=30_000)
    expect(card.locator(".try-after img")).to_be_visible()
    assert FILLED in gemini.requests[-1].prompt
    card.scroll_into_view_if_needed()
    page.screenshot(path=shots / "prompts_01_try_it_filled.png")

    # The same card with its result and the filled prompt on a 390 px phone.
    page.set_viewport_size({"width": 390, "height": 844})
    card.locator(".try-prompt").scroll_into_view_if_needed()
    page.wait_for_function(NO_SCROLL)
    page.screenshot(path=shots / "prompts_02_try_it_phone.png")
    page.set_viewport_size({"width": 1440, "height": 900})

    page.locator('.lang-btn[data-lang="ru"]').click()
    expect(card.locator(".prompt-fields > .lbl").first).to_have_text("Поля промпта")
    expect(card.locator(".prompt-samples > .lbl")).to_have_text("Примеры значений для «Проверить»")
    card.scroll_into_view_if_needed()
    page.screenshot(path=shots / "prompts_03_ru.png")
    page.locator('.lang-btn[data-lang="en"]').click()

    # The job viewer shows what ran.
    page.get_by_role("button", name="Statistics").click()
    job = page.locator("#jobs li").first
    expect(job).to_be_visible(timeout=8000)
    job.locator(".job-meta").click()
    viewer = page.get_by_role("dialog", name="Job")
    expect(viewer.locator(".viewer-prompt-text")).to_have_text(FILLED)
    page.screenshot(path=shots / "prompts_05_job_viewer.png")


def test_phone_stays_390_wide_with_prompt_fields(page: Page, service: Service, shots) -> None:
    r = service.api("PUT", "/api/slots/gemini/2",
                    json={"type": "prompt", "prompt": PROMPT, "prompt_fields":
                          ["name", "team", "user_id", "a_rather_long_survey_field_name"]})
    assert r.status_code == 200, r.text
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    card = gemini_card(page, 2)
    expect(card.locator(".prompt-sample")).to_have_count(4)
    card.locator(".prompt-fields").scroll_into_view_if_needed()
    page.wait_for_function(NO_SCROLL)
    page.screenshot(path=shots / "prompts_04_phone_fields.png")
