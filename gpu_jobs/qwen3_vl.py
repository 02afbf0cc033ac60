"""Qwen3-VL (2B / 4B / 8B Instruct) on transformers `Qwen3VLForConditionalGeneration`."""

from __future__ import annotations

from gpu_jobs._qwen_vl_chat import QwenVLChatRunner
from gpu_jobs.vision_models import checkpoints_for

# model id → hub checkpoint; the registry in gpu_jobs.vision_models is the one source.
CHECKPOINTS = checkpoints_for("qwen3_vl")
MODEL_REVISION: str | None = None


class Qwen3VLRunner(QwenVLChatRunner):
    MODEL_CLASS = "Qwen3VLForConditionalGeneration"
    PROCESSOR_CLASS = "Qwen3VLProcessor"
