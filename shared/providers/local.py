"""`local`: background replacement by chroma key on the CPU. Needs no key or network, so a
fresh install can serve a real booth.

The guest stands in front of a green (or blue) screen; the slot's reference image is the new
background. A PNG upload that already has transparency (the booth's own AI background
removal) is composited by its alpha directly.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from shared.access import Access
from shared.concurrency import run_cpu
from shared.domain import ProcessingType, ProviderName
from shared.images import encode, load_rgb
from shared.providers.base import BaseProvider, ProviderContext, ProviderImage, ProviderJob
from shared.slot_rules import NEEDS_REFERENCE, Input, TypeRule

# The pipeline hands over the reference image's bytes: Local touches no port.
ACCESS = Access()

# How far the key channel must dominate the other two (0-255) before a pixel counts as
# screen: below LOW fully foreground, above HIGH fully background, a soft ramp between.
KEY_LOW = 18.0
KEY_HIGH = 70.0


def detect_screen(rgb: np.ndarray) -> str:
    """'green' or 'blue', whichever dominates the image border (where the screen is)."""
    border = np.concatenate([rgb[:8].reshape(-1, 3), rgb[-8:].reshape(-1, 3),
                             rgb[:, :8].reshape(-1, 3), rgb[:, -8:].reshape(-1, 3)])
    r, g, b = border[:, 0], border[:, 1], border[:, 2]
    green = np.mean(g - np.maximum(r, b))
    blue = np.mean(b - np.maximum(r, g))
    return "blue" if blue > green else "green"


def chroma_key(
    photo: Image.Image, background: Image.Image, screen: str | None = None
) -> Image.Image:
    """Composite `photo` over `background` (cover-fitted), keying out the screen colour."""
    fg = np.asarray(photo.convert("RGB"), dtype=np.float32)
    screen = screen or detect_screen(fg)
    r, g, b = fg[..., 0], fg[..., 1], fg[..., 2]
    key, other_a, other_b = (g, r, b) if screen == "green" else (b, r, g)
    dominance = key - np.maximum(other_a, other_b)
    alpha = 1.0 - np.clip((dominance - KEY_LOW) / (KEY_HIGH - KEY_LOW), 0.0, 1.0)

    # Soft edges: a slight blur of the matte hides the stair-steps along hair and shoulders.
    matte = Image.fromarray((alpha * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    alpha = np.asarray(matte, dtype=np.float32)[..., None] / 255.0

    # Spill suppression: screen light bounces onto the guest; clamp the key channel to the
    # brighter of the other two so edges and skin lose their green/blue cast.
    channel = 1 if screen == "green" else 2
    limit = np.maximum(fg[..., 0], fg[..., 2] if channel == 1 else fg[..., 1])
    fg[..., channel] = np.minimum(fg[..., channel], limit)
    return _over(fg, alpha, background, photo.size)


def alpha_composite(photo: Image.Image, background: Image.Image) -> Image.Image:
    rgba = photo.convert("RGBA")
    fg = np.asarray(rgba, dtype=np.float32)
    return _over(fg[..., :3], fg[..., 3:4] / 255.0, background, photo.size)


def _over(fg: np.ndarray, alpha: np.ndarray, background: Image.Image, size) -> Image.Image:
    bg = ImageOps.fit(background.convert("RGB"), size, Image.Resampling.LANCZOS)
    out = fg * alpha + np.asarray(bg, dtype=np.float32) * (1.0 - alpha)
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))


class LocalProvider(BaseProvider):
    name = ProviderName.LOCAL
    label = "Local"
    # A chroma key needs the picture to put behind the guest; it reads no words.
    capabilities = {
        ProcessingType.BACKGROUND: TypeRule((NEEDS_REFERENCE,), frozenset({Input.REFERENCE})),
    }
    types_note = "Runs on this server's CPU: background replacement by green/blue screen only."
    max_side = 2400

    async def run(self, job: ProviderJob) -> ProviderImage:
        self.refuse_unready(job)
        photo, reference = job.photo, job.reference
        assert reference is not None  # refuse_unready: background needs the picture
        data = await run_cpu(lambda: self._composite(photo, reference))
        return ProviderImage(data=data, mime="image/jpeg")

    @staticmethod
    def _composite(photo_bytes: bytes, reference_bytes: bytes) -> bytes:
        photo = load_rgb(photo_bytes)
        background = Image.open(io.BytesIO(reference_bytes))
        background = ImageOps.exif_transpose(background)
        has_alpha = photo.mode in ("RGBA", "LA") or "transparency" in photo.info
        compose = alpha_composite if has_alpha else chroma_key
        composed = compose(photo, background)
        return encode(composed, keep_alpha=False, quality=92)[0]


def create(ctx: ProviderContext) -> LocalProvider:
    return LocalProvider()
