"""Qwen3-VL (2B / 4B / 8B Instruct) on transformers `Qwen3VLForConditionalGeneration`.

Which checkpoint a model id loads is the registry's business (gpu_jobs.vision_models passes
`source` and `revision` in); this module does not import it."""

from __future__ import annotations

from gpu_jobs._qwen_vl_chat import QwenVLChatRunner


class Qwen3VLRunner(QwenVLChatRunner):
    MODEL_CLASS = "Qwen3VLForConditionalGeneration"
    PROCESSOR_CLASS = "Qwen3VLProcessor"
