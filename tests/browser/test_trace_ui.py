"""The booth's trace in a real browser (issue 14): a refused upload on its card's Activity
list with its reason in words (EN and RU) and the booth's name and version, a failed job's
cause in words on the list and in the job list, the Refused and Try it columns of the
statistics, and nothing wider than a 390 px phone."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ADMIN, Service, beach, green_screen_photo
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.server import run_app_in_thread

pytestmark = pytest.mark.browser

WRONG = "wrong-pass-5521"
# 390 and innerWidth === 390: a too-wide phone page zooms out and innerWidth grows with it.
NO_SCROLL = "() => document.documentElement.scrollWidth <= 390 && window.innerWidth === 390"


@pytest.fixture(scope="module")
def service_env() -> Iterator[dict[str, str]]:
    """Gemini is a fake on loopback that knows another key than the service's: every Gemini
    job fails the way a wrong key does on the real API (400 API_KEY_INVALID)."""
    fake = FakeGemini(api_key="the-key-google-knows")
    base, stop = run_app_in_thread(fake.app)
    yield {"BOOTHAI_GEMINI_BASE_URL": base}
    stop()


def booth_post(url: str, password: str, photo: bytes) -> httpx.Response:
    fields = {"time": str(int(time.time())), "user_id": "Acer", "id": "CY04N068111304S2L_00000001.",
              "name": "DESKTOP-K968T3F", "model": "Windows", "version": "3.30.2", "password": password}
    return httpx.post(url, data=fields, files={"fileToUpload": ("IMG_0003.JPG", photo, "image/jpeg")},
                      timeout=30)


@pytest.fixture(scope="module")
def shots_made(service: Service) -> dict:
    """Local slot 3 ready; one wrong-password shot, one good one, one Try it; Gemini slot 2
    with a prompt, whose shot fails on the key."""
    r = service.api("PUT", "/api/slots/local/3/reference", files={"file": ("b.jpg", beach(), "image/jpeg")})
    assert r.status_code == 200, r.text
    local = service.api("PUT", "/api/slots/local/3", json={"type": "background", "enabled": True}).json()
    gemini = service.api("PUT", "/api/slots/gemini/2",
                         json={"type": "prompt", "prompt": "a sunny beach", "enabled": True})
    assert gemini.status_code == 200, gemini.text
    password = service.api("GET", "/api/stats").json()["upload_password"]
    assert booth_post(local["upload_url"], WRONG, green_screen_photo()).status_code == 401
    assert booth_post(local["upload_url"], password, green_screen_photo()).status_code == 200
    tried = service.api("POST", "/api/slots/local/3/test",
                        files={"file": ("g.jpg", green_screen_photo(), "image/jpeg")})
    assert tried.status_code == 200
    failed = booth_post(gemini.json()["upload_url"], password, green_screen_photo())
    assert failed.status_code == 502, failed.text
    return {"local": local, "gemini": gemini.json(), "password": password}


def open_activity(page: Page, provider: str, index: int):
    page.locator(f"#tab-{provider}").click()
    card = page.locator(f'[data-slot="{provider}-{index}"]')
    card.locator(".trace-toggle").click()
    expect(card.locator(".trace-entry").first).to_be_visible()
    return card


def test_refused_upload_on_the_cards_activity_in_english_and_russian(
        page: Page, shots_made: dict, shots) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    card = open_activity(page, "local", 3)
    expect(card.locator(".trace-entry")).to_have_count(2)
    refused = card.locator(".trace-entry.outcome-refused")
    expect(refused.locator(".outcome-pill")).to_have_text("refused")
    expect(refused.locator(".trace-status")).to_have_text("HTTP 401")
    expect(refused.locator(".trace-reason")).to_contain_text("Wrong upload password")
    expect(refused.locator(".trace-booth")).to_have_text("Booth: DESKTOP-K968T3F · DSLR Remote Pro 3.30.2")
    done = card.locator(".trace-entry.outcome-done")
    expect(done.locator(".trace-job")).to_contain_text("Job ")
    assert WRONG not in page.content() and shots_made["password"] not in card.inner_text()
    card.scroll_into_view_if_needed()
    page.screenshot(path=shots / "trace_01_activity_en.png")

    page.locator('.lang-btn[data-lang="ru"]').click()
    expect(card.locator(".trace-toggle")).to_have_text("Скрыть журнал")
    expect(refused.locator(".trace-reason")).to_have_text(
        "Неверный пароль загрузки: введите в фотобудке пароль из «Статистики».")
    expect(refused.locator(".outcome-pill")).to_have_text("отклонён")
    expect(refused.locator(".trace-booth")).to_contain_text("Фотобудка: DESKTOP-K968T3F")
    card.scroll_into_view_if_needed()
    page.screenshot(path=shots / "trace_02_activity_ru.png")
    page.locator('.lang-btn[data-lang="en"]').click()


def test_failed_job_names_its_cause_on_the_card_and_in_the_job_list(
        page: Page, shots_made: dict, shots) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    card = open_activity(page, "gemini", 2)
    failed = card.locator(".trace-entry.outcome-failed")
    expect(failed.locator(".trace-status")).to_have_text("HTTP 502")
    expect(failed.locator(".trace-reason")).to_have_text(
        "The provider refused the API key: check or replace the key.")
    expect(failed.locator(".trace-detail")).to_contain_text("API key not valid")
    card.scroll_into_view_if_needed()
    page.screenshot(path=shots / "trace_03_failed_cause.png")

    failed.locator(".trace-job").click()  # the link opens the statistics at that job
    job = page.locator("#jobs li.status-failed").first
    expect(job.locator(".job-reason")).to_have_text(
        "The provider refused the API key: check or replace the key. (gemini_key_invalid)")
    expect(job).to_have_class("job status-failed is-target")
    row = page.locator('#counts tr[data-provider="local"]')
    expect(page.locator("#counts thead th").nth(5)).to_have_text("Refused")
    expect(page.locator("#counts thead th").nth(6)).to_have_text("Try it")
    expect(row.locator("td.refused")).to_have_text("1 / 1")
    expect(row.locator("td.tried")).to_have_text("1 / 1")
    expect(row.locator("td.today-done")).to_have_text("1")  # the booth's photo, not Try it
    page.screenshot(path=shots / "trace_04_statistics.png")

    page.locator("#close-stats").click()  # the panel is modal: the language is switched outside
    page.locator('.lang-btn[data-lang="ru"]').click()
    page.locator("#open-stats").click()
    expect(page.locator("#counts thead th").nth(5)).to_have_text("Отклонено")
    expect(page.locator("#counts thead th").nth(6)).to_have_text("Проверки")
    expect(page.locator("#jobs li.status-failed .job-reason").first).to_contain_text(
        "Провайдер отклонил API-ключ")
    page.screenshot(path=shots / "trace_04b_statistics_ru.png")
    page.locator("#close-stats").click()
    page.locator('.lang-btn[data-lang="en"]').click()


def test_phone_width_is_unchanged_with_activity_and_new_columns(
        browser: Browser, service: Service, shots_made: dict, shots) -> None:
    ctx = browser.new_context(http_credentials={"username": ADMIN[0], "password": ADMIN[1]},
                              locale="en-US", viewport={"width": 390, "height": 844},
                              device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page = ctx.new_page()
        page.goto(service.base + "/")
        page.wait_for_selector("body[data-ready=true]")
        assert page.evaluate(NO_SCROLL)
        card = open_activity(page, "gemini", 2)
        assert page.evaluate(NO_SCROLL), "the Activity list widens the phone page"
        card.scroll_into_view_if_needed()
        page.screenshot(path=shots / "trace_05_phone_activity.png")
        card = open_activity(page, "local", 3)
        assert page.evaluate(NO_SCROLL)
        page.get_by_role("button", name="Statistics").click()
        expect(page.locator("#counts thead th")).to_have_count(7)
        assert page.evaluate(NO_SCROLL), "the Refused and Try it columns widen the phone page"
        page.screenshot(path=shots / "trace_06_phone_statistics.png")
    finally:
        ctx.close()
