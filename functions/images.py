"""OpenAI-compatible image editing on Qwen-Image-Edit: `POST /v1/images/edits`, `GET /ready`.

The request is the seeds' (002/004) multipart form, and the official `openai` Python client
works against it unchanged (`OpenAI(base_url=".../v1", api_key=KEY).images.edit(...)`):

- files under `images` (the seeds' curl: `-F images=@a.jpg -F images=@b.jpg`), `image[]`
  (the openai client with a list) or `image` (the openai client with one file); 1-10 files,
  each at most 10 MB and decodable as JPEG, PNG or WebP. The whole request is also bounded
  by BOOTHAI_MAX_UPLOAD_MB (413 before it is read).
- `prompt` (required), `negative_prompt`, `size` (`WIDTHxHEIGHT`, 16-2048 per side, rounded
  down to multiples of 16; default 1024x1024; `auto` keeps each input's aspect ratio at about
  1 MP), `n` (1-10 variants *per input image*), `num_inference_steps` (1-150), `true_cfg_scale`,
  `max_sequence_length` (1-1024), `seed` (extra: reproducible outputs).
  `num_inference_steps` / `true_cfg_scale` left out → the deployment's defaults (50 / 4.0, or
  8 / 1.0 when the Lightning LoRA is configured).
- Accepted and ignored: `guidance_scale` (Qwen-Image-Edit uses true CFG only), `output_type`
  (`pil`, `pt`, `np` — the answer is always base64 PNG), and the openai client's `model`,
  `response_format=b64_json`, `quality`, `background`, `output_format=png`, `user`.

Every input is edited on its own (`per_input`): 3 inputs × n=2 → 6 outputs, grouped by
input. Auth: `Authorization: Bearer <api key>` or HTTP Basic `user:<api key>` (or the
operator's own name and password); keys are made in the operator UI or `boothai apikey`.

Errors: `{"detail": {"error": CODE, "message": ...}}` (functions.errors.OpenAIErrors):
400 INVALID_INPUT, 413 INVALID_INPUT (a file over 10 MB or too many pixels),
401 UNAUTHORIZED, 503 MODEL_NOT_READY, 500 GENERATION_ERROR, 504 GENERATION_ERROR (timeout).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from functions.app import create_function_app
from functions.deps import ApiTenant, ServicesDep
from functions.errors import OpenAIErrors
from functions.lambda_entry import make_handler
from shared.concurrency import run_cpu
from shared.errors import InvalidInput, ModelNotReady, PayloadTooLarge, UnsupportedMedia
from shared.images import prepare_photo

router = APIRouter(tags=["images"], route_class=OpenAIErrors)

MAX_IMAGES = 10
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_VARIANTS = 10
MAX_SIDE = 2048  # inputs are downscaled to this before the backend (it works at ~1 MP)
MAX_PROMPT_CHARS = 4000
DEFAULT_SIZE = "1024x1024"
IMAGE_FIELDS = ("images", "image[]", "image")
OUTPUT_TYPES = ("pil", "pt", "np")
# The API has no booth window; this bounds one request on the backend (Modal's default).
API_TIMEOUT_SECONDS = 600.0

_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "detail": {
                        "type": "object",
                        "properties": {
                            "error": {
                                "type": "string",
                                "enum": ["INVALID_INPUT", "UNAUTHORIZED", "MODEL_NOT_READY",
                                         "GENERATION_ERROR"],
                            },
                            "message": {"type": "string"},
                        },
                    }
                },
            }
        }
    }
}

_FILES = {"type": "array", "items": {"type": "string", "format": "binary"}}
_EDIT_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["prompt"],
                    "properties": {
                        "prompt": {"type": "string", "description": "what to change"},
                        "images": {**_FILES, "description": "1-10 images (JPEG, PNG, WebP; "
                                   "10 MB each). Also accepted as `image[]` or `image`."},
                        "image[]": {**_FILES, "description": "the openai client's list form"},
                        "image": {"type": "string", "format": "binary",
                                  "description": "the openai client's single-file form"},
                        "negative_prompt": {"type": "string"},
                        "size": {"type": "string", "default": DEFAULT_SIZE,
                                 "pattern": r"^(\d+x\d+|auto)$",
                                 "description": "WIDTHxHEIGHT, 16-2048 each, multiples of 16"},
                        "n": {"type": "integer", "minimum": 1, "maximum": MAX_VARIANTS,
                              "default": 1, "description": "variants per input image"},
                        "num_inference_steps": {"type": "integer", "minimum": 1, "maximum": 150,
                                                "description": "default 50 (8 with Lightning)"},
                        "guidance_scale": {"type": "number",
                                           "description": "accepted, ignored by Qwen-Image-Edit"},
                        "true_cfg_scale": {"type": "number", "minimum": 0, "maximum": 20,
                                           "description": "default 4.0 (1.0 with Lightning)"},
                        "output_type": {"type": "string", "enum": list(OUTPUT_TYPES),
                                        "default": "pil",
                                        "description": "accepted; answers are base64 PNG"},
                        "max_sequence_length": {"type": "integer", "minimum": 1,
                                                "maximum": 1024, "default": 512},
                        "seed": {"type": "integer", "description": "extra: reproducible output"},
                        "model": {"type": "string", "description": "accepted, ignored"},
                        "response_format": {"type": "string", "enum": ["b64_json"]},
                    },
                }
            }
        },
    }
}

_EDIT_RESPONSE = {
    "description": "the edited images, inputs × n, grouped by input",
    "content": {
        "application/json": {
            "example": {
                "created": 1702814400,
                "data": [{"b64_json": "iVBORw0KGgo..."}],
                "usage": {"processing_time_seconds": 15.23, "input_images": 2,
                          "generated_images": 4},
            }
        }
    },
}


@router.post(
    "/v1/images/edits",
    summary="Edit images with Qwen-Image-Edit (OpenAI-compatible)",
    response_class=JSONResponse,
    responses={
        200: _EDIT_RESPONSE,
        400: {"description": "invalid input", **_ERROR},
        401: {"description": "missing or wrong API key", **_ERROR},
        413: {"description": "an image over 10 MB or too many pixels", **_ERROR},
        500: {"description": "generation failed", **_ERROR},
        503: {"description": "the model is not ready", **_ERROR},
        504: {"description": "generation timed out", **_ERROR},
    },
    openapi_extra=_EDIT_FORM,
)
async def edit_images(request: Request, tenant: ApiTenant, services: ServicesDep) -> JSONResponse:
    # 1. Parse and check every field before any image is decoded
    form = await _read_form(request)
    params = _parameters(form)
    uploads = _uploads(form)

    # 2. Validate each image by decoding it (upright, at most MAX_SIDE)
    images = [await _prepare(i, upload, services.settings.max_pixels)
              for i, upload in enumerate(uploads)]

    # 3. Edit: each input on its own, n variants each
    if services.gpu is None:
        raise ModelNotReady("no GPU backend is configured")
    started = time.monotonic()
    outputs = await services.gpu.edit_images(images, per_input=True,
                                             timeout=API_TIMEOUT_SECONDS, **params)
    elapsed = time.monotonic() - started

    # 4. Shape the answer
    encoded = await run_cpu(lambda: [base64.b64encode(png).decode("ascii") for png in outputs])
    return JSONResponse({
        "created": int(time.time()),
        "data": [{"b64_json": b64} for b64 in encoded],
        "usage": {
            "processing_time_seconds": round(elapsed, 2),
            "input_images": len(images),
            "generated_images": len(outputs),
        },
    })


@router.get(
    "/ready",
    summary="Can the image-edit model serve now?",
    responses={200: {"content": {"application/json": {"example": {"ready": True}}}},
               503: {"description": "not ready, with the reason", **_ERROR}},
)
async def ready(services: ServicesDep) -> JSONResponse:
    if services.gpu is None:
        raise ModelNotReady("no GPU backend is configured")
    ok, reason = await services.gpu.ready()
    if not ok:
        raise ModelNotReady(reason or "Model is not ready yet")
    return JSONResponse({"ready": True, "backend": services.gpu.kind})


# -- parsing ----------------------------------------------------------------------------------
async def _read_form(request: Request):
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise InvalidInput("send multipart/form-data with prompt and images")
    try:
        return await request.form(max_files=64, max_fields=64, max_part_size=64 * 1024)
    except Exception as exc:  # malformed multipart of any kind is the client's problem
        raise InvalidInput(f"malformed multipart body: {exc.__class__.__name__}") from None


def _text(form, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a text field, not a file", field=name)
    return value.strip()


def _number(form, name: str, kind: type, low: float, high: float) -> Any:
    raw = _text(form, name)
    if raw is None or raw == "":
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
    if not (16 <= w <= MAX_SIDE and 16 <= h <= MAX_SIDE):
        raise InvalidInput(f"size must be between 16 and {MAX_SIDE} on each side", field="size")
    return w - w % 16, h - h % 16


def _parameters(form) -> dict[str, Any]:
    prompt = _text(form, "prompt")
    if not prompt:
        raise InvalidInput("Prompt cannot be empty", field="prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidInput(f"prompt is longer than {MAX_PROMPT_CHARS} characters", field="prompt")
    output_type = (_text(form, "output_type") or "pil").lower()
    if output_type not in OUTPUT_TYPES:
        raise InvalidInput("output_type must be pil (answers are base64 PNG)", field="output_type")
    response_format = (_text(form, "response_format") or "b64_json").lower()
    if response_format != "b64_json":
        raise InvalidInput("only response_format=b64_json is supported", field="response_format")
    if (_text(form, "stream") or "false").lower() in ("true", "1"):
        raise InvalidInput("streaming is not supported", field="stream")
    _number(form, "guidance_scale", float, 0, 100)  # validated, then ignored (see module doc)
    seed = _number(form, "seed", int, 0, 2**63 - 1)
    return {
        "prompt": prompt,
        "negative_prompt": _text(form, "negative_prompt") or None,
        "size": parse_size(_text(form, "size")),
        "n": _number(form, "n", int, 1, MAX_VARIANTS) or 1,
        "steps": _number(form, "num_inference_steps", int, 1, 150),
        "true_cfg_scale": _number(form, "true_cfg_scale", float, 0, 20),
        "max_sequence_length": _number(form, "max_sequence_length", int, 1, 1024) or 512,
        "seed": seed,
    }


def _uploads(form) -> list[UploadFile]:
    uploads: list[UploadFile] = []
    for name in IMAGE_FIELDS:
        for value in form.getlist(name):
            if not isinstance(value, UploadFile):
                raise InvalidInput(f"{name} must be an image file, not text", field="images")
            uploads.append(value)
    if not uploads:
        raise InvalidInput("send at least one image (field images)", field="images")
    if len(uploads) > MAX_IMAGES:
        raise InvalidInput(f"at most {MAX_IMAGES} images per request", field="images")
    return uploads


async def _prepare(index: int, upload: UploadFile, max_pixels: int) -> bytes:
    label = f"image {index + 1}" + (f" ({upload.filename})" if upload.filename else "")
    data = await upload.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(f"{label} is larger than {MAX_IMAGE_BYTES // 1024 // 1024} MB")
    try:
        photo = await run_cpu(
            lambda: prepare_photo(data, max_side=MAX_SIDE, max_pixels=max_pixels)
        )
    except UnsupportedMedia as exc:
        raise InvalidInput(f"Invalid image format at index {index}: {label}: {exc}",
                           field="images") from None
    except PayloadTooLarge as exc:
        raise PayloadTooLarge(f"{label}: {exc}") from None
    return photo.data


app = create_function_app(router)
handler = make_handler(app, "images")
