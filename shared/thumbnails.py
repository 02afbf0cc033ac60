"""Thumbnails of the images the operator's pages show small: job originals and results,
slot reference images. Each is made once, when its image is stored, and kept beside it
(object_keys.thumbnail), so the Statistics panel's 50 thumbnails a refresh are 50 small
reads instead of 50 photo decodes (a 60 MP original took 1.3 s each).

Made from the bytes at hand. The booth pipeline makes a job's two after the booth has its
answer, on the one-thread side lane (shared.concurrency.SIDE): each is a JPEG decode
(~5 ms for a 1600 px photo, mostly entropy decoding that a draft scale cannot skip), which
must not sit on the path the booth waits for nor take both cores in a burst. On Lambda
the function's answer leaves when the invocation ends, after the background bookkeeping
is drained (functions/lambda_entry.py, at most DRAIN_SECONDS): there they add their decode
time (a few ms for a JPEG, ~20 ms for a 2K PNG) to the booth's wait, inside its window.
An image stored before thumbnails existed has none: Media.read decodes it as before.
"""

from __future__ import annotations

import logging

from shared import object_keys
from shared.concurrency import run_io, run_side
from shared.errors import NotFound
from shared.images import thumbnail
from shared.ports import ObjectStore

log = logging.getLogger("boothai.thumbnails")

MIME = "image/jpeg"


async def make(store: ObjectStore, key: str, data: bytes, *, max_pixels: int) -> None:
    """Make and store the thumbnail of `data`, the image stored at `key`. Best effort: an
    image without one is still shown, so a failure is logged, never raised into a job."""
    try:
        small = await run_side(lambda: thumbnail(data, max_pixels=max_pixels))
        await run_io(lambda: put(store, key, small))
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.warning("no thumbnail for %s: %r", key, exc)


async def read(store: ObjectStore, key: str) -> bytes | None:
    """The stored thumbnail of the image at `key`, or None when it has none."""
    try:
        return await run_io(lambda: store.get(object_keys.thumbnail(key)))
    except NotFound:
        return None


def put(store: ObjectStore, key: str, small: bytes) -> None:
    """Store `small` as the thumbnail of the image at `key` (blocking)."""
    store.put(object_keys.thumbnail(key), small, MIME)


def delete(store: ObjectStore, key: str) -> None:
    """Delete an image's thumbnail with it (blocking)."""
    store.delete(object_keys.thumbnail(key))
