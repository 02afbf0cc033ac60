"""Public event galleries (`/g/{token}`): an event's photos for its guests, no account, no
script.

Like the share page (functions/share.py), whose language choice, headers, stylesheet and
404 it reuses: HTML made here in English or Russian by Accept-Language, under a policy that
allows only this server's images and stylesheet (no script, no framing, no form, no
referrer, not indexed, not cached: a revoked gallery must not live on in a cache).

  /g/{token}                 a grid of thumbnails, newest first, 60 a page (`?before=`)
  /g/{token}/p/{job_id}      one photo: the picture, a download, newer / older arrows
  /g/{token}/i/{job_id}      the picture itself (`?download=1`: as an attachment)
  /g/{token}/t/{job_id}      its stored 256 px thumbnail

Every miss — unknown, expired or revoked token, a job the gallery does not cover — is the
share page's one 404. Served by the console function (functions/console.py); GETs only.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from functions.deps import PublicGalleries
from functions.share import PAGE_HEADERS, Lang, SharePageErrors, pick_language
from shared.images import extension_for
from shared.usecases.gallery_pages import GalleryPage, GalleryPhoto

WORDS: dict[Lang, dict[str, str]] = {
    "en": {
        "photo": "Photo {n}",
        "photo_alt": "A photo from the event",
        "download": "Download photo",
        "older": "Older photos",
        "newest": "Newest photos",
        "newer_photo": "← Newer",
        "older_photo": "Older →",
        "back": "← All photos",
        "empty": "No photos here yet — they appear as they are made.",
        "no_older": "No older photos.",
        "until": "This gallery is available until {date}.",
    },
    "ru": {
        "photo": "Фото {n}",
        "photo_alt": "Фото с мероприятия",
        "download": "Скачать фото",
        "older": "Более ранние фото",
        "newest": "Новые фото",
        "newer_photo": "← Новее",
        "older_photo": "Раньше →",
        "back": "← Все фото",
        "empty": "Фото пока нет — они появятся по мере съёмки.",
        "no_older": "Более ранних фото нет.",
        "until": "Галерея доступна до {date}.",
    },
}


def _document(lang: Lang, title: str, body: str, main_class: str) -> str:
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="robots" content="noindex, nofollow">'
            f'<title>{html.escape(title)}</title>'
            '<link rel="stylesheet" href="/static/share.css"></head>'
            f'<body><main class="{main_class}">{body}</main></body></html>')


def _until(expires_at: int, w: dict[str, str]) -> str:
    date = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d")
    return f'<p class="until">{html.escape(w["until"].format(date=date))}</p>'


def _base(token: str) -> str:
    # The token came from the path and matched a stored one; quoted anyway, as every id.
    return f"/g/{quote(token, safe='')}"


def render_gallery(token: str, page: GalleryPage, lang: Lang) -> str:
    w = WORDS[lang]
    base = _base(token)
    parts = [f"<h1>{html.escape(page.name)}</h1>"]
    if page.job_ids:
        items = []
        for n, raw_id in enumerate(page.job_ids, 1):
            job_id = html.escape(raw_id)  # hex ids of the store; escaped as every value
            label = html.escape(w["photo"].format(n=n))
            items.append(f'<li><a class="thumb" href="{base}/p/{job_id}">'
                         f'<img src="{base}/t/{job_id}" alt="{label}" loading="lazy" '
                         'width="256" height="256"></a></li>')
        parts.append(f'<ul class="thumbs">{"".join(items)}</ul>')
    else:
        parts.append(f'<p class="empty">{w["empty"] if page.first else w["no_older"]}</p>')
    links = []
    if not page.first:
        links.append(f'<a class="button secondary" href="{base}">{w["newest"]}</a>')
    if page.older:
        links.append(f'<a class="button" href="{base}?before={html.escape(page.older)}">{w["older"]}</a>')
    if links:
        parts.append(f'<nav class="pager">{"".join(links)}</nav>')
    parts.append(_until(page.expires_at, w))
    return _document(lang, page.name, "".join(parts), "gallery")


def render_photo(token: str, photo: GalleryPhoto, lang: Lang) -> str:
    w = WORDS[lang]
    base = _base(token)
    image = f"{base}/i/{html.escape(photo.job_id)}"
    arrows = []
    if photo.newer:
        arrows.append(f'<a class="button secondary" rel="prev" href="{base}/p/{html.escape(photo.newer)}">'
                      f'{w["newer_photo"]}</a>')
    if photo.older:
        arrows.append(f'<a class="button secondary" rel="next" href="{base}/p/{html.escape(photo.older)}">'
                      f'{w["older_photo"]}</a>')
    parts = [f'<p class="crumb"><a href="{base}">{w["back"]}</a></p>',
             f"<h1>{html.escape(photo.name)}</h1>",
             f'<img class="photo" src="{image}" alt="{w["photo_alt"]}">',
             f'<a class="button" href="{image}?download=1" download>{w["download"]}</a>']
    if arrows:
        parts.append(f'<nav class="pager">{"".join(arrows)}</nav>')
    parts.append(_until(photo.expires_at, w))
    return _document(lang, photo.name, "".join(parts), "share gallery-photo")


router = APIRouter(tags=["gallery"], route_class=SharePageErrors, include_in_schema=False)


@router.get("/g/{token}", response_class=HTMLResponse)
async def gallery_page(token: str, galleries: PublicGalleries, request: Request,
                       before: str | None = None) -> Response:
    page = await galleries.page(token, before)
    lang = pick_language(request.headers.get("accept-language"))
    return HTMLResponse(render_gallery(token, page, lang), headers=PAGE_HEADERS)


@router.get("/g/{token}/p/{job_id}", response_class=HTMLResponse)
async def gallery_photo(token: str, job_id: str, galleries: PublicGalleries,
                        request: Request) -> Response:
    photo = await galleries.photo(token, job_id)
    lang = pick_language(request.headers.get("accept-language"))
    return HTMLResponse(render_photo(token, photo, lang), headers=PAGE_HEADERS)


def _image_headers() -> dict[str, str]:
    headers = {**PAGE_HEADERS}
    del headers["Vary"]  # an image is the same in every language
    return headers


@router.get("/g/{token}/i/{job_id}", response_class=Response)
async def gallery_image(token: str, job_id: str, galleries: PublicGalleries,
                        download: bool = False) -> Response:
    image = await galleries.image(token, job_id)
    headers = _image_headers()
    if download:  # the job id (hex, checked) tells a guest's downloads apart; nothing else
        headers["Content-Disposition"] = (f'attachment; filename="photo-{job_id}.'
                                          f'{extension_for(image.mime)}"')
    return Response(image.data, media_type=image.mime, headers=headers)


@router.get("/g/{token}/t/{job_id}", response_class=Response)
async def gallery_thumbnail(token: str, job_id: str, galleries: PublicGalleries) -> Response:
    image = await galleries.image(token, job_id, thumb=True)
    return Response(image.data, media_type=image.mime, headers=_image_headers())
