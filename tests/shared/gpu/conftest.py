"""The tiny-model fixtures of tests/gpu_jobs, reused for the backend adapters."""

from tests.gpu_jobs.conftest import (  # noqa: F401 - fixtures are found by name
    _one_torch_thread,
    janus_dir,
    photos,
    qwen_edit_dir,
    tiny_root,
    vision_dir,
)
