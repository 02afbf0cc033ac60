"""`deepseek`: DeepSeek's open image model Janus-Pro through the GPU backend.

Janus-Pro understands images and generates them from text (384×384), but it cannot edit a
photo. So this tab offers only `prompt`: the backend describes the guest (age, hair, clothing,
pose), generates the slot prompt featuring that description, and upscales the picture to the
guest photo's size, so the booth prints it like any other result. Errors are mapped exactly
as for `qwen` (see shared/providers/qwen.py).
"""

from __future__ import annotations

from shared.access import GPU_BACKEND
from shared.concurrency import run_cpu
from shared.domain import ProcessingType, ProviderName
from shared.errors import ProviderFailed
from shared.gpu import GpuBackend, JanusRequest
from shared.providers.base import BaseProvider, ProviderContext, ProviderImage, ProviderJob
from shared.providers.qwen import GPU_OFF_REASON, call_gpu, gpu_unavailable, to_jpeg
from shared.slot_rules import NEEDS_PROMPT, Input, TypeRule

ACCESS = GPU_BACKEND  # the guest photo travels inline to the GPU backend

MAX_SIDE = 2048  # the guest photo's long side; also the size of the answer
MAX_SLOT_PROMPT_CHARS = 1000  # Janus reads a few hundred tokens; the description follows it

TYPES_NOTE = (
    "DeepSeek's open image model Janus-Pro generates images from text; it cannot edit faces "
    "or backgrounds, so the guest is described and re-imagined from the slot prompt."
)


class DeepSeekProvider(BaseProvider):
    name = ProviderName.DEEPSEEK
    label = "DeepSeek Janus-Pro"
    # Words only: the guest is described and re-imagined, no reference image is read.
    capabilities = {ProcessingType.PROMPT: TypeRule((NEEDS_PROMPT,), frozenset({Input.PROMPT}))}
    max_side = MAX_SIDE
    types_note = TYPES_NOTE

    def __init__(self, gpu: GpuBackend) -> None:
        self._gpu = gpu

    def setup_problem(self) -> str | None:
        return f"{self.label} {GPU_OFF_REASON}" if gpu_unavailable(self._gpu) else None

    async def run(self, job: ProviderJob) -> ProviderImage:
        if gpu_unavailable(self._gpu):
            raise ProviderFailed("gpu_not_ready", f"{self.label} {GPU_OFF_REASON}")
        if job.type not in self.capabilities:
            raise ProviderFailed("deepseek_prompt_only", TYPES_NOTE)
        self.refuse_unready(job)
        prompt = job.prompt.strip()[:MAX_SLOT_PROMPT_CHARS]
        request = JanusRequest(photo=job.photo, prompt=prompt, size=job.photo_size)
        answer = await call_gpu("janus", self._gpu.janus(request, timeout=job.remaining()))
        data = await run_cpu(lambda: to_jpeg(answer.image))
        return ProviderImage(data=data, mime="image/jpeg")


def create(ctx: ProviderContext) -> DeepSeekProvider:
    return DeepSeekProvider(ctx.gpu)
