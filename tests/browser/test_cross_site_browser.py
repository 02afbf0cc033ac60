"""An attacker's page in the operator's own chromium (issue 13, finding 3): it tries to
rotate the upload password with a self-submitting form and to frame the UI, while the
browser holds the operator's credentials. The page lives on `localhost`, the service on
`127.0.0.1`: another site to the browser, as a real attacker's domain would be."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import Browser

from tests.browser.conftest import ADMIN, Service


def _attacker(html: str) -> tuple[ThreadingHTTPServer, str]:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://localhost:{server.server_port}/"


def test_a_forged_form_and_a_frame_from_another_site_do_nothing(browser: Browser,
                                                                service: Service, shots) -> None:
    before = service.api("GET", "/api/stats").json()["upload_password"]
    server, url = _attacker(f"""<!doctype html><title>win a prize</title>
      <iframe id="ui" src="{service.base}/" width="600" height="300"></iframe>
      <form id="f" method="post" action="{service.base}/api/upload-password/rotate"
            target="sink"><input name="x" value="1"></form>
      <iframe name="sink" id="sink" width="600" height="120"></iframe>
      <script>setTimeout(() => document.getElementById("f").submit(), 300)</script>""")
    context = browser.new_context(http_credentials={"username": ADMIN[0], "password": ADMIN[1]})
    try:
        page = context.new_page()
        # The operator is logged in: the UI was used in this browser a moment ago.
        page.goto(service.base + "/")
        page.wait_for_selector("body[data-ready=true]")
        with page.expect_response(lambda r: "/upload-password/rotate" in r.url) as answer:
            page.goto(url)
        assert answer.value.status == 403
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "cross-site-attacker.png"))
        framed = page.frame_locator("#ui").locator("body[data-ready=true]")
        assert framed.count() == 0  # the browser refused to show the UI inside their page
    finally:
        context.close()
        server.shutdown()
    assert service.api("GET", "/api/stats").json()["upload_password"] == before


def test_the_ui_runs_under_its_content_security_policy(browser: Browser, service: Service) -> None:
    """The strict policy blocks nothing the UI needs: no violation while it loads and shows
    the Statistics panel (thumbnails, blob: images come from Try it, covered elsewhere)."""
    context = browser.new_context(http_credentials={"username": ADMIN[0], "password": ADMIN[1]})
    try:
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text)
                if "Content Security Policy" in m.text else None)
        response = page.goto(service.base + "/")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        page.wait_for_selector("body[data-ready=true]")
        page.wait_for_timeout(300)
        assert violations == []
    finally:
        context.close()
