"""Tiny models, built once per session, and a single torch thread (tiny ops only lose from
threading, and the suite shares the machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.tiny_models import png_bytes, tiny_model

torch = pytest.importorskip("torch")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def qwen_edit_dir(tiny_root: Path) -> Path:
    return tiny_model("qwen_image_edit", tiny_root)


@pytest.fixture(scope="session")
def lightning_lora(tiny_root: Path) -> str:
    """A BOOTHAI_QWEN_LIGHTNING_LORA value naming the tiny LoRA: "<folder>::<file>"."""
    from tests.helpers.tiny_models import LIGHTNING_WEIGHT

    return f"{tiny_model('qwen_lightning_lora', tiny_root)}::{LIGHTNING_WEIGHT}"


@pytest.fixture(scope="session")
def janus_dir(tiny_root: Path) -> Path:
    return tiny_model("janus", tiny_root)


@pytest.fixture(scope="session")
def vision_dir(tiny_root: Path) -> Path:
    """A BOOTHAI_VISION_MODEL_DIR: one subfolder per model id, pointing ids at tiny models."""
    folder = tiny_root / "vision"
    folder.mkdir(exist_ok=True)
    for model_id, family in [
        ("qwen3_vl_2b", "qwen3_vl"),
        ("qwen_vl_2b", "qwen2_vl"),
        ("got_ocr", "got_ocr2"),
    ]:
        link = folder / model_id
        if not link.exists():
            link.symlink_to(tiny_model(family, tiny_root), target_is_directory=True)
    return folder


@pytest.fixture(scope="session")
def photos() -> list[bytes]:
    return [png_bytes((200, 30, 30)), png_bytes((30, 200, 30)), png_bytes((30, 30, 200))]
