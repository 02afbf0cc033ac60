"""The job viewer and the Local key tolerance in a real browser against the real service: a
booth upload opened from the Statistics list by click and by keyboard, both images at full
resolution, downloads as attachments, a failed job's original from trash, the tolerance
slider's live preview, and a 390 px phone with the viewer open."""

from __future__ import annotations

import base64
import io
import re
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Service, beach, green_screen_photo, operator_page
from tests.helpers import photos

pytestmark = pytest.mark.browser

SLOT = 3  # this module's Local slot
# 390 and innerWidth === 390: a too-wide phone page zooms out and innerWidth grows with it.
NO_SCROLL = "() => document.documentElement.scrollWidth <= 390 && window.innerWidth === 390"
IMAGES_LOADED = ("() => { const imgs = [...document.querySelectorAll('#viewer img')];"
                 " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }")


def booth_post(url: str, password: str, photo: bytes) -> httpx.Response:
    fields = {"password": password, "time": str(int(time.time())), "id": "CY04N068111304S2L_00000001.",
              "user_id": "Acer", "name": "DESKTOP-K968T3F", "model": "Windows", "version": "3.30.2"}
    return httpx.post(url, data=fields, files={"fileToUpload": ("IMG_0003.JPG", photo, "image/jpeg")},
                      timeout=30)


@pytest.fixture(scope="module")
def jobs(service: Service) -> dict:
    """Local slot 3 ready (a beach behind a green screen, the original on failure), one booth
    photo keyed (done) and then one with no screen in it (failed, the original in trash/)."""
    r = service.api("PUT", f"/api/slots/local/{SLOT}/reference",
                    files={"file": ("beach.jpg", beach(), "image/jpeg")})
    assert r.status_code == 200, r.text
    r = service.api("PUT", f"/api/slots/local/{SLOT}",
                    json={"type": "background", "enabled": True, "fallback_to_original": True})
    assert r.status_code == 200, r.text
    upload_url = r.json()["upload_url"]
    password = service.api("GET", "/api/stats").json()["upload_password"]
    done = booth_post(upload_url, password, green_screen_photo((800, 600)))
    assert done.status_code == 200, done.text
    plain = photos.plain_photo(900, 600)
    failed = booth_post(upload_url, password, plain)
    assert failed.status_code == 200 and failed.headers["x-boothai-original"] == "local_no_screen"
    ids = {"done": done.headers["x-boothai-job"], "failed": failed.headers["x-boothai-job"]}
    deadline = time.monotonic() + 10
    while service.api("GET", f"/api/jobs/{ids['failed']}").json()["original_in_trash"] is False:
        assert time.monotonic() < deadline, "the failed job's original never reached trash/"
        time.sleep(0.05)
    return ids


@pytest.fixture
def desktop(browser: Browser, service: Service) -> Iterator[Page]:
    yield from operator_page(browser, service, {"width": 1440, "height": 900})


@pytest.fixture
def phone(browser: Browser, service: Service) -> Iterator[Page]:
    yield from operator_page(browser, service, {"width": 390, "height": 844}, device_scale_factor=2,
                     is_mobile=True, has_touch=True)


def open_statistics(page: Page):
    page.get_by_role("button", name="Statistics").click()
    expect(page.locator("#stats")).to_be_visible()
    return page.locator("#jobs")


def row(page: Page, job_id: str):
    return page.locator(f'#jobs li[data-job="{job_id}"]')


def stored_size(service: Service, url: str) -> tuple[int, int]:
    return Image.open(io.BytesIO(service.api("GET", url).content)).size


def natural_sizes(page: Page) -> dict[str, tuple[int, int]]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#viewer figure')]
        .filter(f => f.querySelector('img'))
        .map(f => [f.classList.contains('viewer-original') ? 'original' : 'result',
                   [f.querySelector('img').naturalWidth, f.querySelector('img').naturalHeight]]))""")


def image_pixels(page: Page, selector: str) -> np.ndarray:
    """A displayed <img>'s pixels through a canvas (the CSP lets no script fetch blob: URLs)."""
    data = page.evaluate(
        """(sel) => {
            const img = document.querySelector(sel);
            const canvas = document.createElement("canvas");
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
            canvas.getContext("2d").drawImage(img, 0, 0);
            return canvas.toDataURL("image/png").split(",")[1];
        }""", selector)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"), np.int16)


def test_a_job_opens_by_click_with_both_images_full_size(desktop: Page, service: Service, jobs,
                                                         shots) -> None:
    page = desktop
    open_statistics(page)
    job = row(page, jobs["done"])
    expect(job).to_be_visible(timeout=8000)
    job.locator(".job-meta").click()  # anywhere on the row, not only the thumbnails
    viewer = page.get_by_role("dialog", name="Job")
    expect(viewer).to_be_visible()
    expect(page.locator("#viewer[data-ready=true]")).to_have_count(1)
    page.wait_for_function(IMAGES_LOADED)

    detail = service.api("GET", f"/api/jobs/{jobs['done']}").json()
    sizes = natural_sizes(page)
    assert sizes["original"] == list(stored_size(service, detail["original_url"])) == [800, 600]
    assert sizes["result"] == list(stored_size(service, detail["result_url"]))
    expect(viewer.locator(".viewer-original img")).to_have_attribute("src", detail["original_url"])
    expect(viewer.locator(".viewer-result img")).to_have_attribute("src", detail["result_url"])
    # Side by side at this width, each a link to the file itself (full resolution, new tab).
    before, after = (viewer.locator(f".viewer-{w} img").bounding_box() for w in ("original", "result"))
    assert after["x"] >= before["x"] + before["width"] and abs(after["y"] - before["y"]) < 2
    assert before["width"] > 500  # shown large, not as a thumbnail
    assert page.evaluate("() => { const d = document.getElementById('viewer').getBoundingClientRect();"
                         " return d.bottom <= innerHeight && d.right <= innerWidth; }")
    expect(viewer.locator(".viewer-original a.viewer-full")).to_have_attribute("target", "_blank")

    expect(viewer).to_contain_text("Local · slot 3")
    expect(viewer.locator(".status-pill")).to_have_text("done")
    expect(viewer.locator(".viewer-total")).to_contain_text(re.compile(r"Total time: \d+(\.\d)? m?s"))
    attempts = viewer.locator("table.attempts tbody tr")
    expect(attempts).to_have_count(1)
    expect(attempts.first).to_contain_text("Local")
    expect(attempts.first.locator(".outcome")).to_have_text("done")
    expect(attempts.first.locator("td").last).to_have_text(re.compile(r"^\d+(\.\d)? m?s$"))

    # The downloads are attachments named after the job, typed by their bytes.
    for which, label, ext in (("original", "Download original", "jpg"), ("result", "Download result", "jpg")):
        link = viewer.get_by_role("link", name=label)
        expect(link).to_have_attribute("href", f"/api/jobs/{jobs['done']}/{which}?download=1")
        expect(link).to_have_attribute("download", "")
        got = page.request.get(service.base + link.get_attribute("href"))
        assert got.status == 200 and got.headers["content-type"] == "image/jpeg"
        assert got.headers["content-disposition"] == (
            f'attachment; filename="{jobs["done"]}-{which}.{ext}"')
    page.screenshot(path=shots / "viewer_01_desktop.png")

    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(page.locator("#stats")).to_be_visible()  # back in the Statistics panel
    expect(row(page, jobs["done"]).locator(".job-open")).to_be_focused()


def test_a_job_opens_from_the_keyboard(desktop: Page, jobs) -> None:
    page = desktop
    open_statistics(page)
    opener = row(page, jobs["done"]).locator(".job-open")
    expect(opener).to_be_visible(timeout=8000)
    expect(opener).to_have_accessible_name(re.compile(r"^Open the job from .+ \(done\)$"))
    for key in ("Enter", " "):
        opener.focus()
        page.keyboard.press(key)
        expect(page.locator("#viewer[data-ready=true]")).to_be_visible()
        page.wait_for_function(IMAGES_LOADED)
        page.keyboard.press("Escape")
        expect(page.locator("#viewer")).to_be_hidden()
        expect(opener).to_be_focused()


def test_a_failed_job_shows_its_original_from_trash_and_the_reason(desktop: Page, service: Service,
                                                                   jobs, shots) -> None:
    page = desktop
    open_statistics(page)
    expect(row(page, jobs["failed"])).to_be_visible(timeout=8000)
    row(page, jobs["failed"]).locator(".job-open").click()
    viewer = page.locator("#viewer[data-ready=true]")
    expect(viewer).to_be_visible()
    page.wait_for_function(IMAGES_LOADED)
    detail = service.api("GET", f"/api/jobs/{jobs['failed']}").json()
    assert detail["original_url"] and detail["original_in_trash"]
    assert natural_sizes(page) == {"original": [900, 600]}
    expect(viewer.locator(".status-pill")).to_have_text("failed")
    expect(viewer.locator(".viewer-reason")).to_contain_text("local_no_screen")
    expect(viewer.locator(".viewer-reason")).to_contain_text("no green or blue screen found in the photo")
    expect(viewer.locator(".viewer-result")).to_contain_text("No result: the job failed.")
    expect(viewer.locator(".viewer-original")).to_contain_text("Kept in the trash")
    expect(viewer.locator("table.attempts .outcome")).to_have_text(["local_no_screen"])
    got = page.request.get(service.base + viewer.get_by_role("link", name="Download original")
                           .get_attribute("href"))
    assert got.headers["content-disposition"] == f'attachment; filename="{jobs["failed"]}-original.jpg"'
    assert Image.open(io.BytesIO(got.body())).size == (900, 600)
    page.screenshot(path=shots / "viewer_02_failed_desktop.png")

    # In Russian, the viewer's own words follow.
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.locator('.lang-btn[data-lang="ru"]').click()
    page.get_by_role("button", name="Статистика").click()
    row(page, jobs["failed"]).locator(".job-open").click()
    expect(viewer).to_be_visible()
    expect(viewer.get_by_role("link", name="Скачать исходное")).to_be_visible()
    expect(viewer.locator(".viewer-result")).to_contain_text("Результата нет")
    expect(viewer.locator("table.attempts")).to_contain_text("Попытки")
    page.wait_for_function(IMAGES_LOADED)
    page.screenshot(path=shots / "viewer_03_failed_russian.png")
    page.evaluate("() => localStorage.setItem('boothai.lang', 'en')")


def _sky_pixels(page: Page, selector: str) -> int:
    """Preview pixels that show the slot's background (the beach's sky and sea are blue)."""
    arr = image_pixels(page, selector)
    return int(np.count_nonzero((arr[..., 2] > 140) & (arr[..., 2] > arr[..., 1] + 15)))


def test_the_tolerance_slider_previews_live_and_is_saved(desktop: Page, service: Service, jobs,
                                                         shots) -> None:
    page = desktop
    page.locator("#tab-local").click()
    card = page.locator(f'[data-slot="local-{SLOT}"]')
    control = card.locator(".tolerance")
    expect(control).to_be_visible()
    slider = control.get_by_role("slider", name="Key tolerance")
    expect(slider).to_have_value("50")
    # Cards of other types (and empty ones) have no slider.
    expect(page.locator('[data-slot="local-4"] .tolerance')).to_be_hidden()

    previews: list[int] = []  # each preview request's body size
    page.on("request", lambda r: previews.append(len(r.post_data_buffer or b""))
            if r.url.endswith(f"/local/{SLOT}/preview") else None)
    sample = photos.unevenly_lit_screen(3000, 2000)
    control.locator(".tolerance-file").set_input_files(files=[{
        "name": "sample.jpg", "mimeType": "image/jpeg", "buffer": sample}])
    img = f'[data-slot="local-{SLOT}"] .tolerance-img'
    expect(control).to_have_attribute("data-tolerance", "50", timeout=10_000)
    page.wait_for_function(f"() => document.querySelector('{img}').naturalWidth > 0")
    at_50 = _sky_pixels(page, img)
    expect(control.locator(".tolerance-note")).to_contain_text(re.compile(r"\d+ % of the photo keyed out"))
    # The sample is cut to the preview's size once, in the page: not re-sent whole each time.
    assert len(previews) == 1 and previews[0] < len(sample) / 3, (previews, len(sample))

    # Ten quick steps: one request after the slider rests (debounced), showing the last value.
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    expect(slider).to_have_value("60")
    expect(control).to_have_attribute("data-tolerance", "60", timeout=10_000)
    assert len(previews) == 2, previews
    page.keyboard.press("End")
    expect(control).to_have_attribute("data-tolerance", "100", timeout=10_000)
    page.wait_for_function(f"() => document.querySelector('{img}').complete")
    at_100 = _sky_pixels(page, img)
    assert at_100 > at_50 * 1.2, (at_50, at_100)  # more of the pale screen became the beach
    page.keyboard.press("Home")
    expect(control).to_have_attribute("data-tolerance", "0", timeout=10_000)
    page.wait_for_function(f"() => document.querySelector('{img}').complete")
    at_0 = _sky_pixels(page, img)
    assert at_0 < at_50, (at_0, at_50)
    assert service.api("GET", "/api/stats").json()["recent_jobs"][0]["job_id"] == jobs["failed"]

    # Saved with the slot like the other fields.
    page.keyboard.press("End")
    expect(card.locator(".dirty-mark")).to_be_visible()
    expect(control).to_have_attribute("data-tolerance", "100", timeout=10_000)
    expect(control).not_to_have_attribute("data-busy", "true")
    page.wait_for_function(f"() => document.querySelector('{img}').complete")
    card.scroll_into_view_if_needed()
    page.screenshot(path=shots / "viewer_04_tolerance_desktop.png")
    card.screenshot(path=shots / "viewer_05_tolerance_card.png")
    card.locator(".save").click()
    expect(card.locator(".card-foot .msg")).to_have_text("Saved")
    assert service.slot("local", SLOT)["key_tolerance"] == 100
    # A photo without a screen says what the booth would get.
    control.locator(".tolerance-file").set_input_files(files=[{
        "name": "plain.jpg", "mimeType": "image/jpeg", "buffer": photos.plain_photo(800, 533)}])
    expect(control.locator(".tolerance-note")).to_contain_text(
        "No green or blue screen found at this tolerance: the booth would get the original photo.")
    # Not a photo: the server's refusal, in the card.
    control.locator(".tolerance-file").set_input_files(files=[{
        "name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo"}])
    expect(control.locator(".tolerance-note")).to_contain_text(
        "Preview failed: the upload is not a JPEG or PNG image")
    assert service.api("PUT", f"/api/slots/local/{SLOT}", json={
        "type": "background", "enabled": True, "fallback_to_original": True}).status_code == 200


def test_phone_viewer_is_stacked_without_horizontal_scroll(phone: Page, jobs, shots) -> None:
    page = phone
    open_statistics(page)
    expect(row(page, jobs["done"])).to_be_visible(timeout=8000)
    row(page, jobs["done"]).locator(".job-open").tap()
    viewer = page.locator("#viewer[data-ready=true]")
    expect(viewer).to_be_visible()
    page.wait_for_function(IMAGES_LOADED)
    assert page.evaluate(NO_SCROLL)
    assert page.evaluate("() => { const d = document.getElementById('viewer');"
                         " return d.scrollWidth <= d.clientWidth"
                         " && d.getBoundingClientRect().right <= innerWidth; }")
    before, after = (viewer.locator(f".viewer-{w} img").bounding_box() for w in ("original", "result"))
    assert after["y"] >= before["y"] + before["height"]  # stacked
    assert before["width"] > 300
    page.screenshot(path=shots / "viewer_06_phone.png")
    viewer.locator("table.attempts").scroll_into_view_if_needed()
    assert page.evaluate(NO_SCROLL)
    page.screenshot(path=shots / "viewer_07_phone_attempts.png")
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")

    page.locator("#tab-local").click()
    card = page.locator(f'[data-slot="local-{SLOT}"]')
    card.locator(".tolerance-file").set_input_files(files=[{
        "name": "guest.jpg", "mimeType": "image/jpeg", "buffer": green_screen_photo()}])
    expect(card.locator(".tolerance")).to_have_attribute("data-tolerance", re.compile(r"^\d+$"),
                                                         timeout=10_000)
    card.locator(".tolerance").scroll_into_view_if_needed()
    assert page.evaluate(NO_SCROLL)
    page.screenshot(path=shots / "viewer_08_phone_tolerance.png")
