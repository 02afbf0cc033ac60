"""Public share pages (`/s/{token}`): a guest's photo on their phone, no account, no script.

The page is HTML made here, in English or Russian by Accept-Language, under a policy that
allows only this server's images and stylesheet: no script at all (a running job's page
refreshes itself with a meta refresh), no framing, no form, no referrer, not indexed. Its
images come through the token (`/s/{token}/result`, `/s/{token}/original`), never by
object key. Every miss — unknown, expired or revoked token, share pages switched off — is
the same 404 page. Served by the console function (functions/console.py); GETs only, so the
same-origin rule for writes (functions/same_origin.py) never applies, and no Basic Auth.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from functions.deps import ServicesDep, Shares
from functions.errors import ErrorRoute
from shared import errors as e
from shared.images import extension_for
from shared.usecases.share_pages import PageState, SharedJob

# default-src 'none': nothing but what is named: this server's images and stylesheet.
SHARE_POLICY = ("default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; "
                "form-action 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": SHARE_POLICY,
    "X-Robots-Tag": "noindex, nofollow, noarchive",  # a guest's photo is no search result
    "Cache-Control": "no-store",  # a revoked page must not live on in a cache
    "Vary": "Accept-Language",
}
REFRESH_SECONDS = 5

Lang = Literal["en", "ru"]

WORDS: dict[Lang, dict[str, str]] = {
    "en": {
        "title": "Your photo",
        "done": "Your photo is ready",
        "download": "Download photo",
        "working": "Still working on your photo — this page refreshes by itself.",
        "working_alt": "Your original photo",
        "failed": "We're sorry: the AI version of this photo could not be made this time. "
                  "Here is your original photo.",
        "download_original": "Download the original",
        "result_alt": "Your photo",
        "until": "This page is available until {date}.",
        "missing_title": "Page not found",
        "missing": "This page does not exist or is no longer available.",
    },
    "ru": {
        "title": "Ваше фото",
        "done": "Ваше фото готово",
        "download": "Скачать фото",
        "working": "Фото ещё обрабатывается — страница обновится сама.",
        "working_alt": "Ваше исходное фото",
        "failed": "К сожалению, в этот раз AI-версию фото сделать не удалось. "
                  "Вот ваше исходное фото.",
        "download_original": "Скачать исходное фото",
        "result_alt": "Ваше фото",
        "until": "Страница доступна до {date}.",
        "missing_title": "Страница не найдена",
        "missing": "Такой страницы нет или она больше недоступна.",
    },
}


def pick_language(accept: str | None) -> Lang:
    """The first of en/ru the browser prefers (by q), English when it names neither."""
    best: tuple[float, Lang] | None = None
    for order, part in enumerate((accept or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in WORDS:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or q > best[0]):
            best = (q - order * 1e-6, primary)  # equal q: the first named wins
    return best[1] if best else "en"


def _document(lang: Lang, title: str, body: str, *, refresh: bool = False) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="robots" content="noindex, nofollow">'
            f'{meta}<title>{html.escape(title)}</title>'
            '<link rel="stylesheet" href="/static/share.css"></head>'
            f'<body><main class="share">{body}</main></body></html>')


def render_page(token: str, page: SharedJob, lang: Lang) -> str:
    w = WORDS[lang]
    base = f"/s/{html.escape(token)}"
    until = datetime.fromtimestamp(page.expires_at, UTC).strftime("%Y-%m-%d")
    parts: list[str] = []
    if page.state is PageState.DONE:
        parts += [f'<h1>{w["done"]}</h1>',
                  f'<img class="photo" src="{base}/result" alt="{w["result_alt"]}">',
                  f'<a class="button" href="{base}/result?download=1" download>'
                  f'{w["download"]}</a>']
    elif page.state is PageState.WORKING:
        parts.append(f'<h1 class="working" role="status">{w["working"]}</h1>')
        if page.has_original:
            parts.append(f'<img class="photo" src="{base}/original" alt="{w["working_alt"]}">')
    else:
        parts.append(f'<p class="failed">{w["failed"]}</p>')
        if page.has_original:
            parts += [f'<img class="photo" src="{base}/original" alt="{w["working_alt"]}">',
                      f'<a class="button" href="{base}/original?download=1" download>'
                      f'{w["download_original"]}</a>']
    parts.append(f'<p class="until">{html.escape(w["until"].format(date=until))}</p>')
    return _document(lang, w["title"], "".join(parts),
                     refresh=page.state is PageState.WORKING)


def render_missing(lang: Lang) -> str:
    w = WORDS[lang]
    return _document(lang, w["missing_title"],
                     f'<h1>{w["missing_title"]}</h1><p>{w["missing"]}</p>')


class SharePageErrors(ErrorRoute):
    """Every refusal is the page's own 404 (or the status's), in the visitor's language,
    under the page's headers: nothing says why, so no token can be told from another."""

    def answer(self, request: Request, exc: e.BoothaiError) -> Response:
        status = self.status(exc)
        lang = pick_language(request.headers.get("accept-language"))
        return HTMLResponse(render_missing(lang), status_code=status, headers=PAGE_HEADERS)

    def render(self, exc: e.BoothaiError, status: int) -> Response:  # pragma: no cover
        raise AssertionError("answer() renders every refusal")


router = APIRouter(tags=["share"], route_class=SharePageErrors, include_in_schema=False)


@router.get("/static/share.css", response_class=Response)
async def share_stylesheet(services: ServicesDep) -> Response:
    """The pages' one stylesheet, from wherever they are served: the console serves every
    static file, the ingest function (where a booth's QR code points) only this one."""
    sheet = services.settings.frontend_dir / "static" / "share.css"
    if not sheet.is_file():
        raise e.NotFound("no such file")
    return FileResponse(sheet, media_type="text/css")


@router.get("/s/{token}", response_class=HTMLResponse)
async def share_page(token: str, shares: Shares, request: Request) -> Response:
    page = await shares.page(token)
    lang = pick_language(request.headers.get("accept-language"))
    return HTMLResponse(render_page(token, page, lang), headers=PAGE_HEADERS)


@router.get("/s/{token}/{which}", response_class=Response)
async def share_image(token: str, which: str, shares: Shares, download: bool = False) -> Response:
    image = await shares.image(token, which)
    headers = {**PAGE_HEADERS}
    del headers["Vary"]
    if download:  # a name that says nothing about the account, the slot or the job
        headers["Content-Disposition"] = (f'attachment; filename="photo-{which}.'
                                          f'{extension_for(image.mime)}"')
    return Response(image.data, media_type=image.mime, headers=headers)
