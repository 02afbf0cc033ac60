"""Serves a filesystem object store's signed `/media/{key}` links, as the app does in
embedded mode, so a fake Turbotext can really download the links a provider hands out."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.errors import NotFound
from shared.signed_links import LinkSigner
from shared.storage.filesystem_store import FilesystemStore


def media_app(root: Path, signer: LinkSigner) -> Starlette:
    store = FilesystemStore(root, signer=signer)
    served: list[str] = []

    async def media(request: Request) -> Response:
        key = request.path_params["key"]
        q = request.query_params
        if not signer.check_media(key, q.get("exp", ""), q.get("sig", "")):
            return Response(status_code=403)
        try:
            data = store.get(key)
        except NotFound:
            return Response(status_code=404)
        served.append(key)
        info = store.head(key)
        return Response(data, media_type=info.content_type if info else "image/jpeg")

    app = Starlette(routes=[Route("/media/{key:path}", media, methods=["GET"])])
    app.state.served = served
    return app
