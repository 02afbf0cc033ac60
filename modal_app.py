"""boothai's GPU models on Modal: thin classes around the gpu_jobs runners.

    modal run modal_app.py::download_weights      # once: fill the "boothai-weights" volume
    modal deploy modal_app.py                      # the app the `modal` GPU backend calls
    modal run modal_app.py --action warm --containers 1   # event starts: keep 1 warm each
    modal run modal_app.py --action cool                  # event over: scale to zero

Cold starts of the ~54 GiB Qwen-Image-Edit pipeline take minutes, far beyond the booth's
50 s window. Two levers: memory + GPU snapshots (`@modal.enter(snap=True)` loads the weights
onto the GPU before the snapshot, so later cold starts restore it) and, during event hours,
`min_containers` via `warm` (or the `set_warm_containers` function from a scheduler).

Each GPU method takes one request dataclass and returns one answer (gpu_jobs.requests, the
same objects the `modal` backend sends with `.remote.aio(request)`; Modal pickles them, and
gpu_jobs is shipped into the image). gpu_jobs.tasks turns a request into the runner call,
exactly as the in-process backend does.

Imports on a machine without torch or Modal credentials: torch and the runners are imported
inside `image.imports()`; the request types and gpu_jobs.tasks are pure Python, imported at
the top (every image here ships gpu_jobs); nothing here talks to Modal at import time.
"""

import os
from typing import Any

import modal

from gpu_jobs import tasks
from gpu_jobs.requests import (
    EditAnswer,
    EditRequest,
    ImageAnswer,
    JanusRequest,
    OcrRequest,
    TextAnswer,
    VisionChatRequest,
)

APP_NAME = "boothai-gpu"
WEIGHTS_DIR = "/weights"
GPU = "H100"
SCALEDOWN_SECONDS = 300
CALL_TIMEOUT_SECONDS = 900

# --- image ------------------------------------------------------------------------------
image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(
        "torch==2.13.0",
        "torchvision",  # the Qwen-VL video processors need it; pip picks the one for torch
        "diffusers==0.42.1",
        "transformers==5.23.0",
        "accelerate>=1.15",
        "peft>=0.17",  # Lightning LoRA loading
        "pillow>=10.4",
        "safetensors",
        "huggingface_hub[hf_xet]",
    )
    .env(
        {
            # hub downloads are cached on the volume, so containers share one copy
            "HF_HOME": f"{WEIGHTS_DIR}/hf",
            "HF_HUB_OFFLINE": "0",
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    .add_local_python_source("gpu_jobs")
)
# The operations functions need no torch, but this module imports gpu_jobs' pure-Python
# request types and tasks at the top, so every container that loads it gets gpu_jobs too.
ops_image = modal.Image.debian_slim(python_version="3.11").add_local_python_source("gpu_jobs")

# --- app --------------------------------------------------------------------------------
app = modal.App(APP_NAME)
weights = modal.Volume.from_name("boothai-weights", create_if_missing=True)

with image.imports():
    import torch  # noqa: F401  (imported here so memory snapshots include it)

    from gpu_jobs.image_edit import QwenImageEditor
    from gpu_jobs.janus import JanusGenerator as JanusRunner
    from gpu_jobs.vision_models import DEFAULT_VISION_MODEL, build_runner


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


def _vision_model_dir() -> str:
    return os.environ.get("BOOTHAI_VISION_MODEL_DIR", "").strip() or f"{WEIGHTS_DIR}/vision"


GPU_CLASS_OPTIONS: dict[str, Any] = {
    "image": image,
    "gpu": GPU,
    "volumes": {WEIGHTS_DIR: weights},
    "scaledown_window": SCALEDOWN_SECONDS,
    "timeout": CALL_TIMEOUT_SECONDS,
    "enable_memory_snapshot": True,
    "experimental_options": {"enable_gpu_snapshot": True},
}


@app.cls(**GPU_CLASS_OPTIONS)
@modal.concurrent(max_inputs=1)
class ImageEditor:
    """Qwen-Image-Edit-Plus. Env: BOOTHAI_QWEN_EDIT_MODEL, BOOTHAI_QWEN_LIGHTNING_LORA,
    BOOTHAI_QWEN_EDIT_CONDITION_AREA / BOOTHAI_QWEN_EDIT_VAE_AREA (pixel areas)."""

    @modal.enter(snap=True)
    def load(self) -> None:
        self.runner = QwenImageEditor(
            condition_image_size=_env_int("BOOTHAI_QWEN_EDIT_CONDITION_AREA"),
            vae_image_size=_env_int("BOOTHAI_QWEN_EDIT_VAE_AREA"),
        )
        self.runner.load()

    @modal.method()
    def edit(self, request: EditRequest) -> EditAnswer:
        """One joint edit, or each image on its own when `request.per_input`."""
        return tasks.edit(self.runner, request)

    @modal.method()
    def warmup(self) -> bool:
        """Called to start a container ahead of traffic; returns once the model is loaded."""
        return self.runner.loaded


@app.cls(**GPU_CLASS_OPTIONS)
@modal.concurrent(max_inputs=1)
class JanusGenerator:
    """Janus-Pro. Env: BOOTHAI_JANUS_MODEL."""

    @modal.enter(snap=True)
    def load(self) -> None:
        self.runner = JanusRunner()
        self.runner.load()

    @modal.method()
    def generate(self, prompt: str, n: int = 1, seed: int | None = None) -> list[bytes]:
        return self.runner.generate(prompt, n=n, seed=seed)

    @modal.method()
    def generate_from_photo(self, request: JanusRequest) -> ImageAnswer:
        return tasks.janus(self.runner, request)

    @modal.method()
    def warmup(self) -> bool:
        return self.runner.loaded


@app.cls(**GPU_CLASS_OPTIONS)
@modal.concurrent(max_inputs=1)
class VisionModel:
    """One container set per vision model id (`VisionModel(model_id="qwen3_vl_2b")`).
    Weights: $BOOTHAI_VISION_MODEL_DIR/<model_id> when present, else the hub (cached)."""

    model_id: str = modal.parameter(default="qwen3_vl_2b")

    @modal.enter(snap=True)
    def load(self) -> None:
        self.runner = build_runner(self.model_id or DEFAULT_VISION_MODEL, model_dir=_vision_model_dir())
        self.runner.load()

    @modal.method()
    def chat(self, request: VisionChatRequest) -> TextAnswer:
        return tasks.vision_chat(self.runner, request)

    @modal.method()
    def ocr(self, request: OcrRequest) -> TextAnswer:
        return tasks.vision_ocr(self.runner, request)

    @modal.method()
    def warmup(self) -> bool:
        return self.runner.loaded


# --- operations ---------------------------------------------------------------------------
WARM_TARGETS: list[tuple[str, dict[str, str]]] = [
    ("ImageEditor", {}),
    ("JanusGenerator", {}),
    ("VisionModel", {"model_id": "qwen3_vl_2b"}),
]


def _scale(min_containers: int, targets: list[tuple[str, dict[str, str]]]) -> None:
    for class_name, params in targets:
        instance = modal.Cls.from_name(APP_NAME, class_name)(**params)
        instance.update_autoscaler(min_containers=min_containers)
        print(f"{class_name}{params or ''}: min_containers={min_containers}")


@app.function(image=ops_image, timeout=120)
def set_warm_containers(min_containers: int) -> None:
    """Keep `min_containers` of each GPU class warm (0 = scale to zero). Call from a
    scheduler, e.g. `modal.Function.from_name(APP_NAME, "set_warm_containers").remote(1)`."""
    _scale(min_containers, WARM_TARGETS)


@app.function(image=image, volumes={WEIGHTS_DIR: weights}, timeout=3 * 3600)
def download_weights() -> None:
    """Fill the volume's hub cache with every checkpoint the app serves."""
    from huggingface_hub import snapshot_download

    from gpu_jobs.image_edit import MODEL_ID as EDIT_ID
    from gpu_jobs.janus import MODEL_ID as JANUS_ID
    from gpu_jobs.vision_models import VISION_MODELS

    repos = [EDIT_ID, JANUS_ID] + [s.checkpoint for s in VISION_MODELS.values() if not s.unavailable]
    for repo in repos:
        print("downloading", repo)
        snapshot_download(repo)
    weights.commit()


@app.local_entrypoint()
def main(action: str = "warm", containers: int = 1) -> None:
    """`--action warm --containers N` before an event, `--action cool` after it."""
    if action == "warm":
        _scale(containers, WARM_TARGETS)
    elif action == "cool":
        _scale(0, WARM_TARGETS)
    else:
        raise SystemExit(f"unknown action {action!r}: warm or cool")
