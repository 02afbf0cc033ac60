"""Signed media links for embedded mode: `GET /media/{key}?exp=…&sig=…`.

Turbotext downloads its inputs by URL; on AWS those are presigned S3 links, here the app
serves them itself. A link is valid only for the key it was made for and only until it
expires — and only under the prefixes a link is ever made for (inputs/ and references/ for
providers, edits/ for image-edit API answers).
Not deployed on AWS: template.yaml has no media function.
"""

from __future__ import annotations

from shared import object_keys
from shared.access import Access, Level
from shared.errors import NotFound, Unauthorized
from shared.media import Media, StoredImage
from shared.ports import check_object_key
from shared.signed_links import LinkSigner


class SignedMedia:
    ACCESS = Access(objects={object_keys.INPUTS: Level.READ, object_keys.REFERENCES: Level.READ,
                             object_keys.EDITS: Level.READ})

    @classmethod
    def access(cls) -> Access:
        return cls.ACCESS

    def __init__(self, *, signer: LinkSigner, media: Media) -> None:
        self.signer = signer
        self.media = media

    async def read(self, key: str, *, exp: str, sig: str) -> StoredImage:
        try:
            check_object_key(key)
        except ValueError:
            raise NotFound("no such file") from None
        if not self.signer.check_media(key, exp, sig):
            raise Unauthorized("this link is invalid or has expired")
        if not SignedMedia.ACCESS.object_allows(key, Level.READ):
            raise NotFound("no such file")  # a valid signature, but never for this prefix
        return await self.media.read(key)
