"""Exceptions the runners raise on purpose. Plain Python (no torch), picklable, so Modal can
re-raise them on the caller's side and the GPU backend can map them to the core's errors.

Anything else a runner raises is a bug or a model failure: the backend reports it as a
generation error (or, during `load()`, as a model that is not ready).
"""

from __future__ import annotations


class GpuJobError(Exception):
    """Base class; `str(err)` is a one-line reason safe to show to a caller."""


class InvalidRequest(GpuJobError, ValueError):
    """The inputs are wrong (undecodable image, too many images, n out of range…)."""


class UnsupportedTask(InvalidRequest):
    """The model cannot do this task (e.g. free-form chat on GOT-OCR)."""


class ModelUnavailable(GpuJobError):
    """The model id is known but cannot be served by this build (e.g. dots.ocr)."""


class DeadlinePassed(GpuJobError):
    """The request's deadline passed before it reached the model: dropped, never run."""
