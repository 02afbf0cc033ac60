"""Issue 14 in the browser: named slots (card, job list), whole upload links and a warning
when booths could not reach them, the face-swap reference labelled as the scene, server
refusals in Russian, and a phone page that stays 390 px wide after an edit, with the
Statistics panel on screen and the selected tab in view. Real `boothai serve`, Debian
chromium."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import ADMIN, Service, beach, green_screen_photo
from tests.browser.test_operator_ui import booth_post, card, open_tab

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
# The layout viewport, not innerWidth: on a phone a too-wide page makes Chrome zoom out, and
# innerWidth then grows with the page (390 → 932 measured), so "scrollWidth <= innerWidth"
# holds while the page is broken.
PAGE_WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def phone(browser: Browser, service: Service, lang: str = "en") -> tuple[BrowserContext, Page]:
    ctx = browser.new_context(http_credentials={"username": ADMIN[0], "password": ADMIN[1]},
                              locale="en-US", viewport=PHONE, device_scale_factor=2,
                              is_mobile=True, has_touch=True)
    page = ctx.new_page()
    page.goto(service.base + "/")
    page.wait_for_selector("body[data-ready=true]")
    if lang == "ru":
        page.locator('.lang-btn[data-lang="ru"]').click()
    return ctx, page


def test_an_unsaved_edit_keeps_the_phone_page_390_wide(browser: Browser, service: Service,
                                                       shots) -> None:
    ctx, page = phone(browser, service)
    try:
        open_tab(page, "local")
        card(page, "local", 3).locator('[data-bind="type"]').select_option("background")
        expect(card(page, "local", 3).locator(".dirty-mark")).to_be_visible()
        expect(page.locator("#tab-local .tab-dirty")).to_be_visible()
        assert page.evaluate(PAGE_WIDTH) == [390, 390]
        page.screenshot(path=shots / "names_phone_unsaved_edit.png")

        page.get_by_role("button", name="Statistics").click()
        expect(page.locator("#counts tbody tr")).to_have_count(5)
        box = page.locator("#stats").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert page.evaluate(PAGE_WIDTH) == [390, 390]
        page.screenshot(path=shots / "names_phone_statistics_after_edit.png")
    finally:
        ctx.close()


def test_the_selected_tab_stays_in_view_on_a_phone(browser: Browser, service: Service,
                                                   shots) -> None:
    ctx, page = phone(browser, service)
    try:
        open_tab(page, "local")  # the last tab: off the strip's right edge at first
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        expect(page.locator("#tab-local")).to_have_attribute("aria-selected", "true")
        strip = page.locator(".tabs-wrap").bounding_box()
        tab = page.locator("#tab-local").bounding_box()
        assert strip and tab
        assert tab["x"] >= strip["x"] - 1 and tab["x"] + tab["width"] <= strip["x"] + strip["width"] + 1
        assert page.evaluate("() => window.scrollY") == 0  # the strip moved, not the page
        page.screenshot(path=shots / "names_phone_selected_tab.png")
    finally:
        ctx.close()


def test_a_named_slot_shows_on_its_card_and_in_the_job_list(page: Page, service: Service,
                                                            shots) -> None:
    assert service.api("PUT", "/api/slots/local/9/reference",
                       files={"file": ("beach.jpg", beach(), "image/jpeg")}).status_code == 200
    open_tab(page, "local")
    slot = card(page, "local", 9)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    slot.locator('[data-bind="type"]').select_option("background")
    slot.locator('[data-bind="name"]').fill("Wedding — entrance")
    slot.locator('[data-bind="enabled"]').check()
    slot.locator(".save").click()
    expect(slot.locator(".card-foot .msg")).to_have_text("Saved")
    expect(slot.locator(".slot-no")).to_have_text("Slot 09 · Wedding — entrance")
    assert service.slot("local", 9)["name"] == "Wedding — entrance"

    password = service.api("GET", "/api/stats").json()["upload_password"]
    assert booth_post(service.slot("local", 9)["upload_url"], password,
                      green_screen_photo()).status_code == 200
    page.get_by_role("button", name="Statistics").click()
    first = page.locator("#jobs li").first
    expect(first.locator(".job-slot")).to_have_text("Local · slot 9 · Wedding — entrance")
    page.screenshot(path=shots / "names_job_list.png")


def test_upload_links_are_whole_and_a_loopback_address_is_warned(browser: Browser,
                                                                 page: Page, service: Service,
                                                                 shots) -> None:
    # The test service sets BOOTHAI_PUBLIC_BASE_URL to its own 127.0.0.1 address.
    warning = page.locator("#link-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("only this computer can reach")
    expect(warning).to_contain_text(service.base)
    whole = ("() => [...document.querySelectorAll('#panel-gemini .link')].every("
             "l => l.scrollWidth <= l.clientWidth && l.textContent.includes('/u/'))")
    open_tab(page, "gemini")
    links = page.locator("#panel-gemini .link")
    assert links.nth(0).text_content() == service.slot("gemini", 1)["upload_url"]
    assert page.evaluate(whole)
    page.screenshot(path=shots / "names_desktop_links.png")

    ctx, small = phone(browser, service, "ru")
    try:
        expect(small.locator("#link-warning")).to_contain_text("доступен только с этого компьютера")
        open_tab(small, "gemini")
        assert small.evaluate(whole)
        assert small.evaluate(PAGE_WIDTH) == [390, 390]
        small.screenshot(path=shots / "names_phone_links_ru.png")
    finally:
        ctx.close()


def test_the_face_swap_reference_is_labelled_as_the_scene(page: Page, service: Service) -> None:
    open_tab(page, "gemini")
    slot = card(page, "gemini", 4)
    slot.locator('[data-bind="type"]').select_option("face_swap")
    expect(slot.locator(".ref-label")).to_have_text("Scene for the guest's face")
    expect(slot.locator(".ref-help")).to_contain_text("the guest's face replaces theirs")
    page.locator('.lang-btn[data-lang="ru"]').click()
    expect(slot.locator(".ref-label")).to_have_text("Сцена для лица гостя")


def test_server_refusals_read_in_russian(page: Page, service: Service, shots) -> None:
    page.locator('.lang-btn[data-lang="ru"]').click()
    open_tab(page, "local")
    slot = card(page, "local", 5)
    slot.locator('[data-bind="type"]').select_option("background")
    slot.locator('[data-bind="enabled"]').check()
    slot.locator(".save").click()
    error = slot.locator('[data-error="reference"]')
    expect(error).to_have_text("Нужно эталонное изображение.")
    expect(slot.locator(".card-foot .msg")).to_contain_text("Не сохранено")

    # Saved switched off without a reference: the server's problem, worded in Russian.
    slot.locator('[data-bind="enabled"]').uncheck()
    slot.locator(".save").click()
    expect(slot.locator(".card-foot .msg")).to_have_text("Сохранено")
    expect(slot.locator(".hint")).to_have_text("Нужно эталонное изображение.")

    # A refused Try it (the slot cannot run), in Russian too.
    slot.locator(".try-file").set_input_files(
        files=[{"name": "guest.jpg", "mimeType": "image/jpeg", "buffer": green_screen_photo()}])
    expect(slot.locator(".try-error")).to_contain_text("Нужно эталонное изображение.")
    page.screenshot(path=shots / "names_russian_refusals.png")
    assert "needs a reference" not in slot.inner_text()


def test_the_api_refuses_an_overlong_name(service: Service) -> None:
    r = httpx.put(service.base + "/api/slots/local/11", auth=ADMIN, json={"name": "x" * 61},
                  headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 422 and r.json()["field"] == "name"
