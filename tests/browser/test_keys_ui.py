"""Keys per operator in a real browser (issue 14): the key bar on the Gemini and Turbotext
tabs of a real `boothai serve` with no deployment keys, its providers pointed at the fakes
(in this process, over loopback). Enter a key, see it masked, check it (the provider's
answer shown: works / rejected / no money), remove it; Russian texts; a 390 px phone stays
390 px wide. Screenshots: test-output/browser/keys_*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ADMIN, Service, serve_boothai
from tests.fakes.gemini_server import INVALID_KEY_MESSAGE, FakeGemini
from tests.fakes.server import run_app_in_thread
from tests.fakes.turbotext_server import NO_MONEY_TEXT, FakeTurbotext
from tests.security.conftest import SECRETS

pytestmark = pytest.mark.browser

GOOD_GEMINI = "AIzaSyBrowserGoodGeminiKey-91c4e7aa2b"
WRONG_GEMINI = "AIzaSyBrowserWrongGeminiKey-0000dead"
GOOD_TURBOTEXT = "browser-turbotext-key-7f3e21"
BROKE_TURBOTEXT = "browser-turbotext-broke-key-5a5a"
SECRETS.update({GOOD_GEMINI, WRONG_GEMINI, GOOD_TURBOTEXT, BROKE_TURBOTEXT})


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict]:
    gemini, turbotext = FakeGemini(GOOD_GEMINI), FakeTurbotext(GOOD_TURBOTEXT)
    turbotext.accept(BROKE_TURBOTEXT)
    turbotext.broke.add(BROKE_TURBOTEXT)
    g_url, g_stop = run_app_in_thread(gemini.app)
    t_url, t_stop = run_app_in_thread(turbotext.app)
    yield {"gemini": gemini, "turbotext": turbotext, "gemini_url": g_url, "turbotext_url": t_url}
    g_stop()
    t_stop()


@pytest.fixture(scope="module")
def keyless(tmp_path_factory: pytest.TempPathFactory, fakes: dict) -> Iterator[Service]:
    """`boothai serve` as a hosted deployment that leaves keys to its operators."""
    data_dir = tmp_path_factory.mktemp("boothai-keys")
    with serve_boothai(data_dir, {
            "BOOTHAI_ENABLED_PROVIDERS": "turbotext,gemini,local",
            "BOOTHAI_GEMINI_BASE_URL": fakes["gemini_url"],
            "BOOTHAI_TURBOTEXT_BASE_URL": fakes["turbotext_url"],
            "BOOTHAI_KEY_CHECKS_ALLOWED": "1000"}, deployment_keys=False,
            log_level="info") as service:
        yield service
    # The server's own log never held a key (it logs at info level here).
    text = (data_dir / "server.log").read_text(errors="replace")
    for key in (GOOD_GEMINI, WRONG_GEMINI, GOOD_TURBOTEXT, BROKE_TURBOTEXT):
        assert key not in text


def _page(browser: Browser, service: Service, *, width: int, height: int,
          lang: str = "en") -> Page:
    for provider in ("gemini", "turbotext"):  # every test starts with no key anywhere
        service.api("DELETE", f"/api/provider-keys/{provider}")
    ctx = browser.new_context(http_credentials={"username": ADMIN[0], "password": ADMIN[1]},
                              locale="ru-RU" if lang == "ru" else "en-US",
                              viewport={"width": width, "height": height})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page._boothai_errors = errors  # type: ignore[attr-defined]
    page.goto(service.base + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#panel-gemini .keybar", state="attached")
    return page


def _close(page: Page) -> None:
    errors = page._boothai_errors  # type: ignore[attr-defined]
    page.context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _bar(page: Page, provider: str):
    return page.locator(f'#panel-{provider} .keybar')


def _save(page: Page, provider: str, key: str) -> None:
    bar = _bar(page, provider)
    bar.locator(".key-input").fill(key)
    bar.locator(".key-save").click()
    expect(bar.locator(".key-state")).to_contain_text(key[-4:])


def _width_ok(page: Page) -> bool:
    # 390 and innerWidth === 390: a too-wide phone page zooms out and innerWidth grows with it.
    return page.evaluate("() => document.documentElement.scrollWidth <= 390 && window.innerWidth === 390")


def test_enter_check_and_remove_a_key(browser: Browser, keyless: Service, fakes: dict,
                                      shots: Path) -> None:
    page = _page(browser, keyless, width=1440, height=900)
    page.locator("#tab-gemini").click()
    bar = _bar(page, "gemini")
    expect(bar.locator(".key-title")).to_have_text("Google Gemini API key:")
    expect(bar.locator(".key-state")).to_have_text("no key — add yours to run these slots")
    expect(bar.locator(".key-check")).to_be_disabled()
    expect(bar.locator(".key-input")).to_have_attribute("type", "password")
    intro = page.locator("#panel-gemini .panel-intro .notice")
    expect(intro).to_contain_text("No Google Gemini API key")
    expect(intro).to_contain_text("you can prepare them now")
    # No key, yet the cards stay editable (slots prepared ahead, issue 14).
    card = page.locator('[data-slot="gemini-1"]')
    expect(card.locator('[data-bind="type"]')).to_be_enabled()
    page.screenshot(path=str(shots / "keys_desktop_no_key.png"), full_page=False)

    # A wrong key: saved, masked, and the check shows Google's own answer.
    _save(page, "gemini", WRONG_GEMINI)
    expect(bar.locator(".key-state")).to_contain_text("yours, ••••dead")
    expect(bar.locator(".key-input")).to_have_value("")
    expect(intro).to_have_count(0)  # the tab is available now
    bar.locator(".key-check").click()
    msg = bar.locator(".key-msg")
    expect(msg).to_have_attribute("data-code", "key_rejected")
    expect(msg).to_have_text(f"Key rejected — Google Gemini said: {INVALID_KEY_MESSAGE}")
    page.screenshot(path=str(shots / "keys_desktop_rejected.png"), full_page=False)

    # The right one: works, and the fake saw exactly that key on models.list.
    _save(page, "gemini", GOOD_GEMINI)
    bar.locator(".key-check").click()
    expect(msg).to_have_attribute("data-code", "ok")
    expect(msg).to_contain_text("Key works — Google Gemini said: Gemini accepted the key")
    assert fakes["gemini"].keys_seen[-2:] == [("models.list", WRONG_GEMINI),
                                              ("models.list", GOOD_GEMINI)]
    # The key is nowhere on the page, only its last four characters.
    html = page.content()
    assert GOOD_GEMINI not in html and WRONG_GEMINI not in html
    page.screenshot(path=str(shots / "keys_desktop_ok.png"), full_page=False)

    # Turbotext: an account with no money left is told so, in Turbotext's words.
    page.locator("#tab-turbotext").click()
    tt = _bar(page, "turbotext")
    _save(page, "turbotext", BROKE_TURBOTEXT)
    tt.locator(".key-check").click()
    expect(tt.locator(".key-msg")).to_have_attribute("data-code", "quota", timeout=15000)
    expect(tt.locator(".key-msg")).to_have_text(
        f"Quota or balance used up — Turbotext said: {NO_MONEY_TEXT}")
    page.screenshot(path=str(shots / "keys_desktop_turbotext_quota.png"), full_page=False)

    # Removed: back to "no key", the notice back on the tab.
    page.locator("#tab-gemini").click()
    bar.locator(".key-remove").click()
    expect(bar.locator(".key-state")).to_have_text("no key — add yours to run these slots")
    expect(bar.locator(".key-remove")).to_be_hidden()
    expect(intro).to_contain_text("No Google Gemini API key")
    _close(page)


def test_russian_texts(browser: Browser, keyless: Service, shots: Path) -> None:
    page = _page(browser, keyless, width=1440, height=900, lang="ru")
    page.locator("#tab-gemini").click()
    bar = _bar(page, "gemini")
    expect(bar.locator(".key-title")).to_have_text("Ключ API Google Gemini:")
    expect(bar.locator(".key-state")).to_have_text("нет ключа — добавьте свой, чтобы слоты работали")
    expect(bar.locator(".key-save")).to_have_text("Сохранить ключ")
    expect(page.locator("#panel-gemini .panel-intro .notice")).to_contain_text("Нет ключа API Google Gemini")
    _save(page, "gemini", WRONG_GEMINI)
    expect(bar.locator(".key-state")).to_contain_text("ваш, ••••dead")
    bar.locator(".key-check").click()
    expect(bar.locator(".key-msg")).to_contain_text("Ключ отклонён — ответ Google Gemini:")
    _save(page, "gemini", GOOD_GEMINI)
    bar.locator(".key-check").click()
    expect(bar.locator(".key-msg")).to_contain_text("Ключ работает")
    page.screenshot(path=str(shots / "keys_desktop_ru.png"), full_page=False)
    # Switching the language re-renders the bar in place.
    page.locator('.lang-btn[data-lang="en"]').click()
    expect(bar.locator(".key-check")).to_have_text("Check key")
    _close(page)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_phone_width_stays_390(browser: Browser, keyless: Service, shots: Path, lang: str) -> None:
    page = _page(browser, keyless, width=390, height=844, lang=lang)
    page.locator("#tab-gemini").click()
    bar = _bar(page, "gemini")
    expect(bar).to_be_visible()
    assert _width_ok(page)
    page.screenshot(path=str(shots / f"keys_phone_{lang}_no_key.png"), full_page=False)
    _save(page, "gemini", WRONG_GEMINI)
    bar.locator(".key-check").click()
    expect(bar.locator(".key-msg")).to_have_attribute("data-code", "key_rejected")
    assert _width_ok(page)
    box = bar.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.screenshot(path=str(shots / f"keys_phone_{lang}_checked.png"), full_page=False)
    _close(page)
