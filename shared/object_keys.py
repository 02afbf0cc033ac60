"""The object-store key layout, in one place. Every key the core writes is made here, and
the prefixes are what `Access` declarations and template.yaml's lifecycle rules and
policies name.

  originals/{tenant}/{YYYY-MM-DD}/{job}.{ext}    a booth photo as uploaded, before any provider
  results/{tenant}/{YYYY-MM-DD}/{job}.{ext}      the processed photo
  trash/{tenant}/{YYYY-MM-DD}/{job}.{ext}        originals of failed jobs (same path as originals/)
  references/{tenant}/{provider}/{slot:02d}.{ext}  a slot's reference image
  inputs/{tenant}/{job}.{ext}                    a copy a provider downloads by link (Turbotext)
  edits/{tenant}/{request}/{n}.{ext}             an image-edit API output answered as a link
  {key}.thumb.jpg                                a 256 px JPEG of the image at {key}, beside it

A thumbnail lives under its image's prefix, so it expires with it (template.yaml's
lifecycle rules) and is granted with it: no guest's face outlives the photo it came from.
A failed job's original is in trash/ before its thumbnail is made there.

Days are UTC dates.
"""

from __future__ import annotations

from shared.domain import utc_day
from shared.images import extension_for

ORIGINALS = "originals/"
RESULTS = "results/"
TRASH = "trash/"
REFERENCES = "references/"
INPUTS = "inputs/"
EDITS = "edits/"

PREFIXES = (ORIGINALS, RESULTS, TRASH, REFERENCES, INPUTS, EDITS)

def original(tenant: str, job_id: str, created_at: float, mime: str) -> str:
    return f"{ORIGINALS}{tenant}/{utc_day(created_at)}/{job_id}.{extension_for(mime)}"


def result(tenant: str, job_id: str, created_at: float, mime: str) -> str:
    return f"{RESULTS}{tenant}/{utc_day(created_at)}/{job_id}.{extension_for(mime)}"


THUMBNAIL_SUFFIX = ".thumb.jpg"


def thumbnail(key: str) -> str:
    """Where the thumbnail of the image at `key` is stored. The whole key plus a suffix (not
    the key with its extension swapped): a slot's 01.png and 01.jpg keep separate ones."""
    return key + THUMBNAIL_SUFFIX


def trash_for(original_key: str) -> str:
    """Where a failed job's original goes: the same path under trash/."""
    if not original_key.startswith(ORIGINALS):
        raise ValueError(f"not an original: {original_key!r}")
    return TRASH + original_key.removeprefix(ORIGINALS)


def is_original(key: str | None) -> bool:
    return bool(key) and key.startswith(ORIGINALS)


def reference(tenant: str, provider: str, index: int, mime: str) -> str:
    return f"{REFERENCES}{tenant}/{provider}/{index:02d}.{extension_for(mime)}"


def provider_input(tenant: str, job_id: str, mime: str) -> str:
    return f"{INPUTS}{tenant}/{job_id}.{extension_for(mime)}"


def edit_output(tenant: str, request_id: str, index: int, mime: str) -> str:
    return f"{EDITS}{tenant}/{request_id}/{index}.{extension_for(mime)}"
