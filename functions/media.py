"""Signed media links for embedded mode: `GET /media/{key}?exp=…&sig=…` (Turbotext downloads
inputs by link). Only `boothai serve` mounts it: on AWS those links are presigned S3 URLs,
so no Lambda function serves this router."""

from __future__ import annotations

from fastapi import APIRouter, Response

from functions.deps import Media
from functions.errors import PlainTextErrors

router = APIRouter(tags=["media"], route_class=PlainTextErrors, include_in_schema=False)


@router.get("/media/{key:path}", response_class=Response)
async def media(key: str, media: Media, exp: str = "", sig: str = "") -> Response:
    image = await media.read(key, exp=exp, sig=sig)
    return Response(image.data, media_type=image.mime, headers={"Cache-Control": "no-store"})
