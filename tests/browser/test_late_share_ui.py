"""A late result as a guest lives it (issue 15), against the real `boothai serve`: the slot
answers late with a QR code; the fake Gemini takes longer than the booth waits; the booth
gets its original stamped in time; the code, read back with a standard reader at the 4x6
print's size, opens the share page on a phone with no credentials: "still working" with
the original, and, once the job is done, the AI result with its download. Saved for the
closing note: test-output/browser/late_share_stamped_original_4x6.jpg (the booth's print,
1800x1200) and late_share_*.png (the phone's page, Russian)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import ADMIN, Service
from tests.fakes.gemini_server import Behaviour, FakeGemini
from tests.fakes.server import run_app_in_thread
from tests.helpers import photos
from tests.helpers.qr import decode_qr

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}
NO_SCROLL = "() => document.documentElement.scrollWidth <= 390 && window.innerWidth === 390"
PHOTO_LOADED = ("() => { const i = document.querySelector('img.photo');"
                " return !!i && i.complete && i.naturalWidth > 0; }")
WINDOW, PROVIDER_SECONDS = 6, 9


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini(api_key="browser-test-gemini-key")
    base, stop = run_app_in_thread(fake.app)
    fake.base = base
    yield fake
    stop()


@pytest.fixture(scope="module")
def service_env(gemini: FakeGemini) -> dict[str, str]:
    return {"BOOTHAI_GEMINI_BASE_URL": gemini.base, "BOOTHAI_BOOTH_WINDOW_SECONDS": str(WINDOW),
            "BOOTHAI_BOOTH_SAFETY_MARGIN_SECONDS": "1"}


def test_the_guest_scans_the_print_and_gets_the_ai_photo(browser: Browser, service: Service,
                                                         gemini: FakeGemini, shots) -> None:
    r = service.api("PUT", "/api/slots/gemini/2", json={
        "type": "prompt", "prompt": "a sunny beach", "enabled": True, "name": "Late test",
        "share_pages": True, "when_late": "original_qr",
        "late_text": "Ваше AI-фото уже в работе: отсканируйте код"})
    assert r.status_code == 200, r.text
    upload_url = r.json()["upload_url"]
    password = service.api("GET", "/api/stats").json()["upload_password"]

    gemini.script(Behaviour.slow(PROVIDER_SECONDS))
    guest = photos.plain_photo(1800, 1200)
    started = time.monotonic()
    answer = httpx.post(upload_url, data=photos.dslr_fields(password),
                        files={"fileToUpload": ("IMG_0007.JPG", guest, "image/jpeg")}, timeout=60)
    assert answer.status_code == 200 and time.monotonic() - started < WINDOW - 0.5
    assert answer.headers["x-boothai-original"] == "late"
    (shots / "late_share_stamped_original_4x6.jpg").write_bytes(answer.content)
    link = decode_qr(answer.content)  # what the guest's phone reads off the print
    assert link == answer.headers["x-boothai-share"]

    ctx = browser.new_context(locale="ru-RU", **PHONE)
    try:
        page = ctx.new_page()
        page.goto(link)
        expect(page.locator("h1.working")).to_contain_text("обрабатывается")
        page.wait_for_function(PHOTO_LOADED)
        page.wait_for_function(NO_SCROLL)
        page.screenshot(path=str(shots / "late_share_1_working_phone_ru.png"), full_page=True)

        # The page refreshes by itself: no tap, the AI photo appears once the job is done.
        expect(page.locator("a.button")).to_be_visible(timeout=(PROVIDER_SECONDS + 10) * 1000)
        expect(page.locator("h1")).to_contain_text("готово")
        page.wait_for_function(PHOTO_LOADED)
        page.wait_for_function(NO_SCROLL)
        page.screenshot(path=str(shots / "late_share_2_done_phone_ru.png"), full_page=True)
        with page.expect_download() as download:
            page.locator("a.button").click()
        result = download.value.path().read_bytes()
    finally:
        ctx.close()
    job = service.api("GET", f"/api/jobs/{answer.headers['x-boothai-job']}").json()
    assert job["status"] == "done" and job["late"] is True
    assert result == service.api("GET", job["result_url"]).content

    # The operator sees on the slot's activity what the booth got, in words (RU too).
    operator = browser.new_context(http_credentials={"username": ADMIN[0], "password": ADMIN[1]},
                                   locale="en-US", viewport={"width": 1440, "height": 900})
    try:
        page = operator.new_page()
        page.goto(service.base + "/")
        page.wait_for_selector("body[data-ready=true]")
        page.locator("#tab-gemini").click()
        card = page.locator('[data-slot="gemini-2"]')
        card.locator(".trace-toggle").click()
        late = card.locator('.trace-entry[data-reason="late"]')
        expect(late.locator(".trace-reason")).to_contain_text("it got the original")
        expect(late.locator(".trace-status")).to_have_text("HTTP 200")
        expect(late.locator(".outcome-pill")).to_have_text("original sent")
        page.locator('.lang-btn[data-lang="ru"]').click()
        expect(late.locator(".trace-reason")).to_contain_text("получила оригинал")
        expect(late.locator(".outcome-pill")).to_have_text("отправлен оригинал")
        card.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "late_share_3_activity_ru.png"))
    finally:
        operator.close()
