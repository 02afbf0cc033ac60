"""Image edits on Qwen-Image-Edit, OpenAI-compatible (seeds 002/004): `/v1/images/edits`.

The function hands over the form's text fields and image files; this module checks every
field against the API's ranges, validates each image by decoding it (upright, at most
MAX_SIDE), and edits each input on its own (`per_input`): 3 inputs × n=2 → 6 outputs,
grouped by input. Parameters left out take the deployment's defaults (50 steps / true CFG
4.0, or 8 / 1.0 with the Lightning LoRA).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from shared import object_keys
from shared.access import GPU_BACKEND, Access, Level, union
from shared.auth import Authenticator
from shared.concurrency import run_cpu
from shared.config import Settings
from shared.errors import InvalidInput, ModelNotReady, PayloadTooLarge, UnsupportedMedia
from shared.gpu import EditRequest, GpuBackend
from shared.images import encode_as, prepare_photo
from shared.ports import ObjectStore

MAX_IMAGES = 10
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_VARIANTS = 10
MAX_SIDE = 2048  # inputs are downscaled to this before the backend (it works at ~1 MP)
MAX_SIDE_OUT = 2048
MAX_PROMPT_CHARS = 4000
DEFAULT_SIZE = "1024x1024"
OUTPUT_TYPES = ("pil", "pt", "np")
# The openai client's `output_format`, with the PIL format each is written in; compression
# (0-100, the client's `output_compression`) applies to jpeg and webp as their quality.
OUTPUT_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
DEFAULT_COMPRESSION = 100
RESPONSE_FORMATS = ("b64_json", "url")
# How long a `url` answer can be downloaded (OpenAI's own links last 60 minutes); the bucket
# deletes edits/ after a day (template.yaml).
LINK_SECONDS = 3600
# base64 is 4/3 of the bytes; the JSON around the images is small, this covers it.
JSON_OVERHEAD_BYTES = 16 * 1024
# Fields of OpenAI's edit API that Qwen-Image-Edit has nothing for: refused with a 400 naming
# the field rather than accepted and silently ignored (a client asking for a transparent
# background or an inpainting mask would otherwise get an answer that is quietly not that).
# Each maps to the values that mean "nothing asked", which are let through.
UNSUPPORTED_FIELDS: dict[str, tuple[str, ...]] = {
    "mask": (),
    "background": ("auto", "opaque"),
    "quality": ("auto",),
    "input_fidelity": (),
    "partial_images": ("0",),
    # Newer openai clients' animation and vector options.
    "complexity": (),
    "frame_count": (),
    "frame_duration_ms": (),
    "markup": (),
}
# The API has no booth window; this bounds one request on the backend (Modal's default).
API_TIMEOUT_SECONDS = 600.0

N = TypeVar("N", int, float)


@dataclass(frozen=True)
class EditParameters:
    prompt: str
    negative_prompt: str | None
    size: tuple[int, int] | None  # None: each input's aspect ratio at about 1 MP
    n: int
    steps: int | None
    true_cfg_scale: float | None
    max_sequence_length: int
    seed: int | None
    output_format: str = "png"
    output_compression: int = DEFAULT_COMPRESSION
    response_format: str | None = None  # None: b64_json, or links when they would not fit

    @property
    def mime(self) -> str:
        return f"image/{self.output_format}"

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> EditParameters:
        """The form's text fields (stripped) → checked parameters; InvalidInput naming the
        field otherwise. `guidance_scale`, `output_type` and the openai client's `model`,
        `quality`, `background`, … are accepted and ignored, as the module doc says."""
        prompt = fields.get("prompt", "")
        if not prompt:
            raise InvalidInput("Prompt cannot be empty", field="prompt")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InvalidInput(f"prompt is longer than {MAX_PROMPT_CHARS} characters",
                               field="prompt")
        if (fields.get("output_type") or "pil").lower() not in OUTPUT_TYPES:
            raise InvalidInput("output_type must be pil (answers are base64 images)",
                               field="output_type")
        response_format = (fields.get("response_format") or "").lower() or None
        if response_format not in (None, *RESPONSE_FORMATS):
            raise InvalidInput("response_format must be b64_json or url",
                               field="response_format")
        if (fields.get("stream") or "false").lower() in ("true", "1"):
            raise InvalidInput("streaming is not supported", field="stream")
        for name, harmless in UNSUPPORTED_FIELDS.items():
            value = fields.get(name)
            if value is not None and value.lower() not in harmless:
                raise InvalidInput(f"{name} is not supported by Qwen-Image-Edit"
                                   + (f" (only {', '.join(harmless)})" if harmless else ""),
                                   field=name)
        output_format = (fields.get("output_format") or "png").lower()
        if output_format not in OUTPUT_FORMATS:
            raise InvalidInput("output_format must be png, jpeg or webp", field="output_format")
        compression = _number(fields, "output_compression", int, 0, 100)
        _number(fields, "guidance_scale", float, 0, 100)  # validated, then ignored
        return cls(
            prompt=prompt,
            negative_prompt=fields.get("negative_prompt") or None,
            size=parse_size(fields.get("size")),
            n=_number(fields, "n", int, 1, MAX_VARIANTS) or 1,
            steps=_number(fields, "num_inference_steps", int, 1, 150),
            true_cfg_scale=_number(fields, "true_cfg_scale", float, 0, 20),
            max_sequence_length=_number(fields, "max_sequence_length", int, 1, 1024) or 512,
            seed=_number(fields, "seed", int, 0, 2**63 - 1),
            output_format=output_format,
            output_compression=DEFAULT_COMPRESSION if compression is None else compression,
            response_format=response_format,
        )


def _number(fields: Mapping[str, str], name: str, kind: type[N], low: float, high: float) -> N | None:
    raw = fields.get(name, "")
    if raw == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be {'an integer' if kind is int else 'a number'}",
                           field=name) from None
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low:g} and {high:g}", field=name)
    return value


def parse_size(raw: str | None) -> tuple[int, int] | None:
    """`WIDTHxHEIGHT` → (w, h) rounded down to multiples of 16; `auto` → None."""
    raw = (raw or DEFAULT_SIZE).strip().lower()
    if raw == "auto":
        return None
    width, sep, height = raw.partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise InvalidInput("size must look like 1024x1024 (WIDTHxHEIGHT)", field="size")
    w, h = int(width), int(height)
    if not (16 <= w <= MAX_SIDE_OUT and 16 <= h <= MAX_SIDE_OUT):
        raise InvalidInput(f"size must be between 16 and {MAX_SIDE_OUT} on each side",
                           field="size")
    return w - w % 16, h - h % 16


@dataclass(frozen=True)
class UploadedImage:
    data: bytes  # as read: at most MAX_IMAGE_BYTES + 1 (one more tells "too large")
    filename: str | None = None


@dataclass(frozen=True)
class EditResult:
    images: tuple[bytes, ...]  # in the asked output_format, inputs × n, grouped by input
    input_count: int
    seconds: float
    output_format: str = "png"
    urls: tuple[str, ...] | None = None  # links instead of bytes (response_format=url or size)



def new_request_id() -> str:
    """The folder of one request's linked outputs: unguessable, and hex because an object
    key's segments must start with a letter or digit (token_urlsafe starts one in 32 with
    "-" or "_", which the store refuses: a 500 for that request)."""
    return secrets.token_hex(12)

class ImageEdits:
    # Outputs answered as links are written under edits/ and presigned (read) from there.
    ACCESS = Access(objects={object_keys.EDITS: Level.READ | Level.WRITE})

    @classmethod
    def access(cls) -> Access:
        # API-key auth reads the lookups table; the edit itself runs on the GPU backend.
        return union(Authenticator.ACCESS, GPU_BACKEND, cls.ACCESS)

    def __init__(self, *, settings: Settings, gpu: GpuBackend,
                 store: Callable[[], ObjectStore] | None = None) -> None:
        self.settings = settings
        self.gpu = gpu
        # Opened on the first link only: an embedded store needs the signing key, which the
        # Images function otherwise never reads.
        self._open_store = store

    async def edit(self, params: EditParameters, uploads: list[UploadedImage], *,
                   tenant: str = "api") -> EditResult:
        # 0. Links need somewhere to be downloaded from: refused before any GPU run
        if params.response_format == "url" and not self._can_link():
            raise InvalidInput("response_format=url needs BOOTHAI_PUBLIC_BASE_URL (the address "
                               "the links point at) on this deployment", field="response_format")
        # 1. The images: how many, each within its size, each decodable
        if not uploads:
            raise InvalidInput("send at least one image (field images)", field="images")
        if len(uploads) > MAX_IMAGES:
            raise InvalidInput(f"at most {MAX_IMAGES} images per request", field="images")
        images = [await self._prepare(i, upload) for i, upload in enumerate(uploads)]

        # 2. Edit: each input on its own, n variants each (the off backend says why it cannot)
        started = time.monotonic()
        answer = await self.gpu.edit(
            EditRequest(images=images, prompt=params.prompt,
                        negative_prompt=params.negative_prompt, n=params.n, size=params.size,
                        steps=params.steps, true_cfg_scale=params.true_cfg_scale,
                        seed=params.seed, max_sequence_length=params.max_sequence_length,
                        per_input=True),
            timeout=API_TIMEOUT_SECONDS,
        )
        # 3. The answer in the asked format (the backend hands PNG)
        images_out = answer.images
        if params.output_format != "png":
            images_out = tuple(await run_cpu(lambda: [
                encode_as(png, OUTPUT_FORMATS[params.output_format], params.output_compression)
                for png in answer.images]))
        # 4. Bytes in the answer, or links: when asked, or when the answer would not fit in
        #    the platform's response (Lambda: 6 MB, settings.response_body_limit)
        if params.response_format == "url" or (
                params.response_format is None and not self._fits(images_out)):
            urls = await run_cpu(lambda: self._links(tenant, images_out, params.mime))
            return EditResult(images_out, len(images), time.monotonic() - started,
                              params.output_format, urls)
        return EditResult(images_out, len(images), time.monotonic() - started,
                          params.output_format)

    def _can_link(self) -> bool:
        return self._open_store is not None and (
            self.settings.storage == "aws" or bool(self.settings.public_base_url))

    def _fits(self, images: tuple[bytes, ...]) -> bool:
        limit = self.settings.response_body_limit
        if limit is None or not self._can_link():
            return True  # no platform cap (or nowhere to link to): bytes it is
        return sum(4 * ((len(i) + 2) // 3) for i in images) + JSON_OVERHEAD_BYTES <= limit

    def _links(self, tenant: str, images: tuple[bytes, ...], mime: str) -> tuple[str, ...]:
        assert self._open_store is not None
        store = self._open_store()
        request_id = new_request_id()
        urls = []
        for index, data in enumerate(images):
            key = object_keys.edit_output(tenant, request_id, index, mime)
            store.put(key, data, mime)
            urls.append(store.url(key, LINK_SECONDS))
        return tuple(urls)

    async def ready(self) -> str:
        """The backend's kind when it can serve now; ModelNotReady with the reason if not."""
        ok, reason = await self.gpu.ready()
        if not ok:
            raise ModelNotReady(reason or "Model is not ready yet")
        return self.gpu.kind

    async def _prepare(self, index: int, upload: UploadedImage) -> bytes:
        label = f"image {index + 1}" + (f" ({upload.filename})" if upload.filename else "")
        data = upload.data
        if len(data) > MAX_IMAGE_BYTES:
            raise PayloadTooLarge(f"{label} is larger than {MAX_IMAGE_BYTES // 1024 // 1024} MB")
        try:
            photo = await run_cpu(
                lambda: prepare_photo(data, max_side=MAX_SIDE, max_pixels=self.settings.max_pixels))
        except UnsupportedMedia as exc:
            raise InvalidInput(f"Invalid image format at index {index}: {label}: {exc}",
                               field="images") from None
        except PayloadTooLarge as exc:
            raise PayloadTooLarge(f"{label}: {exc}") from None
        return photo.data

