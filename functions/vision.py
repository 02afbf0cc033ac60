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

import asyncio
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from functions.app import create_function_app
from functions.deps import ApiTenant, ServicesDep
from functions.errors import headers_for, message_for, status_for
from functions.lambda_entry import make_handler
from gpu_jobs.vision_models import VISION_MODELS
from shared import errors as e
from shared.safe_fetch import FetchPolicy, SafeFetcher
from shared.services import Services
from shared.vision import (
    COMPARISON_EXAMPLE,
    MAX_BATCH_FILES,
    MAX_FILE_BYTES,
    ComparisonRequest,
    VisionImage,
    check_image,
    check_model,
    comparison_prompt,
    decode_base64_image,
    parse_comparison,
    strip_thinking,
)

log = logging.getLogger("boothai.vision")

FETCHER_KEY = "safe_fetcher"


# --- errors: one renderer per body shape, statuses from functions/errors.STATUS ---------------
def _status(exc: e.BoothaiError) -> int:
    status = status_for(exc)
    return 400 if status == 422 else status


def validation_message(exc: RequestValidationError) -> str:
    """FastAPI's validation errors → one line a caller can act on."""
    errors = list(exc.errors())
    if not errors:
        return "invalid request"
    err = errors[0]
    if err.get("type") == "json_invalid":
        return "the request body is not valid JSON"
    loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "form"))
    if err.get("type") == "missing":
        return f"{loc or 'a field'} is required"
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


class _VisionErrors(APIRoute):
    def render(self, message: str, status: int) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_route_handler(self):
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except RequestValidationError as exc:
                return self.render(validation_message(exc), 400)
            except e.BoothaiError as exc:
                status = _status(exc)
                if status >= 500:
                    log.warning("%s %s → %d: %s", request.method, request.url.path, status,
                                message_for(exc))
                response = self.render(message_for(exc), status)
                response.headers.update(headers_for(exc))
                if isinstance(exc, e.Unauthorized):
                    response.headers["WWW-Authenticate"] = 'Bearer realm="boothai"'
                return response

        return handler


class EnvelopeErrors(_VisionErrors):
    """Seed 000: {"success": false, "result": null, "error": "...", "metadata": null}."""

    def render(self, message: str, status: int) -> Response:
        return JSONResponse(envelope(success=False, error=message), status_code=status)


class DetailErrors(_VisionErrors):
    """Seed 001: {"detail": "..."}."""

    def render(self, message: str, status: int) -> Response:
        return JSONResponse({"detail": message}, status_code=status)


def envelope(*, success: bool, result: Any = None, error: str | None = None,
             metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"success": success, "result": result, "error": error, "metadata": metadata}


comparison_router = APIRouter(tags=["vision"], route_class=EnvelopeErrors)
detail_router = APIRouter(tags=["vision"], route_class=DetailErrors)


# --- helpers ---------------------------------------------------------------------------------
def _default_model(services: Services) -> str:
    return services.settings.vision_default_model


async def _gpu(services: Services) -> Any:
    """The GPU backend, or 503 with the reason when there is none to call."""
    gpu = services.gpu
    if gpu is None:
        raise e.ModelNotReady("the GPU backend is not installed in this build")
    if gpu.kind == "off":
        _, reason = await gpu.ready()
        raise e.ModelNotReady(reason or "the GPU backend is off")
    return gpu


def fetcher_for(services: Services) -> SafeFetcher:
    """The services' URL fetcher (tests put their own in `services.extras`)."""
    fetcher = services.extras.get(FETCHER_KEY)
    if fetcher is None:
        policy = FetchPolicy(
            allow_private=services.settings.fetch_allow_private,
            max_bytes=MAX_FILE_BYTES,
            timeout=services.settings.fetch_timeout_seconds,
        )
        fetcher = services.extras[FETCHER_KEY] = SafeFetcher(policy)
    return fetcher


async def _checked(data: bytes, label: str) -> VisionImage:
    return await asyncio.to_thread(check_image, data, label=label)


async def _read_upload(file: UploadFile) -> bytes:
    data = await file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise e.PayloadTooLarge(f"the file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB")
    return data


async def _all_or_nothing(coros: list) -> list:
    """Run concurrently; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _comparison_images(body: ComparisonRequest, services: Services) -> list[bytes]:
    if body.image_base64_list is not None:
        images = [decode_base64_image(text, label=f"image {i}")
                  for i, text in enumerate(body.image_base64_list, 1)]
        await _all_or_nothing([_checked(data, f"image {i}") for i, data in enumerate(images, 1)])
        return images
    fetcher = fetcher_for(services)

    async def one(i: int, url: str) -> bytes:
        fetched = await fetcher.fetch(url, label=f"image {i}")
        await _checked(fetched.data, f"image {i}")
        return fetched.data

    return await _all_or_nothing([one(i, url) for i, url in enumerate(body.image_urls or [], 1)])


def _elapsed(started: float) -> float:
    return round(time.perf_counter() - started, 3)


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
    services: ServicesDep,
) -> JSONResponse:
    # 1. Check the request against this deployment: model, backend.
    model = check_model(body.model, _default_model(services))
    gpu = await _gpu(services)
    # 2. Gather the images: decoded from base64, or fetched safely from their URLs.
    images = await _comparison_images(body, services)
    # 3. Ask the model.
    prompt = comparison_prompt(comparison_type=body.comparison_type, output_format=body.output_format,
                               num_images=len(images), extra=body.prompt)
    started = time.perf_counter()
    text = await gpu.vision_chat(
        model, images, prompt, max_tokens=body.max_tokens, temperature=body.temperature,
        top_p=body.top_p, seed=body.seed, min_pixels=body.min_pixels, max_pixels=body.max_pixels,
        timeout=services.settings.vision_comparison_timeout_seconds,
    )
    # 4. Shape the answer (seed 000).
    metadata: dict[str, Any] = {
        "task": "image_comparison",
        "num_images": len(images),
        "comparison_type": body.comparison_type,
        "output_format": body.output_format,
        "model": model,
        "processing_time": _elapsed(started),
        "image_source": "urls" if body.image_urls is not None else "base64",
        "parsed": None,
    }
    log.info("comparison for %s: %d images on %s in %.2f s", tenant.name, len(images), model,
             metadata["processing_time"])
    if body.output_format == "text":
        return JSONResponse(envelope(success=True, result={"text": strip_thinking(text)},
                                     metadata=metadata))
    parsed = parse_comparison(text, num_images=len(images))
    metadata["parsed"] = parsed.result is not None
    if parsed.result is not None:
        return JSONResponse(envelope(success=True, result=parsed.result, metadata=metadata))
    result = {"summary": "", "differences": [], "common_elements": [], "raw_text": text}
    return JSONResponse(envelope(
        success=False, result=result, metadata=metadata,
        error=f"{parsed.error}; its text is in result.raw_text"))


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


def _public(entry: dict[str, Any], *, reason: bool = False) -> dict[str, Any]:
    keys = ("id", "name", "params", "reason") if reason else ("id", "name", "params")
    return {k: entry[k] for k in keys if k in entry}


@detail_router.get(
    "/models",
    summary="Vision models: available, loaded, unavailable (with reasons)",
    responses={200: {"content": {"application/json": {"example": MODELS_EXAMPLE}}}},
)
async def list_models(tenant: ApiTenant, services: ServicesDep) -> dict[str, Any]:
    gpu = services.gpu
    if gpu is None:
        from shared.gpu.off import OffGpuBackend

        gpu = OffGpuBackend()
    listing = await gpu.models()
    return {
        "available": [_public(m) for m in listing["available"] if m["id"] in VISION_MODELS],
        "loaded": [mid for mid in listing["loaded"] if mid in VISION_MODELS],
        "unavailable": [_public(m, reason=True) for m in listing["unavailable"]
                        if m["id"] in VISION_MODELS],
        "default": _default_model(services),
        "backend": getattr(gpu, "kind", "off"),
    }


@detail_router.delete(
    "/models/{model_name}",
    summary="Unload a model from memory",
    responses={
        200: {"content": {"application/json": {"example": {
            "status": "success", "message": "Model qwen3_vl_2b unloaded", "unloaded": True}}}},
        404: {"content": {"application/json": {"example": {"detail": "unknown model 'gpt-9'"}}}},
        503: {"content": {"application/json": {"example": {
            "detail": "GPU backend is off (BOOTHAI_GPU_BACKEND=off)"}}}},
    },
)
async def unload_model(model_name: str, tenant: ApiTenant, services: ServicesDep) -> dict[str, Any]:
    from shared.gpu.catalog import known_ids

    if model_name not in known_ids():
        raise e.NotFound(f"unknown model {model_name!r}")
    gpu = await _gpu(services)
    unloaded = await gpu.unload(model_name)
    log.info("model %s unload requested by %s: %s", model_name, tenant.name, unloaded)
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
    services: ServicesDep,
    model: ModelForm = None,
    language: LanguageForm = None,
    model_q: ModelQuery = None,
    language_q: LanguageQuery = None,
    max_tokens: OcrTokens = 2048,
) -> dict[str, Any]:
    model_id = check_model(model if model is not None else model_q, _default_model(services))
    lang = _language(language, language_q)
    gpu = await _gpu(services)
    data = await _read_upload(file)
    info = await _checked(data, "the file")
    started = time.perf_counter()
    text = await gpu.vision_ocr(model_id, data, language=lang, max_tokens=max_tokens,
                                timeout=services.settings.vision_timeout_seconds)
    return {"text": strip_thinking(text), "model": model_id, "processing_time": _elapsed(started),
            "image_size": [info.width, info.height], "language": lang}


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
    services: ServicesDep,
    prompt: Annotated[str, Form(min_length=1, max_length=4000,
                                description="The question")] = "Describe this image",
    model: ModelForm = None,
    temperature: Annotated[float, Form(ge=0.0, le=1.0, description="0 = greedy")] = 0.7,
    max_tokens: Annotated[int, Form(ge=1, le=8192, description="Most tokens to generate")] = 512,
) -> dict[str, Any]:
    model_id = check_model(model, _default_model(services))
    gpu = await _gpu(services)
    data = await _read_upload(file)
    await _checked(data, "the file")
    started = time.perf_counter()
    text = await gpu.vision_chat(model_id, [data], prompt, max_tokens=max_tokens,
                                 temperature=temperature,
                                 timeout=services.settings.vision_timeout_seconds)
    return {"response": strip_thinking(text), "model": model_id,
            "processing_time": _elapsed(started), "prompt": prompt}


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
    services: ServicesDep,
    model: ModelForm = None,
    language: LanguageForm = None,
    model_q: ModelQuery = None,
    language_q: LanguageQuery = None,
    max_tokens: OcrTokens = 2048,
) -> dict[str, Any]:
    if len(files) > MAX_BATCH_FILES:
        raise e.InvalidInput(f"at most {MAX_BATCH_FILES} files per batch (got {len(files)})",
                             field="files")
    model_id = check_model(model if model is not None else model_q, _default_model(services))
    lang = _language(language, language_q)
    gpu = await _gpu(services)
    timeout = services.settings.vision_timeout_seconds
    results: list[dict[str, Any]] = []
    for upload in files:
        started = time.perf_counter()
        item: dict[str, Any] = {"filename": upload.filename or f"file{len(results) + 1}"}
        try:
            data = await _read_upload(upload)
            await _checked(data, "the file")
            text = await gpu.vision_ocr(model_id, data, language=lang, max_tokens=max_tokens,
                                        timeout=timeout)
        except e.ModelNotReady:
            raise  # the model cannot serve anything: the whole batch is a 503
        except e.BoothaiError as exc:
            item.update(text=None, processing_time=_elapsed(started), status="error",
                        error=message_for(exc))
        else:
            item.update(text=strip_thinking(text), processing_time=_elapsed(started),
                        status="success")
        results.append(item)
    successful = sum(1 for r in results if r["status"] == "success")
    return {"results": results, "total": len(results), "successful": successful,
            "failed": len(results) - successful, "model": model_id}


# --- the function's router -------------------------------------------------------------------------
router = APIRouter()
router.include_router(comparison_router)
router.include_router(detail_router)


app = create_function_app(router)
handler = make_handler(app, "vision")
