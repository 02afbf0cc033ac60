"""The vision API on Qwen-VL models (seeds 000 and 001), behind the tenant API key:

  POST   /api/v1/image/comparison   2-4 images (URLs or base64) → differences / changes / similarities
  GET    /models                    available, loaded and unavailable vision models
  POST   /ocr                       multipart `file` → text
  POST   /chat                      multipart `file` + `prompt` → answer
  POST   /batch/ocr                 multipart `files` (≤ 10) → per-file text or error
  DELETE /models/{model_name}       free a model's memory

Errors: the comparison endpoint answers in the seed's envelope
`{"success": false, "result": null, "error": "...", "metadata": null}`; the others as
`{"detail": "..."}`. Status codes come from functions/errors.STATUS, except that a bad
request is 400 here (seed 001's table) rather than 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse

from functions.app import create_function_app
from functions.deps import ApiTenant, VisionApi
from functions.errors import DetailErrors, EnvelopeErrors, envelope
from functions.lambda_entry import make_handler
from shared.gpu import ModelInfo
from shared.usecases.vision import (
    COMPARISON_EXAMPLE,
    DEFAULT_MAX_PIXELS,
    MAX_BATCH_FILES,
    MAX_FILE_BYTES,
    PIXELS_HIGH,
    PIXELS_LOW,
    ComparisonRequest,
    Vision,
)

comparison_router = APIRouter(tags=["vision"], route_class=EnvelopeErrors)
detail_router = APIRouter(tags=["vision"], route_class=DetailErrors)


async def _read(upload: UploadFile) -> bytes:
    """At most one byte past the limit: enough for the use case to say "too large"."""
    return await upload.read(MAX_FILE_BYTES + 1)


# --- POST /api/v1/image/comparison -------------------------------------------------------------
_DIFF_RESULT = {
    "summary": "The second photo shows the same room after the sofa was replaced.",
    "differences": [{"description": "The grey sofa is now a red sofa", "location": "centre",
                     "images_affected": [1, 2]}],
    "common_elements": ["window", "wooden floor"],
}
_META = {"task": "image_comparison", "num_images": 2, "comparison_type": "differences",
         "output_format": "json", "model": "qwen3_vl_2b", "processing_time": 1.84,
         "image_source": "urls", "parsed": True}
COMPARISON_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The comparison. `success` is false (with `result.raw_text`) when "
                       "output_format=json and the model's answer held no readable JSON.",
        "content": {"application/json": {"examples": {
            "json": {"summary": "JSON result", "value": envelope(
                success=True, result=_DIFF_RESULT, metadata=_META)},
            "text": {"summary": "Text result", "value": envelope(
                success=True, result={"text": "Image 2 has a red sofa instead of a grey one."},
                metadata={**_META, "output_format": "text", "parsed": None})},
            "unparsed": {"summary": "The model's answer was not JSON", "value": envelope(
                success=False,
                result={"summary": "", "differences": [], "common_elements": [],
                        "raw_text": "The sofa changed colour."},
                error="the model's answer contains no readable JSON; its text is in result.raw_text",
                metadata={**_META, "parsed": False})},
        }}},
    },
    400: {"description": "Bad request", "content": {"application/json": {"example": envelope(
        success=False, error="Number of images must be between 2 and 4")}}},
    401: {"description": "No or wrong API key", "content": {"application/json": {"example": envelope(
        success=False, error="send an API key: Authorization: Bearer <key>")}}},
    413: {"description": "An image is over 10 MB", "content": {"application/json": {"example": envelope(
        success=False, error="image 2: the image is larger than 10 MB")}}},
    415: {"description": "Not an accepted image", "content": {"application/json": {"example": envelope(
        success=False, error="image 1 is GIF; send JPEG, PNG, WEBP, BMP or TIFF")}}},
    503: {"description": "GPU backend off or model not loadable", "content": {"application/json": {
        "example": envelope(success=False, error="GPU backend is off (BOOTHAI_GPU_BACKEND=off)")}}},
    504: {"description": "The model did not answer in time"},
}
COMPARISON_EXAMPLES = {
    "urls": {"summary": "Two URLs, differences as JSON", "value": COMPARISON_EXAMPLE},
    "sequence": {"summary": "A sequence of 3 frames", "value": {
        "image_urls": ["https://example.com/frame1.jpg", "https://example.com/frame2.jpg",
                       "https://example.com/frame3.jpg"],
        "comparison_type": "changes", "output_format": "json"}},
    "base64": {"summary": "Base64 images, custom prompt, text answer", "value": {
        "image_base64_list": ["iVBORw0KGgo...", "iVBORw0KGgo..."],
        "comparison_type": "similarities", "output_format": "text",
        "prompt": "Find common design patterns", "max_tokens": 1024, "temperature": 0.0,
        "seed": 42, "min_pixels": 32768, "max_pixels": 1048576}},
}


@comparison_router.post(
    "/api/v1/image/comparison",
    summary="Compare 2-4 images: differences, changes or similarities",
    response_class=JSONResponse,
    responses=COMPARISON_RESPONSES,
)
async def compare_images(
    body: Annotated[ComparisonRequest, Body(openapi_examples=COMPARISON_EXAMPLES)],
    tenant: ApiTenant,
    vision: VisionApi,
) -> JSONResponse:
    answer = await vision.compare(body)
    return JSONResponse(envelope(success=answer.success, result=answer.result,
                                 error=answer.error, metadata=answer.metadata))


# --- GET /models, DELETE /models/{model_name} ----------------------------------------------------
MODELS_EXAMPLE = {
    "available": [{"id": "got_ocr", "name": "GOT-OCR 2.0", "params": "580M"},
                  {"id": "qwen3_vl_2b", "name": "Qwen3-VL 2B", "params": "2B"}],
    "loaded": ["qwen3_vl_2b"],
    "unavailable": [{"id": "dots_ocr", "name": "dots.ocr", "params": "1.7B",
                     "reason": "needs trust_remote_code, not supported natively by transformers"}],
    "default": "qwen3_vl_2b",
    "backend": "inprocess",
}


def _public(model: ModelInfo, *, reason: bool = False) -> dict[str, Any]:
    entry = {"id": model.id, "name": model.name, "params": model.params}
    if reason and model.reason is not None:
        entry["reason"] = model.reason
    return entry


@detail_router.get(
    "/models",
    summary="Vision models: available, loaded, unavailable (with reasons)",
    responses={200: {"content": {"application/json": {"example": MODELS_EXAMPLE}}}},
)
async def list_models(tenant: ApiTenant, vision: VisionApi) -> dict[str, Any]:
    view = await vision.models()
    return {
        "available": [_public(m) for m in view.available],
        "loaded": view.loaded,
        "unavailable": [_public(m, reason=True) for m in view.unavailable],
        "default": view.default,
        "backend": view.backend,
    }


@detail_router.delete(
    "/models/{model_name}",
    summary="Unload a model from memory (GPU admins only: BOOTHAI_GPU_ADMINS)",
    responses={
        200: {"content": {"application/json": {"example": {
            "status": "success", "message": "Model qwen3_vl_2b unloaded", "unloaded": True}}}},
        403: {"content": {"application/json": {"example": {
            "detail": "unloading a model is for GPU admins only: the deployment names them in "
                      "BOOTHAI_GPU_ADMINS (comma-separated operator names)"}}}},
        404: {"content": {"application/json": {"example": {"detail": "unknown model 'gpt-9'"}}}},
        503: {"content": {"application/json": {"example": {
            "detail": "GPU backend is off (BOOTHAI_GPU_BACKEND=off)"}}}},
    },
)
async def unload_model(model_name: str, tenant: ApiTenant, vision: VisionApi) -> dict[str, Any]:
    unloaded = await vision.unload(model_name, by=tenant.name)
    message = f"Model {model_name} unloaded" if unloaded else f"Model {model_name} was not loaded"
    return {"status": "success", "message": message, "unloaded": unloaded}


# --- POST /ocr, /chat, /batch/ocr -----------------------------------------------------------------
FileField = Annotated[UploadFile, File(description="JPEG, PNG, WEBP, BMP or TIFF; at most 10 MB")]
ModelForm = Annotated[str | None, Form(description="Model id (default qwen3_vl_2b)", max_length=64)]
ModelQuery = Annotated[str | None, Query(alias="model", max_length=64,
                                         description="Model id, as a query parameter")]
LanguageForm = Annotated[str | None, Form(description="Language hint, e.g. Russian", max_length=64)]
OcrTokens = Annotated[int, Form(ge=1, le=8192, description="Most tokens to generate per image")]
LanguageQuery = Annotated[str | None, Query(alias="language", max_length=64,
                                            description="Language hint, as a query parameter")]

OCR_EXAMPLE = {"text": "Извлечённый текст из документа...", "model": "qwen3_vl_2b",
               "processing_time": 1.234, "image_size": [1920, 1080], "language": "Russian"}
_FILE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"content": {"application/json": {"example": {"detail": "file is required"}}}},
    413: {"content": {"application/json": {"example": {"detail": "the file is larger than 10 MB"}}}},
    415: {"content": {"application/json": {"example": {
        "detail": "the file is GIF; send JPEG, PNG, WEBP, BMP or TIFF"}}}},
    503: {"content": {"application/json": {"example": {
        "detail": "GPU backend is off (BOOTHAI_GPU_BACKEND=off)"}}}},
}


MaxPixels = Annotated[int, Form(ge=PIXELS_LOW, le=PIXELS_HIGH,
                                description="Most pixels per image the model sees (seed 000's "
                                            "default); fewer is faster")]


def _language(form: str | None, query: str | None) -> str | None:
    value = (form if form is not None else query) or ""
    return value.strip() or None


@detail_router.post(
    "/ocr",
    summary="Extract the text from an image",
    responses={200: {"content": {"application/json": {"example": OCR_EXAMPLE}}}, **_FILE_ERRORS},
)
async def ocr(
    file: FileField,
    tenant: ApiTenant,
    vision: VisionApi,
    model: ModelForm = None,
    language: LanguageForm = None,
    model_q: ModelQuery = None,
    language_q: LanguageQuery = None,
    max_tokens: OcrTokens = 2048,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
) -> dict[str, Any]:
    lang = _language(language, language_q)
    answer = await vision.ocr(await _read(file), model=model if model is not None else model_q,
                              language=lang, max_tokens=max_tokens, max_pixels=max_pixels)
    size = [answer.image.width, answer.image.height] if answer.image else None
    return {"text": answer.text, "model": answer.model, "processing_time": answer.seconds,
            "image_size": size, "language": lang}


CHAT_EXAMPLE = {"response": "На изображении представлен...", "model": "qwen3_vl_2b",
                "processing_time": 2.567, "prompt": "Что изображено на картинке?"}


@detail_router.post(
    "/chat",
    summary="Ask the model about an image",
    responses={200: {"content": {"application/json": {"example": CHAT_EXAMPLE}}}, **_FILE_ERRORS},
)
async def chat(
    file: FileField,
    tenant: ApiTenant,
    vision: VisionApi,
    prompt: Annotated[str, Form(min_length=1, max_length=4000,
                                description="The question")] = "Describe this image",
    model: ModelForm = None,
    temperature: Annotated[float, Form(ge=0.0, le=1.0, description="0 = greedy")] = 0.7,
    max_tokens: Annotated[int, Form(ge=1, le=8192, description="Most tokens to generate")] = 512,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
) -> dict[str, Any]:
    answer = await vision.chat(await _read(file), prompt=prompt, model=model,
                               temperature=temperature, max_tokens=max_tokens,
                               max_pixels=max_pixels)
    return {"response": answer.text, "model": answer.model, "processing_time": answer.seconds,
            "prompt": prompt}


BATCH_EXAMPLE = {
    "results": [
        {"filename": "doc1.jpg", "text": "Текст из первого документа...", "processing_time": 1.2,
         "status": "success"},
        {"filename": "doc2.gif", "text": None, "processing_time": 0.0, "status": "error",
         "error": "the file is GIF; send JPEG, PNG, WEBP, BMP or TIFF"},
    ],
    "total": 2, "successful": 1, "failed": 1, "model": "qwen3_vl_2b",
}


@detail_router.post(
    "/batch/ocr",
    summary=f"OCR of up to {MAX_BATCH_FILES} images; one bad file does not sink the batch",
    responses={200: {"content": {"application/json": {"example": BATCH_EXAMPLE}}}, **_FILE_ERRORS},
)
async def batch_ocr(
    files: Annotated[list[UploadFile], File(description=f"Up to {MAX_BATCH_FILES} images")],
    tenant: ApiTenant,
    vision: VisionApi,
    model: ModelForm = None,
    language: LanguageForm = None,
    model_q: ModelQuery = None,
    language_q: LanguageQuery = None,
    max_tokens: OcrTokens = 2048,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
) -> dict[str, Any]:
    # One file past the limit is enough for the use case to refuse the batch.
    named = [(f.filename or f"file{i}", await _read(f))
             for i, f in enumerate(files[:MAX_BATCH_FILES + 1], 1)]
    model_id, items = await vision.batch_ocr(named, model=model if model is not None else model_q,
                                             language=_language(language, language_q),
                                             max_tokens=max_tokens, max_pixels=max_pixels)
    results = [{"filename": i.filename, "text": i.text, "processing_time": i.seconds,
                "status": "error" if i.error else "success", **({"error": i.error} if i.error else {})}
               for i in items]
    successful = sum(1 for i in items if i.error is None)
    return {"results": results, "total": len(results), "successful": successful,
            "failed": len(results) - successful, "model": model_id}


# --- the function's router -------------------------------------------------------------------------
router = APIRouter()
router.include_router(comparison_router)
router.include_router(detail_router)


app = create_function_app(router)
handler = make_handler(app, "vision", serves=(Vision,))
