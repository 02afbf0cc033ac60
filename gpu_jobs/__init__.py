"""Model runners that need torch: one module per model family.

Each runner is a plain class with `load()` (idempotent), a `loaded` property, `unload()` and
one method per task. Bytes and primitives go in, PNG bytes or text come out; no PIL images or
tensors cross the boundary. Runners pick the device themselves (cuda → bfloat16, cpu →
float32) and are thread-safe: one inference at a time per runner.

What crosses the boundary is typed: `gpu_jobs.requests` holds one frozen request and one
answer dataclass per task (shared by the GPU backend port and modal_app.py), and
`gpu_jobs.tasks` turns a request into the runner call.

This package imports no torch at import time: `gpu_jobs.vision_models` (the registry),
`gpu_jobs.errors`, `gpu_jobs.requests` and `gpu_jobs.tasks` are safe to import in the web
tier; the runner modules import torch. Imports go one way: the registry imports the runner
modules (lazily), never the reverse.
"""

from gpu_jobs.errors import (
    DeadlinePassed,
    GpuJobError,
    InvalidRequest,
    ModelUnavailable,
    UnsupportedTask,
)

__all__ = ["DeadlinePassed", "GpuJobError", "InvalidRequest", "ModelUnavailable", "UnsupportedTask"]
