"""Event galleries in a real browser against the real service (issue 15, item 3): the
operator makes a gallery of one slot in the Statistics panel, copies its link, downloads
every photo as one ZIP built in the page (each entry's bytes checked against the stored
result), and revokes it; a guest's browser WITHOUT credentials opens the link on a desktop
and on a phone (390 px, English and Russian), sees the slot's done booth photos only (not
its Try it run, its failed photo or another slot's photo), opens one and downloads it, and
after the revocation gets the 404. Screenshots: test-output/browser/gallery_*."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Service, beach, green_screen_photo, guest_session, operator_session

pytestmark = pytest.mark.browser

SLOT, OTHER = 7, 8  # this module's Local slots
NO_SCROLL = "() => document.documentElement.scrollWidth <= 390 && window.innerWidth === 390"
THUMBS_LOADED = ("() => { const all = [...document.querySelectorAll('.thumb img')];"
                 " return all.length > 0 && all.every((i) => i.complete && i.naturalWidth > 0); }")
PHOTO_LOADED = ("() => { const i = document.querySelector('img.photo');"
                " return !!i && i.complete && i.naturalWidth > 0; }")
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}
DESKTOP = {"viewport": {"width": 1440, "height": 900}}


def _job_done(service: Service, job_id: str) -> dict:
    deadline = time.monotonic() + 10
    while True:
        job = service.api("GET", f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, "the job never finished"
        time.sleep(0.05)


def _booth_photo(service: Service, slot: dict, photo: bytes) -> str | None:
    password = service.api("GET", "/api/stats").json()["upload_password"]
    fields = {"password": password, "time": str(int(time.time())), "id": "CY04N068111304S2L_1.",
              "user_id": "Acer", "name": "DESKTOP-K968T3F", "model": "Windows", "version": "3.30.2"}
    r = httpx.post(slot["upload_url"], data=fields, timeout=30,
                   files={"fileToUpload": ("IMG_0007.JPG", photo, "image/jpeg")})
    assert r.status_code in (200, 502), r.text
    return r.headers.get("x-boothai-job")


@pytest.fixture(scope="module")
def event(service: Service) -> dict:
    """Slot 7 with three done booth photos, one failed one and a Try it run; slot 8 with a
    photo of its own."""
    for index, name in ((SLOT, "Wedding booth"), (OTHER, "Other booth")):
        r = service.api("PUT", f"/api/slots/local/{index}/reference",
                        files={"file": ("beach.jpg", beach(), "image/jpeg")})
        assert r.status_code == 200, r.text
        r = service.api("PUT", f"/api/slots/local/{index}",
                        json={"type": "background", "enabled": True, "name": name})
        assert r.status_code == 200, r.text
    slot, other = service.slot("local", SLOT), service.slot("local", OTHER)
    done = []
    for n in range(3):
        job_id = _booth_photo(service, slot, green_screen_photo((800 + 40 * n, 600)))
        assert _job_done(service, job_id)["status"] == "done"
        done.append(job_id)
    assert _booth_photo(service, slot, beach()) is None  # no screen: the job fails
    failed = service.api("GET", "/api/stats").json()["recent_jobs"][0]
    assert failed["status"] == "failed"
    tried = service.api("POST", f"/api/slots/local/{SLOT}/test",
                        files={"file": ("t.jpg", green_screen_photo(), "image/jpeg")})
    assert tried.status_code == 200, tried.text
    elsewhere = _booth_photo(service, other, green_screen_photo())
    _job_done(service, elsewhere)
    return {"done": done, "hidden": [failed["job_id"], tried.headers["x-boothai-job"], elsewhere]}


def _galleries(page: Page):
    page.get_by_role("button", name="Statistics").click()
    section = page.locator("#galleries")
    expect(section.get_by_role("heading", name="Event galleries")).to_be_visible()
    expect(section.locator(".gallery-form")).to_be_visible()
    return section


def test_make_download_all_open_as_a_guest_and_revoke(browser: Browser, service: Service,
                                                     event, shots) -> None:
    ctx, page, errors = operator_session(browser, service, DESKTOP)
    try:
        section = _galleries(page)
        section.locator(".gallery-name").fill("Anna & Max")
        section.locator(".gallery-slot", has_text="Wedding booth").locator("input").check()
        section.locator(".gallery-days").fill("5")
        section.get_by_role("button", name="Make gallery").click()
        expect(section.locator(".gallery-msg")).to_have_text(
            "Gallery made: copy its link for the guests")
        item = section.locator(".gallery-item", has_text="Anna & Max")
        expect(item).to_have_count(1)
        [made] = service.api("GET", "/api/galleries").json()["galleries"]
        assert made["slots"] == [f"local#{SLOT:02d}"]
        assert abs(made["expires_at"] - (time.time() + 5 * 86400)) < 120
        expect(item.locator(".gallery-title")).to_have_text("Anna & Max")
        item.get_by_role("button", name="Copy").click()
        expect(item.locator(".item-msg")).to_have_text("Copied")
        url = page.evaluate("navigator.clipboard.readText()")
        assert url == made["url"] and url.startswith(f"{service.base}/g/")
        section.scroll_into_view_if_needed()
        section.screenshot(path=str(shots / "gallery_panel_desktop.png"))

        # Download all: one ZIP made in the page; every entry is the stored result.
        with page.expect_download(timeout=30000) as download:
            item.get_by_role("button", name="Download all").click()
        assert download.value.suggested_filename == "Anna & Max.zip"
        archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
        assert archive.testzip() is None
        names = archive.namelist()
        assert len(names) == 3 and names == sorted(names)  # taken order
        for job_id in event["done"]:
            [name] = [n for n in names if n.endswith(f"_{job_id}.jpg")]
            assert name.split("_")[2] == f"local-{SLOT:02d}"
            stored = service.api("GET", f"/api/jobs/{job_id}/result").content
            assert archive.read(name) == stored
            assert archive.getinfo(name).compress_type == zipfile.ZIP_STORED
        expect(section.locator(".gallery-msg")).to_have_text("Saved 3 photo(s) in 1 ZIP file(s).")

        # A guest's browser, no credentials: the three photos, newest first, and nothing else.
        for options, name in ((DESKTOP, "gallery_page_desktop.png"), (PHONE, "gallery_page_phone.png")):
            gctx, guest, problems = guest_session(browser, options)
            try:
                assert guest.goto(url).status == 200
                expect(guest.get_by_role("heading", name="Anna & Max")).to_be_visible()
                guest.wait_for_function(THUMBS_LOADED)
                hrefs = guest.locator(".thumb").evaluate_all("(all) => all.map((a) => a.pathname)")
                assert hrefs == [f"/g/{url.rsplit('/', 1)[1]}/p/{j}" for j in event["done"][::-1]]
                if options is PHONE:
                    assert guest.evaluate(NO_SCROLL)
                    boxes = [guest.locator(".thumb").nth(i).bounding_box() for i in range(3)]
                    assert len({round(b["y"]) for b in boxes}) == 1  # three across a phone
                    assert all(b["x"] >= 0 and b["x"] + b["width"] <= 390 for b in boxes)
                guest.screenshot(path=str(shots / name), full_page=True)
                guest.locator(".thumb").nth(1).click()
                expect(guest.get_by_role("link", name="Download photo")).to_be_visible()
                guest.wait_for_function(PHOTO_LOADED)
                if options is PHONE:
                    assert guest.evaluate(NO_SCROLL)
                    guest.screenshot(path=str(shots / "gallery_photo_phone.png"), full_page=True)
                with guest.expect_download() as photo:
                    guest.get_by_role("link", name="Download photo").click()
                assert photo.value.suggested_filename == f"photo-{event['done'][1]}.jpg"
                guest.get_by_role("link", name="Older →").click()
                assert guest.url.endswith(f"/p/{event['done'][0]}")
                assert not problems, problems
            finally:
                gctx.close()
        for hidden in event["hidden"]:
            assert httpx.get(f"{url}/p/{hidden}").status_code == 404

        gctx, guest, _ = guest_session(browser, PHONE, locale="ru-RU")
        try:
            guest.goto(url)
            expect(guest.locator("p.until")).to_contain_text("Галерея доступна до")
            guest.wait_for_function(THUMBS_LOADED)
            guest.screenshot(path=str(shots / "gallery_page_phone_ru.png"), full_page=True)
        finally:
            gctx.close()

        # Revoked from the panel (after a "yes"): the same link is the 404 page.
        item.get_by_role("button", name="Revoke").click()
        expect(item.locator(".gallery-confirm")).to_be_visible()
        item.get_by_role("button", name="Yes, revoke").click()
        expect(section.locator(".gallery-item")).to_have_count(0)
        expect(section.locator(".gallery-msg")).to_contain_text("revoked")
        gctx, guest, _ = guest_session(browser, PHONE)
        try:
            assert guest.goto(url).status == 404
            expect(guest.get_by_role("heading", name="Page not found")).to_be_visible()
            assert guest.goto(f"{url}/t/{event['done'][0]}").status == 404
        finally:
            gctx.close()
        assert not errors, errors
    finally:
        ctx.close()


def test_the_galleries_section_fits_a_phone_and_speaks_russian(
        browser: Browser, service: Service, event, shots) -> None:
    made = service.api("POST", "/api/galleries",
                       json={"name": "Выпускной 11 «Б» — очень длинное название праздника",
                             "slots": [f"local#{SLOT:02d}", f"local#{OTHER:02d}"]})
    assert made.status_code == 201, made.text
    ctx, page, errors = operator_session(browser, service, PHONE)
    try:
        section = _galleries(page)
        expect(section.locator(".gallery-item")).to_have_count(1)
        section.locator(".gallery-item").scroll_into_view_if_needed()
        assert page.evaluate(NO_SCROLL)
        page.screenshot(path=str(shots / "gallery_panel_phone.png"))
        # A form sent without a slot says what is missing, in the page's language.
        page.keyboard.press("Escape")  # the panel is modal: the language buttons are behind it
        page.get_by_role("button", name="RU").click()
        page.locator("#open-stats").click()
        expect(section.get_by_role("heading", name="Галереи мероприятий")).to_be_visible()
        section.locator(".gallery-name").fill("Без слота")
        section.get_by_role("button", name="Создать галерею").click()
        expect(section.locator(".gallery-msg")).to_have_text("Отметьте хотя бы один слот.")
        assert page.evaluate(NO_SCROLL)
        section.screenshot(path=str(shots / "gallery_panel_phone_ru.png"))
        assert not errors, errors
    finally:
        ctx.close()
        service.api("DELETE", f"/api/galleries/{made.json()['gallery_id']}")


def test_a_large_event_pages_sixty_at_a_time_on_a_phone(browser: Browser, service: Service,
                                                       shots) -> None:
    index = 9
    r = service.api("PUT", f"/api/slots/local/{index}/reference",
                    files={"file": ("beach.jpg", beach((400, 300)), "image/jpeg")})
    assert r.status_code == 200, r.text
    assert service.api("PUT", f"/api/slots/local/{index}",
                       json={"type": "background", "enabled": True}).status_code == 200
    slot = service.slot("local", index)
    made = [_booth_photo(service, slot, green_screen_photo((400, 300))) for _ in range(62)]
    _job_done(service, made[-1])
    gallery = service.api("POST", "/api/galleries",
                          json={"name": "Big night", "slots": [f"local#{index:02d}"]}).json()
    gctx, guest, problems = guest_session(browser, PHONE)
    try:
        guest.goto(gallery["url"])
        expect(guest.locator(".thumb")).to_have_count(60)
        assert guest.evaluate(NO_SCROLL)
        expect(guest.get_by_role("link", name="Newest photos")).to_have_count(0)
        guest.get_by_role("link", name="Older photos").scroll_into_view_if_needed()
        guest.screenshot(path=str(shots / "gallery_pager_phone.png"))
        guest.get_by_role("link", name="Older photos").click()
        expect(guest.locator(".thumb")).to_have_count(2)
        hrefs = guest.locator(".thumb").evaluate_all("(all) => all.map((a) => a.pathname)")
        assert [h.rsplit("/", 1)[1] for h in hrefs] == [made[1], made[0]]
        expect(guest.get_by_role("link", name="Older photos")).to_have_count(0)
        guest.wait_for_function(THUMBS_LOADED)
        assert guest.evaluate(NO_SCROLL)
        guest.screenshot(path=str(shots / "gallery_last_page_phone.png"), full_page=True)
        guest.get_by_role("link", name="Newest photos").click()
        expect(guest.locator(".thumb")).to_have_count(60)
        assert not problems, problems
    finally:
        gctx.close()
        service.api("DELETE", f"/api/galleries/{gallery['gallery_id']}")
