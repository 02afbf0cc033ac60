"""Late results in a real browser against the real service (issue 15): a slot card's answer
when the booth's window runs out — each choice saved and kept over a reload, a QR choice
switching share pages on and saying so, the Russian line prefilled in Russian, the refusal of
a QR without share pages worded in Russian — and a late job marked in the statistics, the
job list and the job viewer; desktop and a 390 px phone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Browser, Page, expect

from shared import object_keys
from shared.config import Settings
from shared.domain import (
    LATE_TEXT_DEFAULTS,
    Job,
    JobSource,
    JobStatus,
    ProcessingType,
    ProviderName,
    new_job_id,
)
from shared.services import Services, build_services
from tests.browser.conftest import Service, beach, green_screen_photo, operator_page

pytestmark = pytest.mark.browser

NO_SCROLL = "() => document.documentElement.scrollWidth <= 390 && window.innerWidth === 390"
BACKGROUND = {"name": "", "type": "background", "prompt": "", "enabled": False}
# The Russian UI's wording of the share_pages_off refusal (frontend/static/i18n.js).
RU_SHARE_PAGES_OFF = "QR-код открывает страницу фото: включите для этого слота страницы для гостей."


@pytest.fixture
def desktop(browser: Browser, service: Service) -> Iterator[Page]:
    yield from operator_page(browser, service, {"width": 1440, "height": 900})


@pytest.fixture
def phone(browser: Browser, service: Service) -> Iterator[Page]:
    yield from operator_page(browser, service, {"width": 390, "height": 844}, device_scale_factor=2,
                     is_mobile=True, has_touch=True)


def local_card(page: Page, index: int):
    page.locator("#tab-local").click()
    card = page.locator(f"#slot-local-{index}")
    card.scroll_into_view_if_needed()
    return card


def reload(page: Page) -> None:
    page.reload()
    page.wait_for_selector("body[data-ready=true]")


def save(card) -> None:
    card.locator(".save").click()
    expect(card.locator(".card-foot .msg")).to_have_text("Saved")


def late_fields(service: Service, index: int) -> dict:
    slot = service.slot("local", index)
    return {k: slot[k] for k in ("when_late", "late_limit_seconds", "late_text", "qr_on_results",
                                 "share_pages")}


def test_each_choice_is_saved_and_kept_over_a_reload(desktop: Page, service: Service, shots) -> None:
    page = desktop
    assert service.api("PUT", "/api/slots/local/4", json=BACKGROUND).status_code == 200
    reload(page)  # the page was opened before the slot had its type
    card = local_card(page, 4)
    choice = card.locator('[data-bind="when_late"]')
    limit = card.locator('[data-bind="late_limit_seconds"]')
    text = card.locator('[data-bind="late_text"]')
    qr = card.locator('[data-bind="qr_on_results"]')
    share = card.locator('[data-bind="share_pages"]')
    # As always until the operator says otherwise: an error, nothing more to set.
    expect(choice).to_have_value("error")
    expect(limit).to_be_hidden()
    expect(text).to_be_hidden()
    expect(qr).not_to_be_checked()
    expect(share).not_to_be_checked()

    # The original: how long the job may keep working appears, no text, no share pages needed.
    choice.select_option("original")
    expect(limit).to_be_visible()
    expect(limit).to_have_value("180")
    expect(text).to_be_hidden()
    limit.fill("240")
    save(card)
    assert late_fields(service, 4) == {"when_late": "original", "late_limit_seconds": 240,
                                       "late_text": "", "qr_on_results": False,
                                       "share_pages": False}
    reload(page)
    card = local_card(page, 4)
    expect(card.locator('[data-bind="when_late"]')).to_have_value("original")
    expect(card.locator('[data-bind="late_limit_seconds"]')).to_have_value("240")

    # The original with a QR code: share pages switch on and the card says so; the line under
    # the code is prefilled in the UI's language.
    card.locator('[data-bind="when_late"]').select_option("original_qr")
    expect(card.locator('[data-bind="share_pages"]')).to_be_checked()
    note = card.locator(".late-share-note")
    expect(note).to_have_text("Share pages switched on: the QR code opens the photo's share page.")
    text = card.locator('[data-bind="late_text"]')
    expect(text).to_be_visible()
    expect(text).to_have_value(LATE_TEXT_DEFAULTS["en"])
    text.fill("Scan me for the AI version")
    card.locator(".late-options").scroll_into_view_if_needed()
    page.screenshot(path=shots / "late_01_card_qr_desktop.png")
    save(card)
    expect(note).to_be_hidden()  # saved: nothing left to explain
    assert late_fields(service, 4) == {"when_late": "original_qr", "late_limit_seconds": 240,
                                       "late_text": "Scan me for the AI version",
                                       "qr_on_results": False, "share_pages": True}
    reload(page)
    card = local_card(page, 4)
    expect(card.locator('[data-bind="when_late"]')).to_have_value("original_qr")
    expect(card.locator('[data-bind="late_text"]')).to_have_value("Scan me for the AI version")
    expect(card.locator('[data-bind="share_pages"]')).to_be_checked()

    # Back to an error, with the QR code on every AI result: the limit and text are hidden,
    # what was typed stays saved for next time.
    card.locator('[data-bind="when_late"]').select_option("error")
    expect(card.locator('[data-bind="late_limit_seconds"]')).to_be_hidden()
    card.locator(".late-options .switch").click()
    expect(card.locator('[data-bind="qr_on_results"]')).to_be_checked()
    save(card)
    reload(page)
    card = local_card(page, 4)
    expect(card.locator('[data-bind="when_late"]')).to_have_value("error")
    expect(card.locator('[data-bind="qr_on_results"]')).to_be_checked()
    assert late_fields(service, 4) == {"when_late": "error", "late_limit_seconds": 240,
                                       "late_text": "Scan me for the AI version",
                                       "qr_on_results": True, "share_pages": True}


def test_the_qr_code_ticks_share_pages_on_a_fresh_card_and_a_bad_limit_is_named(
        desktop: Page, service: Service) -> None:
    page = desktop
    assert service.api("PUT", "/api/slots/local/5", json=BACKGROUND).status_code == 200
    reload(page)  # the page was opened before the slot had its type
    card = local_card(page, 5)
    share = card.locator('[data-bind="share_pages"]')
    card.locator(".late-options .switch").click()  # the QR code on every result
    expect(share).to_be_checked()
    expect(card.locator(".late-share-note")).to_be_visible()
    # Share pages unticked by hand: the card warns before the save.
    card.locator(".share-options .switch").click()
    expect(share).not_to_be_checked()
    expect(card.locator(".late-share-note")).to_have_text(
        "A QR code opens the photo's share page: switch share pages on, or the slot will not save.")
    card.locator(".share-options .switch").click()
    card.locator('[data-bind="when_late"]').select_option("original")
    card.locator('[data-bind="late_limit_seconds"]').fill("601")
    card.locator(".save").click()
    error = card.locator('[data-error="late_limit_seconds"]')
    expect(error).to_be_visible()
    expect(card.locator('[data-bind="late_limit_seconds"]')).to_have_attribute("aria-invalid", "true")
    expect(card.locator('[data-bind="late_limit_seconds"]')).to_be_focused()
    assert late_fields(service, 5)["when_late"] == "error"  # nothing of it was saved
    card.locator('[data-bind="late_limit_seconds"]').fill("600")
    expect(error).to_be_hidden()
    save(card)
    assert late_fields(service, 5)["late_limit_seconds"] == 600


def test_russian_prefill_and_refusal(desktop: Page, service: Service, shots) -> None:
    page = desktop
    assert service.api("PUT", "/api/slots/local/6", json=BACKGROUND).status_code == 200
    reload(page)  # the page was opened before the slot had its type
    page.locator('.lang-btn[data-lang="ru"]').click()
    card = local_card(page, 6)
    card.locator('[data-bind="when_late"]').select_option("original_qr")
    # A Russian operator prints Russian: the domain's own Russian line.
    expect(card.locator('[data-bind="late_text"]')).to_have_value(LATE_TEXT_DEFAULTS["ru"])
    expect(card.locator('[data-bind="share_pages"]')).to_be_checked()
    expect(card.locator(".late-share-note")).to_have_text(
        "Страницы для гостей включены: QR-код открывает страницу фото.")

    # Share pages unticked by hand, then saved: the server refuses, worded in Russian.
    card.locator(".share-options .switch").click()
    expect(card.locator('[data-bind="share_pages"]')).not_to_be_checked()
    card.locator(".save").click()
    refusal = card.locator('[data-error="when_late"]')
    expect(refusal).to_have_text(RU_SHARE_PAGES_OFF)
    expect(card.locator('[data-bind="when_late"]')).to_have_attribute("aria-invalid", "true")
    expect(card.locator(".late-share-note")).to_be_hidden()  # the refusal says it, once
    card.locator(".late-options").scroll_into_view_if_needed()
    page.screenshot(path=shots / "late_02_refusal_ru_desktop.png")
    assert late_fields(service, 6)["when_late"] == "error"

    # The same for the QR code on every result.
    card.locator('[data-bind="when_late"]').select_option("original")
    expect(refusal).to_be_hidden()  # a new choice answers the refusal
    card.locator(".late-options .switch").click()
    card.locator(".share-options .switch").click()  # ticked by the QR code: untick again
    expect(card.locator('[data-bind="share_pages"]')).not_to_be_checked()
    card.locator(".save").click()
    expect(card.locator('[data-error="qr_on_results"]')).to_have_text(RU_SHARE_PAGES_OFF)
    assert late_fields(service, 6)["qr_on_results"] is False

    # A text of its own is not replaced by the default when the QR choice is picked again.
    card.locator(".share-options .switch").click()
    card.locator('[data-bind="when_late"]').select_option("original_qr")
    card.locator('[data-bind="late_text"]').fill("Своя строка")
    card.locator('[data-bind="when_late"]').select_option("original")
    card.locator('[data-bind="when_late"]').select_option("original_qr")
    expect(card.locator('[data-bind="late_text"]')).to_have_value("Своя строка")
    card.locator(".save").click()
    expect(card.locator(".card-foot .msg")).to_have_text("Сохранено")
    assert late_fields(service, 6) == {"when_late": "original_qr", "late_limit_seconds": 180,
                                       "late_text": "Своя строка", "qr_on_results": True,
                                       "share_pages": True}
    page.locator('.lang-btn[data-lang="en"]').click()


def test_the_uis_default_lines_are_the_domains(desktop: Page) -> None:
    strings = desktop.evaluate("""async () => {
        const { STRINGS } = await import("/static/i18n.js");
        return Object.fromEntries(Object.entries(STRINGS).map(([lang, s]) => [lang, s.lateTextDefault]));
    }""")
    assert strings == LATE_TEXT_DEFAULTS


# -- a late job in the statistics and the viewer ---------------------------------------------------
def _seed(services: Services, tenant: str, *, late: bool, index: int) -> str:
    """A booth photo written to the store the way the pipeline leaves it: done, its pictures
    stored; `late`: it finished 90 s after it arrived, the booth long since answered."""
    now = time.time()
    job_id = new_job_id()
    original = object_keys.original(tenant, job_id, now, "image/jpeg")
    result = object_keys.result(tenant, job_id, now, "image/jpeg")
    services.store.put(original, green_screen_photo((640, 480)), "image/jpeg")
    services.store.put(result, beach((640, 480)), "image/jpeg")
    took = 90_000 if late else 4_000
    job = Job(tenant=tenant, job_id=job_id, provider=ProviderName.LOCAL, slot_index=index,
              slot_name="Entrance", source=JobSource.BOOTH, status=JobStatus.DONE,
              type=ProcessingType.BACKGROUND, created_at=now, started_at=now,
              finished_at=now + took / 1000, provider_ms=took - 500, total_ms=took, late=late,
              original_key=original, result_key=result,
              attempts=[{"provider": "local", "outcome": "done", "started_at": now, "ms": took - 500}])

    async def write() -> None:
        await services.repo.put_job(job)
        await services.repo.count(tenant=tenant, provider=ProviderName.LOCAL, done=True,
                                  latency_ms=took, at=now)
        if late:
            await services.repo.count_late(tenant=tenant, provider=ProviderName.LOCAL, at=now)

    _run(write())
    return job_id


def _run(coro):
    """asyncio.run on a thread of its own: Playwright's sync API holds this thread's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="module")
def seeded(service: Service) -> dict:
    """One on-time and one late job of the service's account, written straight into its store
    (the same embedded store the server process reads)."""
    tenant = service.api("GET", "/api/slots").json()["tenant"]
    services = build_services(Settings(data_dir=service.data_dir / "data",
                                       enabled_providers=["local"]))
    try:
        on_time = _seed(services, tenant, late=False, index=7)
        late = _seed(services, tenant, late=True, index=7)
    finally:
        _run(services.aclose())
    return {"on_time": on_time, "late": late}


def test_statistics_list_and_viewer_mark_the_late_job(desktop: Page, seeded: dict, shots) -> None:
    page = desktop
    page.get_by_role("button", name="Statistics").click()
    row = page.locator('#counts tr[data-provider="local"]')
    expect(row.locator("td.today-done .late-count")).to_have_text("(1 late)")
    expect(row.locator("td.total-done .late-count")).to_have_text("(1 late)")
    expect(row.locator("td.today-done")).to_contain_text("2")
    # The other providers had none: nothing said.
    expect(page.locator('#counts tr[data-provider="gemini"] .late-count')).to_have_count(0)
    late_row = page.locator(f'#jobs li[data-job="{seeded["late"]}"]')
    on_time_row = page.locator(f'#jobs li[data-job="{seeded["on_time"]}"]')
    expect(late_row.locator(".late-pill")).to_have_text("late")
    expect(on_time_row).to_be_visible()
    expect(on_time_row.locator(".late-pill")).to_have_count(0)
    page.screenshot(path=shots / "late_03_statistics_desktop.png")

    late_row.locator(".job-open").click()
    viewer = page.locator("#viewer")
    expect(viewer).to_have_attribute("data-ready", "true")
    expect(viewer.locator(".viewer-summary .late-pill")).to_have_text("late")
    page.screenshot(path=shots / "late_04_viewer_desktop.png")
    viewer.locator(".viewer-close").click()
    on_time_row.locator(".job-open").click()
    expect(viewer).to_have_attribute("data-job", seeded["on_time"])
    expect(viewer).to_have_attribute("data-ready", "true")
    expect(viewer.locator(".late-pill")).to_have_count(0)
    viewer.locator(".viewer-close").click()

    # In Russian.
    page.locator("#close-stats").click()
    page.locator('.lang-btn[data-lang="ru"]').click()
    page.locator("#open-stats").click()
    expect(row.locator("td.total-done .late-count")).to_have_text("(1 с опозданием)")
    expect(late_row.locator(".late-pill")).to_have_text("с опозданием")
    page.locator("#close-stats").click()
    page.locator('.lang-btn[data-lang="en"]').click()


def test_a_390px_phone_fits_the_card_the_statistics_and_the_viewer(
        phone: Page, service: Service, seeded: dict, shots) -> None:
    page = phone
    r = service.api("PUT", "/api/slots/local/8", json={
        **BACKGROUND, "share_pages": True, "when_late": "original_qr", "late_limit_seconds": 300,
        "late_text": "x" * 80, "qr_on_results": True})
    assert r.status_code == 200, r.text
    reload(page)
    assert page.evaluate(NO_SCROLL)
    card = local_card(page, 8)
    expect(card.locator('[data-bind="late_text"]')).to_be_visible()
    expect(card.locator('[data-bind="late_limit_seconds"]')).to_have_value("300")
    assert page.evaluate(NO_SCROLL), "the late settings widen the phone page"
    box = card.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    card.locator(".late-options").scroll_into_view_if_needed()
    page.screenshot(path=shots / "late_05_card_phone.png")
    # Picking the QR answer on a fresh card: the note, still within the width.
    card = local_card(page, 9)
    card.locator('[data-bind="type"]').select_option("background")
    card.locator('[data-bind="when_late"]').select_option("original_qr")
    expect(card.locator(".late-share-note")).to_be_visible()
    assert page.evaluate(NO_SCROLL)
    card.locator(".late-options").scroll_into_view_if_needed()
    page.screenshot(path=shots / "late_06_card_qr_note_phone.png")

    page.get_by_role("button", name="Statistics").click()
    expect(page.locator('#counts tr[data-provider="local"] .late-count').first).to_be_visible()
    expect(page.locator(f'#jobs li[data-job="{seeded["late"]}"] .late-pill')).to_be_visible()
    assert page.evaluate(NO_SCROLL), "the late count widens the phone page"
    page.locator(f'#jobs li[data-job="{seeded["late"]}"]').scroll_into_view_if_needed()
    page.screenshot(path=shots / "late_07_statistics_phone.png")
    page.locator(f'#jobs li[data-job="{seeded["late"]}"] .job-open').click()
    expect(page.locator("#viewer")).to_have_attribute("data-ready", "true")
    expect(page.locator("#viewer .late-pill")).to_be_visible()
    assert page.evaluate(NO_SCROLL), "the viewer widens the phone page"
    page.screenshot(path=shots / "late_08_viewer_phone.png")


def test_the_print_preview_shows_the_stamped_photo_and_a_line_cut_to_fit(
        desktop: Page, phone: Page, service: Service, shots, tmp_path) -> None:
    """Before the event: what the booth will print when the window runs out, from a sample
    photo — the code and the card's (unsaved) line, and a warning when a strip's width cuts
    the line. Nothing is stored (the preview's code opens no photo)."""

    from tests.helpers import photos
    from tests.helpers.qr import decode_qr

    assert service.api("PUT", "/api/slots/local/10", json=BACKGROUND).status_code == 200
    page = desktop
    reload(page)
    card = local_card(page, 10)
    card.locator('[data-bind="when_late"]').select_option("original_qr")
    preview = card.locator(".late-preview")
    expect(preview).to_be_visible()
    sample = tmp_path / "guest.jpg"
    sample.write_bytes(photos.plain_photo(1800, 1200))
    card.locator(".late-preview-file").set_input_files(str(sample))
    note = card.locator(".late-preview-note")
    expect(note).to_contain_text("Printed as: “Your AI photo is on its way: scan the code”.")
    page.wait_for_function("() => { const i = document.querySelector('#slot-local-10 .late-preview-img');"
                           " return !!i && i.complete && i.naturalWidth > 0; }")
    preview.scroll_into_view_if_needed()
    page.screenshot(path=shots / "late_09_print_preview_desktop.png")
    # The picture shown is the one the server stamped: its code reads (at the print's size).
    data = page.evaluate("""async () => {
        const img = document.querySelector('#slot-local-10 .late-preview-img');
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        c.getContext('2d').drawImage(img, 0, 0); return c.toDataURL('image/png'); }""")
    import base64

    png = base64.b64decode(data.split(",", 1)[1])
    assert decode_qr(png, print_short_side=683).startswith(f"{service.base}/s/")

    # A strip booth on a phone, with a long line typed but not saved: cut, and said so.
    phone_page = phone
    reload(phone_page)
    card = local_card(phone_page, 10)
    card.locator('[data-bind="when_late"]').select_option("original_qr")
    card.locator('[data-bind="late_text"]').fill("Ваше AI-фото уже в работе: отсканируйте код")
    strip = tmp_path / "strip.jpg"
    strip.write_bytes(photos.plain_photo(600, 1800))
    card.locator(".late-preview-file").set_input_files(str(strip))
    note = card.locator(".late-preview-note")
    expect(note).to_contain_text("too long for this print")
    expect(note).to_have_attribute("data-kind", "warn")
    phone_page.wait_for_function(NO_SCROLL)
    note.scroll_into_view_if_needed()
    phone_page.screenshot(path=shots / "late_10_print_preview_strip_phone.png")
