"""`qwen`: Qwen-Image-Edit through the GPU backend (Modal or in-process).

One edit per photo, all images conditioning it: the guest photo first, the slot's reference
second, the text last (`shared.providers.prompts`, the same templates Gemini uses — they name
the images by position, which is what Qwen-Image-Edit-Plus sees too). The output keeps the
guest photo's aspect ratio at about one megapixel, in multiples of 32 (the pipeline needs 16:
VAE ×8 and 2×2 latent patches; 32 is safe for both and for the Lightning LoRA).

The GPU call is bounded by what is left of the booth window. Failures come back as
`ProviderFailed` with a stable reason (the pipeline shows it to the operator):
  gpu_not_ready     — backend off, model not deployed / not loadable (ModelNotReady)
  generation_error  — the model ran and broke
  qwen_invalid_input — the backend refused the request (should not happen from a booth)
and the backend's DeadlineExceeded becomes a TimeoutError, which the pipeline reports as
`deadline` (504).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable
from typing import TypeVar

from shared.access import GPU_BACKEND
from shared.concurrency import run_cpu
from shared.domain import ProviderName
from shared.errors import DeadlineExceeded, InvalidInput, ModelNotReady, ProviderFailed
from shared.gpu import EditRequest, GpuBackend
from shared.images import encode, load_rgb
from shared.providers import prompts
from shared.providers.base import BaseProvider, ProviderContext, ProviderImage, ProviderJob
from shared.slot_rules import EDIT_MODEL

T = TypeVar("T")

ACCESS = GPU_BACKEND  # photos travel inline to the GPU backend: no storage port

log = logging.getLogger(__name__)

OUTPUT_AREA = 1024 * 1024  # ~1 MP: the area Qwen-Image-Edit was trained around
SIZE_MULTIPLE = 32
MAX_SIDE = 2048  # guest photo handed to the backend (the pipeline resizes it to ~1 MP anyway)
JPEG_QUALITY = 92
NEGATIVE_PROMPT = (
    "blurry, low quality, distorted face, deformed hands, extra limbs, duplicate person, "
    "watermark, text, oversaturated"
)
GPU_OFF_REASON = (
    "needs a GPU backend: set BOOTHAI_GPU_BACKEND=modal (deployed modal_app.py) or inprocess"
)


def output_size(
    photo_size: tuple[int, int], *, area: int = OUTPUT_AREA, multiple: int = SIZE_MULTIPLE
) -> tuple[int, int]:
    """(width, height) with the photo's aspect ratio, about `area` pixels, multiples of
    `multiple` (at least one multiple on each side)."""
    width, height = photo_size
    ratio = width / max(1, height)
    target_w = math.sqrt(area * ratio)
    target_h = target_w / ratio
    return (
        max(multiple, round(target_w / multiple) * multiple),
        max(multiple, round(target_h / multiple) * multiple),
    )


def gpu_unavailable(gpu: GpuBackend) -> bool:
    return gpu.kind == "off"


async def call_gpu(what: str, call: Awaitable[T]) -> T:
    """Await a GPU backend call, turning the backend's errors into what the pipeline knows."""
    try:
        return await call
    except ModelNotReady as exc:
        raise ProviderFailed("gpu_not_ready", f"{what}: {exc}") from None
    except DeadlineExceeded as exc:
        raise TimeoutError(str(exc)) from None
    except InvalidInput as exc:
        raise ProviderFailed(f"{what}_invalid_input", f"{what}: {exc}") from None


def to_jpeg(png: bytes) -> bytes:
    return encode(load_rgb(png), keep_alpha=False, quality=JPEG_QUALITY)[0]


class QwenProvider(BaseProvider):
    name = ProviderName.QWEN
    label = "Qwen-Image-Edit"
    capabilities = EDIT_MODEL  # draws from text too: a background may be words alone
    max_side = MAX_SIDE

    def __init__(
        self,
        gpu: GpuBackend,
        *,
        output_area: int = OUTPUT_AREA,
        steps: int | None = None,
        true_cfg_scale: float | None = None,
    ) -> None:
        """`steps` / `true_cfg_scale` None: the backend's defaults (50 / 4.0, or 8 / 1.0 with
        the Lightning LoRA — the setting that fits a 50 s booth window)."""
        self._gpu = gpu
        self._output_area = output_area
        self._steps = steps
        self._true_cfg_scale = true_cfg_scale

    def setup_problem(self) -> str | None:
        return f"{self.label} {GPU_OFF_REASON}" if gpu_unavailable(self._gpu) else None

    async def run(self, job: ProviderJob) -> ProviderImage:
        if gpu_unavailable(self._gpu):
            raise ProviderFailed("gpu_not_ready", f"{self.label} {GPU_OFF_REASON}")
        self.refuse_unready(job)
        has_reference = job.reference is not None
        text = prompts.build_prompt(job.type, job.prompt, has_reference=has_reference)
        images = [job.photo] + ([job.reference] if job.reference is not None else [])
        size = output_size(job.photo_size, area=self._output_area)
        request = EditRequest(
            images=images,
            prompt=text,
            negative_prompt=NEGATIVE_PROMPT,
            n=1,
            size=size,
            steps=self._steps,
            true_cfg_scale=self._true_cfg_scale,
            per_input=False,
        )
        answer = await call_gpu("qwen", self._gpu.edit(request, timeout=job.remaining()))
        if not answer.images:
            raise ProviderFailed("generation_error", "Qwen-Image-Edit returned no image")
        data = await run_cpu(lambda: to_jpeg(answer.images[0]))
        return ProviderImage(data=data, mime="image/jpeg")


def create(ctx: ProviderContext) -> QwenProvider:
    settings = ctx.settings
    return QwenProvider(ctx.gpu, output_area=settings.qwen_booth_area or OUTPUT_AREA,
                        steps=settings.qwen_booth_steps)
