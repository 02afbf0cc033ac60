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

Settings reach the containers: `modal deploy` reads this machine's BOOTHAI_* GPU settings
(shared.config.Settings, from its environment) and hands them to every GPU class as a Secret
(`settings_secret`), so a Lightning LoRA or a speed option set here is what the containers
run. Serving containers are offline (HF_HUB_OFFLINE=1): every weight comes from the volume
that `download_weights` filled, the Lightning LoRA included; nothing downloads inside a
booth's window.

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
# GPU per class, by what its model needs:
# - Qwen-Image-Edit: 54 GiB of bf16 weights (transformer 38, text encoder 15.4) plus ~6 GiB of
#   activations at 1 MP: an 80 GB card. (The smoke script measures one H200; an H100 has the
#   same bf16 compute, and the figures will say whether it keeps the booth window.)
EDIT_GPU = "H100"
# - Janus-Pro-7B: ~15 GiB in bf16 plus a 576-token image generation: a 48 GB card is plenty.
JANUS_GPU = "L40S"
# - Vision / OCR: Qwen3-VL 2B (the default, ~4.5 GiB) up to 8B (~17 GiB) and GOT-OCR (0.6 B),
#   with at most 4 MP of image tokens (the API's pixel cap): a 48 GB card, not an H100.
VISION_GPU = "L40S"
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
            # hub downloads are cached on the volume, so containers share one copy; serving
            # classes add HF_HUB_OFFLINE=1 (serving_secret), download_weights stays online
            "HF_HOME": f"{WEIGHTS_DIR}/hf",
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    .add_local_python_source("gpu_jobs")
)
# The operations functions need no torch, but this module imports gpu_jobs' pure-Python
# request types and tasks at the top, so every container that loads it gets gpu_jobs too.
ops_image = modal.Image.debian_slim(python_version="3.11").add_local_python_source("gpu_jobs")

# --- settings -----------------------------------------------------------------------------
def deploy_settings_env() -> dict[str, str]:
    """The BOOTHAI_* GPU settings of the machine running `modal deploy` / `modal run`
    (shared.config.Settings.gpu_container_env). Inside a container: nothing to read, the
    Secret has already put them into the environment (and shared/ is not shipped)."""
    if not modal.is_local():
        return {}
    from shared.config import Settings

    return Settings().gpu_container_env()


SETTINGS_ENV = deploy_settings_env()
settings_secret = modal.Secret.from_dict(SETTINGS_ENV)
# Serving never reaches the hub: a missing file fails at once instead of downloading inside a
# booth's window (and a cold start cannot depend on the hub being up).
SERVING_ENV = {"HF_HUB_OFFLINE": "1"}
serving_secret = modal.Secret.from_dict(SERVING_ENV)

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
    "volumes": {WEIGHTS_DIR: weights},
    "secrets": [settings_secret, serving_secret],
    "scaledown_window": SCALEDOWN_SECONDS,
    "timeout": CALL_TIMEOUT_SECONDS,
    "enable_memory_snapshot": True,
    "experimental_options": {"enable_gpu_snapshot": True},
}


@app.cls(gpu=EDIT_GPU, **GPU_CLASS_OPTIONS)
@modal.concurrent(max_inputs=1)
class ImageEditor:
    """Qwen-Image-Edit-Plus. Env (settings_secret): BOOTHAI_QWEN_EDIT_MODEL,
    BOOTHAI_QWEN_LIGHTNING_LORA, BOOTHAI_QWEN_EDIT_CONDITION_AREA / _VAE_AREA (pixel areas),
    BOOTHAI_QWEN_REFERENCE_VAE_AREA, BOOTHAI_QWEN_ATTENTION_BACKEND, BOOTHAI_QWEN_COMPILE."""

    @modal.enter(snap=True)
    def load(self) -> None:
        """Weights onto the GPU, the Lightning LoRA fused, then one warm-up edit: the snapshot
        taken after this hook holds warm kernels (and compiled blocks), not a cold model."""
        self.runner = QwenImageEditor(
            condition_image_size=_env_int("BOOTHAI_QWEN_EDIT_CONDITION_AREA"),
            vae_image_size=_env_int("BOOTHAI_QWEN_EDIT_VAE_AREA"),
        )
        self.runner.load()
        self.runner.warm_up()

    @modal.method()
    def edit(self, request: EditRequest) -> EditAnswer:
        """One joint edit, or each image on its own when `request.per_input`."""
        return tasks.edit(self.runner, request)

    @modal.method()
    def warmup(self) -> bool:
        """Called to start a container ahead of traffic; returns once the model is loaded."""
        return self.runner.loaded


@app.cls(gpu=JANUS_GPU, **GPU_CLASS_OPTIONS)
@modal.concurrent(max_inputs=1)
class JanusGenerator:
    """Janus-Pro. Env: BOOTHAI_JANUS_MODEL."""

    @modal.enter(snap=True)
    def load(self) -> None:
        self.runner = JanusRunner()
        self.runner.load()
        self.runner.warm_up()

    @modal.method()
    def generate(self, prompt: str, n: int = 1, seed: int | None = None) -> list[bytes]:
        return self.runner.generate(prompt, n=n, seed=seed)

    @modal.method()
    def generate_from_photo(self, request: JanusRequest) -> ImageAnswer:
        return tasks.janus(self.runner, request)

    @modal.method()
    def warmup(self) -> bool:
        return self.runner.loaded


@app.cls(gpu=VISION_GPU, **GPU_CLASS_OPTIONS)
@modal.concurrent(max_inputs=1)
class VisionModel:
    """One container set per vision model id (`VisionModel(model_id="qwen3_vl_2b")`).
    Weights: $BOOTHAI_VISION_MODEL_DIR/<model_id> when present, else the hub (cached)."""

    model_id: str = modal.parameter(default="qwen3_vl_2b")

    @modal.enter(snap=True)
    def load(self) -> None:
        self.runner = build_runner(self.model_id or DEFAULT_VISION_MODEL, model_dir=_vision_model_dir())
        self.runner.load()
        self.runner.warm_up()

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


def weight_downloads() -> list[tuple[str, str | None]]:
    """What the app serves, as (hub repo, file): None means the whole snapshot. The Lightning
    LoRA is one file of a repository holding many (the settings name which)."""
    from gpu_jobs.image_edit import MODEL_ID as EDIT_ID
    from gpu_jobs.image_edit import hub_file, lightning_spec
    from gpu_jobs.janus import MODEL_ID as JANUS_ID
    from gpu_jobs.vision_models import VISION_MODELS

    edit_model = os.environ.get("BOOTHAI_QWEN_EDIT_MODEL", "").strip() or EDIT_ID
    janus_model = os.environ.get("BOOTHAI_JANUS_MODEL", "").strip() or JANUS_ID
    repos = [edit_model, janus_model] + [s.checkpoint for s in VISION_MODELS.values() if not s.unavailable]
    wanted: list[tuple[str, str | None]] = [(repo, None) for repo in repos]
    lora = lightning_spec(None)
    if lora and hub_file(lora):
        wanted.append(hub_file(lora))
    return wanted


@app.function(image=image, volumes={WEIGHTS_DIR: weights}, secrets=[settings_secret], timeout=3 * 3600)
def download_weights() -> None:
    """Fill the volume's hub cache with every checkpoint the app serves, and the LoRA."""
    from huggingface_hub import hf_hub_download, snapshot_download

    for repo, filename in weight_downloads():
        print("downloading", repo, filename or "")
        if filename:
            hf_hub_download(repo, filename)
        else:
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
