"""`local`: background replacement by chroma key on the CPU. Needs no key or network, so a
fresh install can serve a real booth.

The guest stands in front of a green (or blue) screen; the slot's reference image is the new
background. A PNG upload that already has transparency (the booth's own AI background
removal) is composited by its alpha directly.

How it works, for memory and speed (issue 17): all 8-bit, in Pillow's C operations, and the
only full-size temporary a job allocates beyond the decoded photo and the output image is the
uint8 matte (its blur needs the neighbouring rows). The photo is read in bands of `TILE` rows
for the matte, then the picture is done in `TILE`×`TILE` tiles, each judged by the matte
within the blur's reach of it:
  - screen, all 0: the background stays, nothing to do (most of a green-screen photo);
  - subject, all 255: the spill-corrected photo is copied over;
  - edge, anything else: the matte is blurred with a halo wider than the blur reaches (so the
    pixels are the whole-image blur's, bit for bit) and the photo blended by it.
The blend is Pillow's paste with a mask: round((fg·m + bg·(255-m)) / 255) with exact integer
rounding, where the float version computed fg·α + bg·(1-α) + 0.5 (at most 1 level apart; on the
test photos the outputs are identical). The slot's reference cover-fitted to the photo's size
is cached: a booth sends photo after photo of one size onto one background, and the LANCZOS
fit was the dearest step left.

A photo with too little screen at its edges is a named failure (`local_no_screen`,
MIN_SCREEN_EDGE_SHARE), not a "success" that hands the guest's photo back unchanged; the
booth gets the original only where the slot says so. A slot's `key_tolerance` scales how
much green (or blue) a pixel needs to be keyed (key_thresholds), and `preview` shows the
operator what a tolerance does.
"""

from __future__ import annotations

import functools
import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageChops, ImageFilter, ImageOps

from shared.access import Access
from shared.concurrency import run_cpu
from shared.domain import DEFAULT_KEY_TOLERANCE, KEY_TOLERANCE_MAX, ProcessingType, ProviderName
from shared.errors import ProviderFailed
from shared.images import encode, load_rgb
from shared.providers.base import BaseProvider, ProviderContext, ProviderImage, ProviderJob
from shared.slot_rules import NEEDS_REFERENCE, Input, TypeRule

# The pipeline hands over the reference image's bytes: Local touches no port.
ACCESS = Access()

# How far the key channel must dominate the other two (0-255) before a pixel counts as
# screen: below LOW fully foreground, above HIGH fully background, a soft ramp between. These
# are the default tolerance's; a slot's `key_tolerance` scales both (key_thresholds).
KEY_LOW = 18.0
KEY_HIGH = 70.0

# "No green or blue screen found": less than this share of the photo's edges keyed (its matte
# below half there: more background than guest). The guest stands in front of the screen, so
# it shows all around them, at the frame's edges (where detect_screen reads its colour too);
# green things in a photo without one (a sweater, a balloon, a plant) seldom reach the edges,
# however much of the frame they fill. Measured at the default tolerance on the photos of
# tests/helpers/photos.py (tests/shared/providers/test_local_screen.py): a guest before a
# green or blue screen 99 % of the edges keyed, a tight head-and-shoulders shot 68 %, a
# screen lit from one side only 43-66 % (tolerance 0-100); a plain photo 0 %, one with a
# green balloon 0 % (2 % of the frame), a guest in a green sweater 10 % (23 % of the frame,
# more than a close-up's screen: the frame's share could not tell them apart).
MIN_SCREEN_EDGE_SHARE = 0.30
_EDGE = 8  # px, the strips detect_screen reads
NO_SCREEN = "local_no_screen"

# Soft edges: a slight blur of the matte hides the stair-steps along hair and shoulders.
_BLUR = ImageFilter.GaussianBlur(1.2)
# Rows per band and columns per tile. The blur of radius 1.2 (three box passes) reaches 3 px;
# a tile's halo of 8 px makes a blurred tile identical to the same pixels of a whole-image blur.
TILE = 64
_HALO = 8


def key_thresholds(tolerance: int = DEFAULT_KEY_TOLERANCE) -> tuple[float, float]:
    """(LOW, HIGH) for a slot's key tolerance 0..100: both scaled by 2^((50 - t) / 50). The
    default (50) is exactly 18/70 (the key as it was before the setting); 100 halves them
    (9/35: a pale, unevenly lit or creased screen is keyed too, and so is more of a green
    shirt); 0 doubles them (36/140: only a saturated, evenly lit screen is keyed)."""
    scale = 2.0 ** ((DEFAULT_KEY_TOLERANCE - tolerance) / 50)
    return KEY_LOW * scale, KEY_HIGH * scale


@functools.lru_cache(maxsize=KEY_TOLERANCE_MAX + 1)
def _matte_table(tolerance: int = DEFAULT_KEY_TOLERANCE) -> tuple[int, ...]:
    """Matte value (255 = subject) for each clamped dominance 0..255, computed exactly as the
    float version did: 1 - clip((d - LOW) / (HIGH - LOW), 0, 1), times 255, truncated. A
    negative dominance (the key channel not the brightest) is subject like anything below LOW,
    so ImageChops.subtract's clamp at 0 loses nothing."""
    low, high = key_thresholds(tolerance)
    d = np.arange(256, dtype=np.float32)
    alpha = np.float32(1.0) - np.clip((d - np.float32(low)) / np.float32(high - low),
                                      np.float32(0.0), np.float32(1.0))
    return tuple((alpha * np.float32(255)).astype(np.uint8).tolist())


def detect_screen(rgb: np.ndarray) -> str:
    """'green' or 'blue', whichever dominates the image border (where the screen is)."""
    border = np.concatenate([rgb[:8].reshape(-1, 3), rgb[-8:].reshape(-1, 3),
                             rgb[:, :8].reshape(-1, 3), rgb[:, -8:].reshape(-1, 3)])
    return _screen_of_border(border)


def _screen_of_border(border: np.ndarray) -> str:
    # float64: uint8 input would wrap around in the subtraction; the strips are small.
    border = np.asarray(border, dtype=np.float64)
    r, g, b = border[:, 0], border[:, 1], border[:, 2]
    green = np.mean(g - np.maximum(r, b))
    blue = np.mean(b - np.maximum(r, g))
    return "blue" if blue > green else "green"


def _detect_screen_of(photo: Image.Image) -> str:
    """detect_screen on the photo's 8-px border strips, without an array of the whole photo."""
    w, h = photo.size
    boxes = ((0, 0, w, min(8, h)), (0, max(0, h - 8), w, h),
             (0, 0, min(8, w), h), (max(0, w - 8), 0, w, h))
    return _screen_of_border(np.concatenate(
        [np.asarray(_rgb(photo.crop(box))).reshape(-1, 3) for box in boxes]))


def chroma_key(
    photo: Image.Image, background: Image.Image, screen: str | None = None, *,
    tolerance: int = DEFAULT_KEY_TOLERANCE,
) -> Image.Image:
    """Composite `photo` over `background` (cover-fitted), keying out the screen colour."""
    out = _fit(background, photo.size)
    _key_onto(out, photo, _Matte.of(photo, screen, tolerance))
    return out


def alpha_composite(photo: Image.Image, background: Image.Image) -> Image.Image:
    out = _fit(background, photo.size)
    _alpha_onto(out, photo)
    return out


def _fit(background: Image.Image, size: tuple[int, int]) -> Image.Image:
    return ImageOps.fit(background.convert("RGB"), size, Image.Resampling.LANCZOS)


def _rgb(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGB" else img.convert("RGB")


def _rgba(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGBA" else img.convert("RGBA")


@dataclass(frozen=True)
class _Matte:
    """A photo's unblurred matte (255 = subject) and the channels it was keyed on."""

    values: np.ndarray  # uint8, (height, width)
    key: int  # the band of split() that is the screen colour
    others: tuple[int, int]

    @classmethod
    def of(cls, photo: Image.Image, screen: str | None, tolerance: int) -> _Matte:
        w, h = photo.size
        screen = screen or _detect_screen_of(photo)
        # Bands of split(): the key channel and the two others.
        key, others = (1, (0, 2)) if screen == "green" else (2, (0, 1))
        table = _matte_table(tolerance)
        # Band by band. ImageChops.subtract clamps at 0: max(key - brighter, 0).
        matte = np.empty((h, w), np.uint8)
        for y0 in range(0, h, TILE):
            bands = _rgb(photo.crop((0, y0, w, min(h, y0 + TILE)))).split()
            brighter = ImageChops.lighter(bands[others[0]], bands[others[1]])
            matte[y0:y0 + TILE] = np.asarray(ImageChops.subtract(bands[key], brighter).point(table))
        return cls(matte, key, others)

    @property
    def keyed_share(self) -> float:
        """The share of the photo's pixels that become more background than photo."""
        return np.count_nonzero(self.values < 128) / max(1, self.values.size)

    @property
    def edge_share(self) -> float:
        """The same share over the photo's edge strips (MIN_SCREEN_EDGE_SHARE)."""
        m = self.values
        edges = (m[:_EDGE], m[-_EDGE:], m[:, :_EDGE], m[:, -_EDGE:])
        return (sum(np.count_nonzero(e < 128) for e in edges)
                / max(1, sum(e.size for e in edges)))


def _key_onto(out: Image.Image, photo: Image.Image, matte: _Matte) -> None:
    """Key `photo` onto `out` (an RGB image of the same size) by its matte, in place."""
    w, h = photo.size
    key, others = matte.key, matte.others
    matte = matte.values
    for kind, (x0, y0, x1, y1) in _tiles(matte, reach=_HALO):
        fg = _despill(_rgb(photo.crop((x0, y0, x1, y1))), key, others)
        if kind == SUBJECT:
            out.paste(fg, (x0, y0))
            continue
        # The blur over the run and a halo: the same pixels as a blur of the whole matte.
        hy0, hy1, hx0, hx1 = max(0, y0 - _HALO), min(h, y1 + _HALO), max(0, x0 - _HALO), min(w, x1 + _HALO)
        soft = Image.fromarray(matte[hy0:hy1, hx0:hx1]).filter(_BLUR)
        out.paste(fg, (x0, y0), soft.crop((x0 - hx0, y0 - hy0, x1 - hx0, y1 - hy0)))


def _despill(fg: Image.Image, key: int, others: tuple[int, int]) -> Image.Image:
    """Spill suppression: screen light bounces onto the guest; clamp the key channel to the
    brighter of the other two so edges and skin lose their green/blue cast."""
    bands = list(fg.split())
    bands[key] = ImageChops.darker(bands[key], ImageChops.lighter(bands[others[0]],
                                                                  bands[others[1]]))
    return Image.merge("RGB", bands)


def _alpha_onto(out: Image.Image, photo: Image.Image) -> None:
    """Composite a photo with transparency onto `out` by its alpha, in place. Pillow's paste
    takes an RGBA image's own alpha as the mask."""
    w, h = photo.size
    matte = np.empty((h, w), np.uint8)
    for y0 in range(0, h, TILE):
        matte[y0:y0 + TILE] = np.asarray(_rgba(photo.crop((0, y0, w, min(h, y0 + TILE))))
                                         .getchannel("A"))
    for kind, box in _tiles(matte, reach=0):
        fg = _rgba(photo.crop(box))
        if kind == SUBJECT:
            out.paste(fg.convert("RGB"), box[:2])
        else:
            out.paste(fg, box[:2], fg)


SCREEN, SUBJECT, EDGE = 0, 1, 2


def _spread(values: np.ndarray, reach: int, reduce) -> np.ndarray:
    """Each value reduced (min or max) with its neighbours up to `reach` places either side."""
    out = values.copy()
    for shift in range(1, reach + 1):
        reduce(out[shift:], values[:-shift], out=out[shift:])
        reduce(out[:-shift], values[shift:], out=out[:-shift])
    return out


def _tiles(matte: np.ndarray, *, reach: int):
    """(kind, box) for each run of `TILE`-row tiles of one kind but SCREEN, judging each tile
    by the matte within `reach` px of it (what a blur of that reach reads): all 0 is SCREEN
    (the background stays), all 255 SUBJECT, anything else EDGE."""
    h, w = matte.shape
    starts = np.arange(0, w, TILE)
    for y0 in range(0, h, TILE):
        y1 = min(h, y0 + TILE)
        rows = matte[max(0, y0 - reach):min(h, y1 + reach)]
        low, high = rows.min(axis=0), rows.max(axis=0)
        low, high = _spread(low, reach, np.minimum), _spread(high, reach, np.maximum)
        low, high = np.minimum.reduceat(low, starts), np.maximum.reduceat(high, starts)
        kinds = np.where(high == 0, SCREEN, np.where(low == 255, SUBJECT, EDGE))
        edges = np.flatnonzero(np.diff(kinds)) + 1
        bounds = [0, *edges.tolist(), len(kinds)]
        for first, end in zip(bounds, bounds[1:], strict=False):
            if kinds[first] != SCREEN:
                yield int(kinds[first]), (first * TILE, y0, min(w, end * TILE), y1)


class _FittedBackgrounds:
    """The slot's reference, cover-fitted to a photo size: a few of them, by the reference's
    content and the size, at most `max_bytes` in all (Pillow keeps RGB in 4 bytes a pixel).
    Shared by the worker threads."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[bytes, tuple[int, int]], Image.Image] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, reference: bytes, size: tuple[int, int]) -> Image.Image:
        """A fresh copy: the caller composites onto it."""
        key = (hashlib.sha256(reference).digest(), size)
        with self._lock:
            fitted = self._items.get(key)
            if fitted is not None:
                self._items.move_to_end(key)
                return fitted.copy()
        fitted = _fit(ImageOps.exif_transpose(Image.open(io.BytesIO(reference))), size)
        cost = size[0] * size[1] * 4
        if cost <= self.max_bytes:
            with self._lock:
                if key not in self._items:
                    self._items[key] = fitted.copy()
                    self._bytes += cost
                while self._bytes > self.max_bytes:
                    _, dropped = self._items.popitem(last=False)
                    self._bytes -= dropped.width * dropped.height * 4
        return fitted

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


FITTED = _FittedBackgrounds()


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
        photo, reference, tolerance = job.photo, job.reference, job.key_tolerance
        assert reference is not None  # refuse_unready: background needs the picture
        data = await run_cpu(lambda: self._composite(photo, reference, tolerance))
        return ProviderImage(data=data, mime="image/jpeg")

    async def preview(self, photo: bytes, reference: bytes, tolerance: int) -> KeyPreview:
        """What a slot with this tolerance makes of `photo`, composited even when too little
        of it is keyed (the booth would get a `local_no_screen` failure): the operator sees
        how far the key reaches while moving the slider."""
        return await run_cpu(lambda: self._keyed(photo, reference, tolerance))

    @staticmethod
    def _composite(photo_bytes: bytes, reference_bytes: bytes,
                   tolerance: int = DEFAULT_KEY_TOLERANCE) -> bytes:
        """The booth's result; ProviderFailed(local_no_screen) when no screen was found."""
        result = LocalProvider._keyed(photo_bytes, reference_bytes, tolerance, stop_early=True)
        if not result.screen_found:
            raise ProviderFailed(NO_SCREEN, no_screen_message(result.edge_share))
        return result.data

    @staticmethod
    def _keyed(photo_bytes: bytes, reference_bytes: bytes, tolerance: int, *,
               stop_early: bool = False) -> KeyPreview:
        photo = load_rgb(photo_bytes)
        has_alpha = photo.mode in ("RGBA", "LA") or "transparency" in photo.info
        if has_alpha:  # cut out already (the booth's own background removal): no screen to find
            out = FITTED.get(reference_bytes, photo.size)
            _alpha_onto(out, photo)
            return KeyPreview(encode(out, keep_alpha=False, quality=92)[0], 1.0, 1.0)
        matte = _Matte.of(photo, None, tolerance)
        result = KeyPreview(b"", matte.keyed_share, matte.edge_share)
        if stop_early and not result.screen_found:  # the booth's failure: no composite
            return result
        out = FITTED.get(reference_bytes, photo.size)
        _key_onto(out, photo, matte)
        return replace(result, data=encode(out, keep_alpha=False, quality=92)[0])


@dataclass(frozen=True)
class KeyPreview:
    data: bytes  # JPEG
    keyed_share: float  # 0..1, the share of the photo keyed out (1.0 for a cut-out PNG)
    edge_share: float  # 0..1, the same over its edges: what decides screen_found

    @property
    def screen_found(self) -> bool:
        """A screen was found: the booth gets this picture, not a local_no_screen failure."""
        return self.edge_share >= MIN_SCREEN_EDGE_SHARE


def no_screen_message(edge_share: float) -> str:
    return (f"no green or blue screen found in the photo ({edge_share:.0%} of its edges could "
            f"be keyed, a screen behind the guest fills at least {MIN_SCREEN_EDGE_SHARE:.0%}); "
            f"check the screen's lighting and framing, or raise the slot's key tolerance")


def create(ctx: ProviderContext) -> LocalProvider:
    return LocalProvider()
