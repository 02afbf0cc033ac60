"""Public share pages in a real browser against the real service (issue 15): share pages
switched on in the slot's card, a booth photo's job opened in the job viewer, its share link
made and copied, then opened in a fresh browser WITHOUT credentials (desktop, phone, Russian)
where the result shows and downloads under the page's strict CSP; revoked, the link is a
404. Screenshots: test-output/browser/share_*."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Service, beach, green_screen_photo, guest_session, operator_session

pytestmark = pytest.mark.browser

SLOT = 6  # this module's Local slot
NO_SCROLL = "() => document.documentElement.scrollWidth <= 390 && window.innerWidth === 390"
PHOTO_LOADED = ("() => { const i = document.querySelector('img.photo');"
                " return !!i && i.complete && i.naturalWidth > 0; }")
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}
DESKTOP = {"viewport": {"width": 1440, "height": 900}}


@pytest.fixture(scope="module")
def ready_slot(service: Service) -> dict:
    r = service.api("PUT", f"/api/slots/local/{SLOT}/reference",
                    files={"file": ("beach.jpg", beach(), "image/jpeg")})
    assert r.status_code == 200, r.text
    r = service.api("PUT", f"/api/slots/local/{SLOT}",
                    json={"type": "background", "enabled": True, "name": "Share test"})
    assert r.status_code == 200, r.text
    assert r.json()["share_pages"] is False  # off until the operator switches it on
    return r.json()


def _booth_photo(service: Service, slot: dict) -> str:
    password = service.api("GET", "/api/stats").json()["upload_password"]
    fields = {"password": password, "time": str(int(time.time())), "id": "CY04N068111304S2L_00000001.",
              "user_id": "Acer", "name": "DESKTOP-K968T3F", "model": "Windows", "version": "3.30.2"}
    r = httpx.post(slot["upload_url"], data=fields, timeout=30,
                   files={"fileToUpload": ("IMG_0006.JPG", green_screen_photo((800, 600)), "image/jpeg")})
    assert r.status_code == 200, r.text
    job_id = r.headers["x-boothai-job"]
    deadline = time.monotonic() + 10
    while service.api("GET", f"/api/jobs/{job_id}").json()["status"] != "done":
        assert time.monotonic() < deadline, "the job never finished"
        time.sleep(0.05)
    return job_id


def _open_job(page: Page, job_id: str, *, stats_open: bool = False):
    if not stats_open:
        page.get_by_role("button", name="Statistics").click()
    row = page.locator(f'#jobs li[data-job="{job_id}"]')
    expect(row).to_be_visible(timeout=8000)
    row.locator(".job-meta").click()
    expect(page.locator("#viewer[data-ready=true]")).to_have_count(1)
    return page.locator("#viewer .viewer-share")


def test_share_link_copied_from_the_viewer_opens_without_credentials(
        browser: Browser, service: Service, ready_slot, shots) -> None:
    ctx, page, errors = operator_session(browser, service, DESKTOP)
    try:
        # The slot's card: share pages on, links living 3 days, saved.
        page.locator("#tab-local").click()
        card = page.locator(f"#slot-local-{SLOT}")
        card.locator('[data-bind="share_pages"]').check()
        card.locator('[data-bind="share_days"]').fill("3")
        card.locator('[data-bind="share_days"]').dispatch_event("change")
        card.locator(".save").click()
        expect(card.locator(".save")).to_be_disabled(timeout=8000)
        card.screenshot(path=str(shots / "share_card_desktop.png"))
        saved = service.slot("local", SLOT)
        assert saved["share_pages"] is True and saved["share_days"] == 3

        job_id = _booth_photo(service, ready_slot)
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        share = _open_job(page, job_id)
        expect(share).to_have_attribute("data-state", "none")
        share.get_by_role("button", name="Make share link").click()
        expect(share).to_have_attribute("data-state", "live")
        share.get_by_role("button", name="Copy").click()
        expect(share.locator(".share-msg")).to_have_text("Copied")
        url = page.evaluate("navigator.clipboard.readText()")
        assert url == service.api("GET", f"/api/jobs/{job_id}/share").json()["url"]
        assert url.startswith(f"{service.base}/s/") and share.locator(".share-link").input_value() == url
        page.locator("#viewer .viewer-share").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "share_viewer_desktop.png"))

        # A guest's browser, no credentials: the result, a download, nothing blocked.
        for options, name in ((DESKTOP, "share_page_desktop.png"), (PHONE, "share_page_phone.png")):
            gctx, guest, problems = guest_session(browser, options)
            try:
                response = guest.goto(url)
                assert response.status == 200
                expect(guest.get_by_role("heading", name="Your photo is ready")).to_be_visible()
                guest.wait_for_function(PHOTO_LOADED)
                if options is PHONE:
                    assert guest.evaluate(NO_SCROLL)
                    box = guest.locator("img.photo").bounding_box()
                    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
                guest.screenshot(path=str(shots / name), full_page=True)
                with guest.expect_download() as download:
                    guest.get_by_role("link", name="Download photo").click()
                assert download.value.suggested_filename == "photo-result.jpg"
                assert not problems, problems
            finally:
                gctx.close()

        gctx, guest, problems = guest_session(browser, PHONE, locale="ru-RU")
        try:
            guest.goto(url)
            expect(guest.get_by_role("heading", name="Ваше фото готово")).to_be_visible()
            expect(guest.get_by_role("link", name="Скачать фото")).to_be_visible()
            guest.wait_for_function(PHOTO_LOADED)
            guest.screenshot(path=str(shots / "share_page_phone_ru.png"), full_page=True)
        finally:
            gctx.close()

        # Revoked from the viewer: the same link is a 404 for the guest.
        share.get_by_role("button", name="Revoke").click()
        expect(share).to_have_attribute("data-state", "none")
        gctx, guest, _ = guest_session(browser, PHONE)
        try:
            response = guest.goto(url)
            assert response.status == 404
            expect(guest.get_by_role("heading", name="Page not found")).to_be_visible()
            assert guest.evaluate(NO_SCROLL)
            guest.screenshot(path=str(shots / "share_revoked_phone.png"), full_page=True)
            assert guest.goto(url + "/result").status == 404
        finally:
            gctx.close()
        assert not errors, errors
    finally:
        ctx.close()


def test_the_viewer_share_block_fits_a_phone(browser: Browser, service: Service, ready_slot,
                                             shots) -> None:
    service.api("PUT", f"/api/slots/local/{SLOT}",
                json={"type": "background", "enabled": True, "name": "Share test",
                      "share_pages": True})
    job_id = _booth_photo(service, ready_slot)
    assert service.api("POST", f"/api/jobs/{job_id}/share").status_code == 200
    ctx, page, errors = operator_session(browser, service, PHONE)
    try:
        share = _open_job(page, job_id)
        expect(share).to_have_attribute("data-state", "live")
        share.scroll_into_view_if_needed()
        assert page.evaluate(NO_SCROLL)
        page.screenshot(path=str(shots / "share_viewer_phone.png"))
        # A slot with share pages off says so instead of offering a link.
        service.api("PUT", f"/api/slots/local/{SLOT}",
                    json={"type": "background", "enabled": True, "name": "Share test"})
        page.locator("#viewer .viewer-close").click()
        share = _open_job(page, job_id, stats_open=True)
        expect(share).to_have_attribute("data-state", "off")
        expect(share.locator(".share-off")).to_contain_text("Share pages are off for this slot")
        assert page.evaluate(NO_SCROLL)
        assert not errors, errors
    finally:
        ctx.close()
