"""`deepseek`: DeepSeek's open image model Janus-Pro through the GPU backend.

Janus-Pro understands images and generates them from text (384×384), but it cannot edit a
photo. So this tab offers only `prompt`: the backend describes the guest (age, hair, clothing,
pose), generates the slot prompt featuring that description, and upscales the picture to the
guest photo's size, so the booth prints it like any other result. Errors are mapped exactly
as for `qwen` (see shared/providers/qwen.py).
"""

from __future__ import annotations

from typing import Any

from shared.concurrency import run_cpu
from shared.domain import ProcessingType, ProviderName, Slot
from shared.errors import InvalidInput, ProviderFailed
from shared.providers.base import ProviderImage, ProviderJob
from shared.providers.qwen import GPU_OFF_REASON, call_gpu, gpu_unavailable, to_jpeg

MAX_SIDE = 2048  # the guest photo's long side; also the size of the answer
MAX_SLOT_PROMPT_CHARS = 1000  # Janus reads a few hundred tokens; the description follows it

TYPES_NOTE = (
    "DeepSeek's open image model Janus-Pro generates images from text; it cannot edit faces "
    "or backgrounds, so the guest is described and re-imagined from the slot prompt."
)


class DeepSeekProvider:
    name = ProviderName.DEEPSEEK
    label = "DeepSeek Janus-Pro"
    types = frozenset({ProcessingType.PROMPT})
    max_side = MAX_SIDE
    types_note = TYPES_NOTE

    def __init__(self, gpu: Any) -> None:
        self._gpu = gpu

    def check_slot(self, slot: Slot) -> None:
        if slot.type is not None and slot.type not in self.types:
            raise InvalidInput(f"{self.label} does prompt only: {TYPES_NOTE}", field="type")
        if gpu_unavailable(self._gpu):
            raise InvalidInput(f"{self.label} {GPU_OFF_REASON}", field="type")

    async def run(self, job: ProviderJob) -> ProviderImage:
        if gpu_unavailable(self._gpu):
            raise ProviderFailed("gpu_not_ready", f"{self.label} {GPU_OFF_REASON}")
        if job.type is not ProcessingType.PROMPT:
            raise ProviderFailed("deepseek_prompt_only", TYPES_NOTE)
        prompt = job.prompt.strip()[:MAX_SLOT_PROMPT_CHARS]
        if not prompt:
            raise ProviderFailed("missing_prompt", "the slot needs a prompt")
        png = await call_gpu(
            "janus",
            self._gpu.janus_from_photo(
                job.photo, prompt=prompt, size=job.photo_size, timeout=job.remaining()
            ),
        )
        data = await run_cpu(lambda: to_jpeg(png))
        return ProviderImage(data=data, mime="image/jpeg")

    async def aclose(self) -> None:
        return None  # the GPU backend belongs to the services, which close it


def create(ctx) -> DeepSeekProvider:  # ctx: shared.providers.ProviderContext
    return DeepSeekProvider(ctx.gpu)
