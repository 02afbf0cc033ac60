"""The operator UI in a real browser against the real service: tabs × 20 slots, a Local
slot configured end to end, Try it, the statistics panel, password rotation, languages,
phone screens and unsaved changes."""

from __future__ import annotations

import base64
import io
import re
import time

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ADMIN, Service, beach, green_screen_photo

pytestmark = pytest.mark.browser

PROVIDERS = ["turbotext", "gemini", "deepseek", "qwen", "local"]


def card(page: Page, provider: str, index: int):
    return page.locator(f'[data-slot="{provider}-{index}"]')


def open_tab(page: Page, provider: str) -> None:
    page.locator(f"#tab-{provider}").click()
    expect(page.locator(f"#panel-{provider}")).to_be_visible()


def image_pixels(page: Page, selector: str) -> np.ndarray:
    """The pixels of a displayed <img>, drawn by the page onto a canvas, decoded here. (Not
    fetch(img.src): the UI's CSP lets no script fetch a blob: URL, only show it.)"""
    data = page.evaluate(
        """(sel) => {
            const img = document.querySelector(sel);
            const canvas = document.createElement("canvas");
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
            canvas.getContext("2d").drawImage(img, 0, 0);
            return canvas.toDataURL("image/png").split(",")[1];
        }""",
        selector,
    )
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"), dtype=np.int16)


def green_dominance(region: np.ndarray) -> float:
    return float(np.mean(region[..., 1] - np.maximum(region[..., 0], region[..., 2])))


def booth_post(url: str, password: str, photo: bytes) -> httpx.Response:
    """What DSLR Remote Pro sends: multipart fileToUpload + text fields incl. password."""
    fields = {"password": password, "time": str(int(time.time())), "id": "CY04N068111304S2L_00000001.",
              "user_id": "Acer", "name": "DESKTOP-K968T3F", "model": "Windows", "version": "3.30.2"}
    return httpx.post(url, data=fields, files={"fileToUpload": ("IMG_0003.JPG", photo, "image/jpeg")},
                      timeout=30)


@pytest.fixture(scope="module")
def enabled_local_slot(service: Service) -> dict:
    """Local slot 7 configured through the API (background + reference + enabled)."""
    r = service.api("PUT", "/api/slots/local/7/reference",
                    files={"file": ("beach.jpg", beach(), "image/jpeg")})
    assert r.status_code == 200, r.text
    r = service.api("PUT", "/api/slots/local/7", json={"type": "background", "enabled": True})
    assert r.status_code == 200, r.text
    return r.json()


# -- access ----------------------------------------------------------------------------------------
def test_wrong_credentials_see_nothing(browser: Browser, service: Service) -> None:
    ctx = browser.new_context(http_credentials={"username": "admin", "password": "wrong-one"})
    try:
        page = ctx.new_page()
        response = page.goto(service.base + "/")
        assert response is not None and response.status == 401
        html = page.content()
        assert "/u/" not in html and "data-slot" not in html and "upload_url" not in html
        api = page.request.get(service.base + "/api/slots")
        assert api.status == 401
        assert api.headers.get("www-authenticate", "").lower().startswith("basic")
    finally:
        ctx.close()


# -- tabs ----------------------------------------------------------------------------------------------
def test_tabs_list_every_provider_with_20_slots_and_keyboard_navigation(
    page: Page, service: Service, shots
) -> None:
    tabs = page.get_by_role("tablist").get_by_role("tab")
    expect(tabs).to_have_count(5)
    for provider in PROVIDERS:
        expect(page.locator(f"#panel-{provider} .card")).to_have_count(20)

    open_tab(page, "local")
    expect(page.locator("#tab-local")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-gemini")).to_be_hidden()
    # Local can only do background: the dropdown offers nothing else.
    options = card(page, "local", 1).locator('[data-bind="type"] option')
    expect(options).to_have_text(["— choose —", "Background"])
    page.screenshot(path=shots / "01_local_tab.png", full_page=False)

    # Keyboard: arrows move between tabs (roving tabindex), Home/End jump.
    page.locator("#tab-local").focus()
    page.keyboard.press("ArrowRight")  # wraps to the first tab
    expect(page.locator("#tab-turbotext")).to_be_focused()
    expect(page.locator("#tab-turbotext")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-turbotext")).to_be_visible()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-gemini")).to_be_focused()
    expect(page.locator("#panel-gemini")).to_be_visible()
    page.keyboard.press("End")
    expect(page.locator("#tab-local")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#tab-qwen")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#tab-qwen")).to_have_attribute("tabindex", "0")
    expect(page.locator("#tab-local")).to_have_attribute("tabindex", "-1")
    # Tab moves focus from the tablist into the panel, not to the next tab.
    page.keyboard.press("Tab")
    expect(page.locator("#panel-qwen")).to_be_focused()

    # An unavailable provider says why, and still lists its slots' links to copy. The test
    # server runs with BOOTHAI_GPU_BACKEND=off, so the Qwen tab really is unavailable.
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    tabs = service.api("GET", "/api/slots").json()["tabs"]
    down = next(t for t in tabs if t["provider"] == "qwen")
    assert down["available"] is False and "GPU backend" in down["unavailable_reason"]
    open_tab(page, down["provider"])
    panel = page.locator(f"#panel-{down['provider']}")
    expect(panel.locator(".notice .reason")).to_have_text(down["unavailable_reason"])
    expect(panel.locator(".link")).to_have_count(20)
    expect(panel.locator(".copy-link").first).to_be_enabled()
    expect(panel.locator(".save").first).to_be_hidden()
    expect(panel.locator('[data-bind="type"]').first).to_be_hidden()
    panel.locator(".copy-link").nth(4).click()
    expect(panel.locator(".link-msg").nth(4)).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == down["slots"][4]["upload_url"]
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=shots / "02_unavailable_tab.png")


# -- a Local slot, end to end --------------------------------------------------------------------------
def test_configure_local_slot_copy_link_and_try_it(page: Page, service: Service, shots) -> None:
    open_tab(page, "local")
    slot = card(page, "local", 1)
    slot.locator('[data-bind="type"]').select_option("background")
    slot.locator('[data-bind="enabled"]').check()
    expect(slot.locator(".dirty-mark")).to_be_visible()

    # The server refuses to enable it without a reference: message next to the reference.
    slot.locator(".save").click()
    error = slot.locator('[data-error="reference"]')
    expect(error).to_be_visible()
    expect(error).to_contain_text("needs a reference image")
    expect(slot.locator('[data-error="type"]')).to_be_hidden()
    expect(slot.locator(".card-foot .msg")).to_contain_text("Not saved")
    page.screenshot(path=shots / "03_validation_error.png")
    assert service.slot("local", 1)["enabled"] is False

    # Upload a beach as the background; the thumbnail appears; the edits are still there.
    slot.locator(".ref-file").set_input_files(
        files=[{"name": "beach.jpg", "mimeType": "image/jpeg", "buffer": beach()}])
    expect(slot.locator(".ref-thumb img")).to_be_visible()
    expect(slot.locator(".ref-thumb img")).to_have_attribute("src", re.compile(r"/reference\?thumb=1"))
    page.wait_for_function(
        "() => document.querySelector('[data-slot=\"local-1\"] .ref-thumb img').naturalWidth > 0")
    expect(error).to_be_hidden()
    expect(slot.locator('[data-bind="enabled"]')).to_be_checked()

    slot.locator(".save").click()
    expect(slot.locator(".card-foot .msg")).to_have_text("Saved")
    expect(slot.locator(".dirty-mark")).to_be_hidden()
    expect(slot).to_have_class(re.compile(r"\bis-enabled\b"))
    expect(slot.locator(".badge")).to_have_text("Enabled")
    saved = service.slot("local", 1)
    assert saved["enabled"] is True and saved["type"] == "background" and saved["has_reference"]

    # Copy: the clipboard holds exactly the slot's upload link.
    slot.locator(".copy-link").click()
    expect(slot.locator(".link-msg")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == saved["upload_url"]

    # Try it with a green-screen photo: before/after, the time it took, a keyed background.
    slot.locator(".try-file").set_input_files(
        files=[{"name": "guest.jpg", "mimeType": "image/jpeg", "buffer": green_screen_photo()}])
    after = slot.locator(".try-after img")
    expect(after).to_be_visible(timeout=20_000)
    page.wait_for_function(
        "() => document.querySelector('[data-slot=\"local-1\"] .try-after img').naturalWidth > 0")
    expect(slot.locator(".took")).to_contain_text(re.compile(r"\d+(\.\d)? m?s"))
    pixels = image_pixels(page, '[data-slot="local-1"] .try-after img')
    h, w, _ = pixels.shape
    corner = pixels[: h // 6, : w // 6]
    assert green_dominance(corner) < 5, "the screen is still green in the result"
    assert corner.mean(axis=(0, 1))[2] > 150, "the corner should show the beach's blue sky"
    sand = pixels[int(h * 0.85):, : w // 6]
    assert sand.mean(axis=(0, 1))[0] > 180, "the bottom corner should show the sand"
    face = pixels[int(h * 0.25): int(h * 0.32), int(w * 0.47): int(w * 0.53)].mean(axis=(0, 1))
    assert abs(face[0] - 224) < 30 and face[0] > face[2], "the guest is kept"
    slot.scroll_into_view_if_needed()
    page.screenshot(path=shots / "04_try_it_result.png")
    slot.screenshot(path=shots / "04b_try_it_card.png")


def test_slot_hints_come_from_the_servers_rules(page: Page, service: Service, shots) -> None:
    """The card renders the tab's `requirements` (shared/slot_rules.py): a Gemini background
    may be words alone, a Local one needs the picture, and Turbotext's face swap reads no
    prompt, so its prompt box is hidden."""
    open_tab(page, "gemini")
    slot = card(page, "gemini", 4)
    slot.locator('[data-bind="type"]').select_option("background")
    hint = slot.locator(".hint")
    expect(hint).to_have_text("Needs a reference image or a prompt describing the background.")
    slot.locator('[data-bind="prompt"]').fill("a snowy pine forest at dusk")
    expect(hint).to_be_hidden()
    slot.locator('[data-bind="enabled"]').check()
    slot.locator(".save").click()
    expect(slot.locator(".card-foot .msg")).to_have_text("Saved")
    saved = service.slot("gemini", 4)
    assert saved["enabled"] and not saved["has_reference"] and saved["problem"] is None
    slot.scroll_into_view_if_needed()
    slot.screenshot(path=shots / "09_text_only_background.png")

    open_tab(page, "local")
    local = card(page, "local", 9)
    local.locator('[data-bind="type"]').select_option("background")
    expect(local.locator(".hint")).to_have_text("Needs a reference image before it can run.")
    expect(local.locator('[data-bind="prompt"]')).to_be_hidden()  # a chroma key reads no words

    open_tab(page, "turbotext")
    swap = card(page, "turbotext", 2)
    swap.locator('[data-bind="type"]').select_option("face_swap")
    expect(swap.locator('[data-bind="prompt"]')).to_be_hidden()
    expect(swap.locator(".ref")).to_be_visible()
    swap.locator('[data-bind="type"]').select_option("prompt")
    expect(swap.locator('[data-bind="prompt"]')).to_be_visible()
    expect(swap.locator(".ref")).to_be_hidden()  # generate_image2image reads no reference


def test_output_size_is_picked_only_where_the_model_draws_sizes(page: Page, service: Service,
                                                                 shots) -> None:
    """A Gemini 3 slot shows 1K/2K/4K with the default named; saving keeps the other fields;
    a slot on 2.5 Flash Image (the default model) and the other tabs show no picker."""
    assert service.api("PUT", "/api/slots/gemini/6", json={
        "type": "prompt", "prompt": "a film noir portrait",
        "model": "gemini-3-pro-image-preview"}).status_code == 200
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    open_tab(page, "gemini")
    pro = card(page, "gemini", 6)
    size = pro.locator('[data-bind="image_size"]')
    expect(size).to_be_visible()
    expect(size.locator("option")).to_have_text(
        ["Default (2K)", "1K (fast, ~1 MP)", "2K (10×15 cm prints)", "4K (large prints)"])
    size.select_option("4K")
    pro.locator(".save").click()
    expect(pro.locator(".card-foot .msg")).to_have_text("Saved")
    saved = service.slot("gemini", 6)
    assert (saved["image_size"], saved["model"], saved["prompt"]) == (
        "4K", "gemini-3-pro-image-preview", "a film noir portrait")
    pro.scroll_into_view_if_needed()
    pro.screenshot(path=shots / "09b_output_size.png")

    expect(card(page, "gemini", 7).locator('[data-bind="image_size"]')).to_be_hidden()
    open_tab(page, "local")
    expect(card(page, "local", 7).locator('[data-bind="image_size"]')).to_be_hidden()


def test_try_it_shows_the_error_text(browser: Browser, service: Service) -> None:
    # Background chosen but no background image yet: the server says why it cannot run.
    assert service.api("PUT", "/api/slots/local/3", json={"type": "background"}).status_code == 200
    ctx = browser.new_context(http_credentials={"username": ADMIN[0], "password": ADMIN[1]}, locale="en-US")
    try:
        page = ctx.new_page()
        page.goto(service.base + "/")
        page.wait_for_selector("body[data-ready=true]")
        open_tab(page, "local")
        slot = card(page, "local", 3)
        expect(slot.locator(".hint")).to_have_text("Needs a reference image before it can run.")
        slot.locator(".try-file").set_input_files(
            files=[{"name": "guest.jpg", "mimeType": "image/jpeg", "buffer": green_screen_photo()}])
        expect(slot.locator(".try-error")).to_contain_text("needs a reference image")
    finally:
        ctx.close()


# -- statistics panel ---------------------------------------------------------------------------------
def test_statistics_panel_follows_booth_uploads_and_password_rotation(
    page: Page, service: Service, enabled_local_slot: dict, shots
) -> None:
    page.get_by_role("button", name="Statistics").click()
    panel = page.get_by_role("dialog")
    expect(panel).to_be_visible()
    password_box = panel.locator("#upload-password")
    expect(password_box).to_have_attribute("type", "password")  # hidden until revealed
    expect(password_box).not_to_have_value("")
    panel.get_by_role("button", name="Show").click()
    expect(password_box).to_have_attribute("type", "text")
    password = password_box.input_value()
    assert password == service.api("GET", "/api/stats").json()["upload_password"]
    panel.locator("#pw-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == password

    local_row = panel.locator('#counts tr[data-provider="local"]')
    before = int(local_row.locator(".today-done").inner_text())

    # A booth sends a photo to the slot's link with the password shown in the panel.
    answer = booth_post(enabled_local_slot["upload_url"], password, green_screen_photo())
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/jpeg"

    # The open panel refreshes itself: counts and the job list follow without a click.
    expect(local_row.locator(".today-done")).to_have_text(str(before + 1), timeout=8000)
    expect(local_row.locator(".total-done")).to_have_text(str(before + 1))
    expect(local_row.locator(".avg")).to_contain_text(re.compile(r"\d+(\.\d)? m?s"))
    job = panel.locator("#jobs li").first
    expect(job).to_contain_text("Local · slot 7")
    expect(job).to_contain_text("done")
    expect(job).to_contain_text("booth")
    expect(job.locator("img")).to_have_count(2)
    page.wait_for_function("() => [...document.querySelectorAll('#jobs li:first-child img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")

    page.screenshot(path=shots / "05_statistics_panel.png")

    # Rotate (with a confirmation): the old password is refused, the new one accepted.
    panel.get_by_role("button", name="Rotate…").click()
    confirm = panel.locator("#pw-confirm")
    expect(confirm).to_be_visible()
    page.screenshot(path=shots / "06_rotate_confirm.png")
    panel.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(password_box).to_have_value(password)
    panel.get_by_role("button", name="Rotate…").click()
    panel.get_by_role("button", name="Yes, issue a new password").click()
    expect(password_box).not_to_have_value(password)
    fresh = password_box.input_value()
    assert len(fresh) >= 8
    assert booth_post(enabled_local_slot["upload_url"], password, green_screen_photo()).status_code == 401
    assert booth_post(enabled_local_slot["upload_url"], fresh, green_screen_photo()).status_code == 200
    expect(local_row.locator(".today-done")).to_have_text(str(before + 2), timeout=8000)
    expect(password_box).to_have_value(fresh)  # and the auto-refresh keeps the new one

    # Escape closes the panel and gives focus back to the Statistics button.
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.get_by_role("button", name="Statistics")).to_be_focused()


# -- languages ----------------------------------------------------------------------------------------
def test_russian_switch_changes_texts_and_is_remembered(page: Page, browser: Browser, service: Service,
                                                       shots) -> None:
    expect(page.locator("#open-stats")).to_have_text("Statistics")
    page.get_by_role("button", name="RU", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("#open-stats")).to_have_text("Статистика")
    open_tab(page, "turbotext")
    slot = card(page, "turbotext", 1)
    expect(slot.locator('[data-bind="type"] option')).to_have_text(
        ["— выберите —", "Замена лица", "Подстановка под фон", "Генерация по промпту"])
    expect(slot.locator(".copy-link")).to_have_text("Копировать")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#open-stats")).to_have_text("Статистика")  # remembered
    slot.locator('[data-bind="type"]').select_option("prompt")
    expect(slot.locator(".save")).to_have_text("Сохранить")
    expect(slot.locator(".dirty-mark")).to_have_text("Не сохранено")
    expect(slot.locator(".hint")).to_have_text("Нужен промпт.")
    page.screenshot(path=shots / "07_russian.png")
    page.get_by_role("button", name="Статистика").click()
    expect(page.locator("#stats-title")).to_have_text("Статистика")
    expect(page.locator("#pw-reveal")).to_have_text("Показать")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="EN", exact=True).click()
    expect(page.locator("#open-stats")).to_have_text("Statistics")
    expect(slot.locator(".dirty-mark")).to_have_text("Unsaved")  # the edit survives the switch

    # A Russian browser starts in Russian.
    ctx = browser.new_context(http_credentials={"username": ADMIN[0], "password": ADMIN[1]},
                              locale="ru-RU")
    try:
        ru = ctx.new_page()
        ru.goto(service.base + "/")
        ru.wait_for_selector("body[data-ready=true]")
        expect(ru.locator("#open-stats")).to_have_text("Статистика")
    finally:
        ctx.close()


# -- phone ---------------------------------------------------------------------------------------------
def test_phone_viewport_has_no_horizontal_scroll(browser: Browser, service: Service,
                                                 enabled_local_slot: dict, shots) -> None:
    ctx = browser.new_context(http_credentials={"username": ADMIN[0], "password": ADMIN[1]},
                              locale="en-US", viewport={"width": 390, "height": 844},
                              device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page = ctx.new_page()
        page.goto(service.base + "/")
        page.wait_for_selector("body[data-ready=true]")
        # 390, not innerWidth: a too-wide phone page zooms out and innerWidth grows with it.
        no_scroll = "document.documentElement.scrollWidth <= 390 && window.innerWidth === 390"
        for provider in PROVIDERS:
            open_tab(page, provider)
            assert page.evaluate(no_scroll), f"horizontal scroll on the {provider} tab"
        open_tab(page, "local")
        card(page, "local", 7).scroll_into_view_if_needed()
        page.screenshot(path=shots / "08_phone_local.png")
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=shots / "08b_phone_top.png")
        page.get_by_role("button", name="Statistics").click()
        expect(page.locator("#counts tbody tr")).to_have_count(5)
        page.wait_for_function("() => [...document.querySelectorAll('#jobs img')].every(i => i.complete)")
        assert page.evaluate(no_scroll)
        page.screenshot(path=shots / "09_phone_statistics.png")
    finally:
        ctx.close()


# -- unsaved changes -----------------------------------------------------------------------------------
def test_unsaved_changes_are_marked_kept_across_tabs_and_warned(page: Page, service: Service,
                                                                shots) -> None:
    open_tab(page, "gemini")
    slot = card(page, "gemini", 2)
    slot.locator('[data-bind="type"]').select_option("prompt")
    slot.locator('[data-bind="prompt"]').fill("Turn the guest into a watercolour painting")
    expect(slot.locator(".dirty-mark")).to_be_visible()
    expect(slot).to_have_class(re.compile(r"\bis-dirty\b"))
    expect(page.locator("#tab-gemini .tab-dirty")).to_be_visible()
    page.screenshot(path=shots / "10_unsaved.png")

    open_tab(page, "local")
    open_tab(page, "gemini")
    expect(slot.locator('[data-bind="prompt"]')).to_have_value("Turn the guest into a watercolour painting")
    expect(slot.locator('[data-bind="type"]')).to_have_value("prompt")
    assert service.slot("gemini", 2)["prompt"] == ""  # nothing saved behind the operator's back

    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()  # stay on the page

    page.on("dialog", on_dialog)
    page.close(run_before_unload=True)
    deadline = time.monotonic() + 5
    while not dialogs and time.monotonic() < deadline:
        page.wait_for_timeout(50) if not page.is_closed() else time.sleep(0.05)
    assert dialogs == ["beforeunload"]
