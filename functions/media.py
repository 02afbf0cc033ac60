"""Signed media links for embedded mode: `GET /media/{key}?exp=…&sig=…`.

Turbotext downloads inputs by URL; on AWS those are presigned S3 links, here the app serves
them itself. A link is valid only for the key it was made for and only until it expires."""

from __future__ import annotations

from fastapi import APIRouter, Response

from functions.app import create_function_app
from functions.deps import ServicesDep
from functions.errors import PlainTextErrors
from functions.lambda_entry import make_handler
from shared.errors import NotFound, Unauthorized
from shared.ports import check_object_key

router = APIRouter(tags=["media"], route_class=PlainTextErrors, include_in_schema=False)


@router.get("/media/{key:path}", response_class=Response)
async def media(key: str, services: ServicesDep, exp: str = "", sig: str = "") -> Response:
    try:
        check_object_key(key)
    except ValueError:
        raise NotFound("no such file") from None
    if not services.signer.check_media(key, exp, sig):
        raise Unauthorized("this link is invalid or has expired")
    data, mime = await services.media.read(key)
    return Response(data, media_type=mime,
                    headers={"Cache-Control": "no-store"})


app = create_function_app(router)
handler = make_handler(app, "media")
