"""Qwen2-VL (2B / 7B Instruct) on transformers `Qwen2VLForConditionalGeneration`.

Which checkpoint a model id loads is the registry's business (gpu_jobs.vision_models passes
`source` and `revision` in); this module does not import it."""

from __future__ import annotations

from gpu_jobs._qwen_vl_chat import QwenVLChatRunner


class Qwen2VLRunner(QwenVLChatRunner):
    MODEL_CLASS = "Qwen2VLForConditionalGeneration"
    PROCESSOR_CLASS = "Qwen2VLProcessor"
