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
- `output_format` (`png` default, `jpeg`, `webp`) with `output_compression` (0-100, the
  JPEG/WebP quality; default 100).
- Accepted and ignored: `guidance_scale` (Qwen-Image-Edit uses true CFG only), `output_type`
  (`pil`, `pt`, `np`), the openai client's `model`, `response_format=b64_json`, `user`, and
  `quality=auto`, `background=auto|opaque`, `partial_images=0` (what asks for nothing).
- Refused with a 400 naming the field (nothing in the model does it): `mask`,
  `background=transparent`, `quality` other than auto, `input_fidelity`, `partial_images`,
  `stream=true`.
- `response_format`: `b64_json` (default) or `url` (signed links under edits/, valid 60
  minutes). Left out on Lambda, whose answers are capped at 6 MB, images that would not fit
  come as links too: the call never fails for its own size.

Every input is edited on its own (`per_input`): 3 inputs × n=2 → 6 outputs, grouped by
input. Auth: `Authorization: Bearer <api key>` or HTTP Basic `user:<api key>` (or the
operator's own name and password); keys are made in the operator UI or `boothai apikey`.

Errors: `{"detail": {"error": CODE, "message": ...}, "error": {"message", "type", "code",
"param"}}` (functions.errors.OpenAIErrors; the openai client reads `error`): 400
INVALID_INPUT, 413 INVALID_INPUT (a file over 10 MB or too many pixels), 401 UNAUTHORIZED,
503 MODEL_NOT_READY, 500 GENERATION_ERROR, 504 GENERATION_ERROR (timeout). All but 503 carry
`x-should-retry: false`, so the client does not rerun a failed generation.
"""

from __future__ import annotations

import base64
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData, UploadFile

from functions.app import create_function_app
from functions.deps import ApiTenant, Edits
from functions.errors import OpenAIErrors
from functions.lambda_entry import make_handler
from shared.concurrency import run_cpu
from shared.errors import InvalidInput
from shared.usecases.image_edits import (
    DEFAULT_SIZE,
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    MAX_VARIANTS,
    OUTPUT_FORMATS,
    OUTPUT_TYPES,
    UNSUPPORTED_FIELDS,
    EditParameters,
    ImageEdits,
    UploadedImage,
)

router = APIRouter(tags=["images"], route_class=OpenAIErrors)

IMAGE_FIELDS = ("images", "image[]", "image")
# Text fields the API reads; the unsupported ones are read to be refused by name. `mask` may
# come as a file: _text_fields refuses it either way.
TEXT_FIELDS = ("prompt", "negative_prompt", "size", "n", "num_inference_steps", "guidance_scale",
               "true_cfg_scale", "output_type", "max_sequence_length", "seed", "response_format",
               "stream", "output_format", "output_compression", *UNSUPPORTED_FIELDS)

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
                        "response_format": {"type": "string", "enum": ["b64_json", "url"],
                                            "description": "url: links valid 60 minutes; "
                                            "answered as links anyway when the images "
                                            "would not fit the platform's response (Lambda)"},
                        "output_format": {"type": "string", "enum": list(OUTPUT_FORMATS),
                                          "default": "png"},
                        "output_compression": {"type": "integer", "minimum": 0,
                                               "maximum": 100, "default": 100,
                                               "description": "jpeg/webp quality"},
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
async def edit_images(request: Request, tenant: ApiTenant, edits: Edits) -> JSONResponse:
    form = await _read_form(request)
    result = await edits.edit(EditParameters.from_fields(_text_fields(form)), await _uploads(form),
                              tenant=tenant.name)
    if result.urls is not None:
        data = [{"url": url} for url in result.urls]
    else:
        encoded = await run_cpu(lambda: [base64.b64encode(i).decode("ascii") for i in result.images])
        data = [{"b64_json": b64} for b64 in encoded]
    body = {
        "created": int(time.time()),
        "data": data,
        "usage": {
            "processing_time_seconds": round(result.seconds, 2),
            "input_images": result.input_count,
            "generated_images": len(result.images),
        },
    }
    if result.output_format != "png":  # the seeds' shape, plus OpenAI's field when not PNG
        body["output_format"] = result.output_format
    return JSONResponse(body)


@router.get(
    "/ready",
    summary="Can the image-edit model serve now?",
    responses={200: {"content": {"application/json": {"example": {"ready": True}}}},
               503: {"description": "not ready, with the reason", **_ERROR}},
)
async def ready(edits: Edits) -> JSONResponse:
    return JSONResponse({"ready": True, "backend": await edits.ready()})


# -- parsing ----------------------------------------------------------------------------------
async def _read_form(request: Request) -> FormData:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise InvalidInput("send multipart/form-data with prompt and images")
    try:
        return await request.form(max_files=64, max_fields=64, max_part_size=64 * 1024)
    except Exception as exc:  # malformed multipart of any kind is the client's problem
        raise InvalidInput(f"malformed multipart body: {exc.__class__.__name__}") from None


def _text_fields(form: FormData) -> dict[str, str]:
    """The API's text fields, stripped; a file where text belongs is refused."""
    fields: dict[str, str] = {}
    for name in TEXT_FIELDS:
        value = form.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            if name in UNSUPPORTED_FIELDS:  # the openai client sends `mask` as a file
                fields[name] = "(a file)"
                continue
            raise InvalidInput(f"{name} must be a text field, not a file", field=name)
        fields[name] = value.strip()
    return fields


async def _uploads(form: FormData) -> list[UploadedImage]:
    uploads: list[UploadedImage] = []
    for name in IMAGE_FIELDS:
        for value in form.getlist(name):
            if not isinstance(value, UploadFile):
                raise InvalidInput(f"{name} must be an image file, not text", field="images")
            if len(uploads) > MAX_IMAGES:
                return uploads  # one too many is enough for the use case to refuse
            # One byte past the limit is enough to tell "too large".
            uploads.append(UploadedImage(await value.read(MAX_IMAGE_BYTES + 1), value.filename))
    return uploads


app = create_function_app(router)
handler = make_handler(app, "images", serves=(ImageEdits,))
