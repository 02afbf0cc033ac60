"""The GPU backend port and its adapters. Importing this package imports no torch and no
modal; the adapters import them when first used.

Core code imports everything from here: `from shared.gpu import EditRequest, GpuBackend, …`
(the request/answer dataclasses live in gpu_jobs.requests, so Modal can unpickle them)."""

from __future__ import annotations

from typing import Literal

from gpu_jobs.requests import (
    EditAnswer,
    EditRequest,
    ImageAnswer,
    JanusRequest,
    OcrRequest,
    TextAnswer,
    VisionChatRequest,
)
from shared.gpu.port import JANUS, QWEN_IMAGE_EDIT, GpuBackend, ModelInfo, ModelListing

GpuBackendKind = Literal["modal", "inprocess", "off"]


def build_gpu_backend(
    kind: str,
    *,
    qwen_edit_model: str = "Qwen/Qwen-Image-Edit-2509",
    janus_model: str = "deepseek-community/Janus-Pro-7B",
    qwen_lightning_lora: str | None = None,
    vision_model_dir: str | None = None,
    modal_app_name: str = "boothai-gpu",
    modal_timeout: float = 600.0,
    device: str | None = None,
    edit_condition_image_size: int | None = None,
    edit_vae_image_size: int | None = None,
    edit_reference_vae_image_size: int | None = None,
    attention_backend: str | None = None,
    compile_blocks: bool | None = None,
    memory_budget_bytes: int | None = None,
) -> GpuBackend:
    """The backend for `kind` ("modal" | "inprocess" | "off"), from plain settings values."""
    if kind == "off":
        from shared.gpu.off import OffGpuBackend

        return OffGpuBackend()
    if kind == "inprocess":
        from shared.gpu.inprocess import InProcessGpuBackend

        return InProcessGpuBackend(
            qwen_edit_model=qwen_edit_model,
            janus_model=janus_model,
            qwen_lightning_lora=qwen_lightning_lora,
            vision_model_dir=vision_model_dir,
            device=device,
            edit_condition_image_size=edit_condition_image_size,
            edit_vae_image_size=edit_vae_image_size,
            edit_reference_vae_image_size=edit_reference_vae_image_size,
            attention_backend=attention_backend,
            compile_blocks=compile_blocks,
            memory_budget_bytes=memory_budget_bytes,
        )
    if kind == "modal":
        from shared.gpu.modal import ModalGpuBackend

        return ModalGpuBackend(app_name=modal_app_name, timeout=modal_timeout)
    raise ValueError(f"unknown GPU backend {kind!r} (modal, inprocess or off)")


__all__ = [
    "JANUS",
    "QWEN_IMAGE_EDIT",
    "EditAnswer",
    "EditRequest",
    "GpuBackend",
    "GpuBackendKind",
    "ImageAnswer",
    "JanusRequest",
    "ModelInfo",
    "ModelListing",
    "OcrRequest",
    "TextAnswer",
    "VisionChatRequest",
    "build_gpu_backend",
]
