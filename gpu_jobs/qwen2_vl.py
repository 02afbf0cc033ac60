"""Qwen2-VL (2B / 7B Instruct) on transformers `Qwen2VLForConditionalGeneration`."""

from __future__ import annotations

from gpu_jobs._qwen_vl_chat import QwenVLChatRunner
from gpu_jobs.vision_models import checkpoints_for

# model id → hub checkpoint; the registry in gpu_jobs.vision_models is the one source.
CHECKPOINTS = checkpoints_for("qwen2_vl")
MODEL_REVISION: str | None = None


class Qwen2VLRunner(QwenVLChatRunner):
    MODEL_CLASS = "Qwen2VLForConditionalGeneration"
    PROCESSOR_CLASS = "Qwen2VLProcessor"
