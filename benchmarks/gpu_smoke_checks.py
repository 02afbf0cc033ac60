"""The GPU load path, checked on the device in seconds: a tiny Qwen-Image-Edit saved to disk
with a tiny Lightning-style LoRA, loaded through `QwenImageEditor.load()` exactly as the
product loads the real one (diffusers `device_map`, LoRA fused then unloaded on the device),
then one booth-shaped call without steps or CFG. Random tiny weights: the checks are about
where tensors live and how many denoiser passes run, not about speed or image quality.

    python benchmarks/gpu_smoke_checks.py --json checks.json          # cuda when present
    python benchmarks/gpu_smoke_checks.py --tiny --json checks.json   # CPU (CI)

Exits 1 when a check fails. Part of benchmarks/gpu_smoke.sh.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def run(device: str) -> dict:
    import torch
    from peft.tuners.tuners_utils import BaseTunerLayer

    from gpu_jobs.image_edit import QwenImageEditor
    from tests.helpers.tiny_models import LIGHTNING_WEIGHT, png_bytes, tiny_model

    if device == "cpu":
        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as root:
        model = tiny_model("qwen_image_edit", Path(root))
        lora = f"{tiny_model('qwen_lightning_lora', Path(root))}::{LIGHTNING_WEIGHT}"
        runner = QwenImageEditor(str(model), device=device, lightning_lora=lora,
                                 condition_image_size=32 * 32, vae_image_size=32 * 32)
        start = time.perf_counter()
        runner.load()
        load_seconds = time.perf_counter() - start
        pipe = runner._pipe
        passes: list[int] = []
        pipe.transformer.register_forward_pre_hook(lambda module, args: passes.append(1))
        guest, reference = png_bytes((200, 120, 90), (48, 32)), png_bytes((20, 90, 200), (32, 32))
        out = runner.edit([guest, reference], "the person of picture 1 in scene 2",
                          negative_prompt="blurry", size=(48, 32), seed=0)
        devices = {p.device.type for c in pipe.components.values()
                   if isinstance(c, torch.nn.Module) for p in c.parameters()}
        checks = {
            "fast_path": runner.fast_path,
            "device_map": pipe.hf_device_map,
            "weights_on_device": devices == {torch.device(device).type},
            "peft_layers_left": sum(isinstance(m, BaseTunerLayer) for m in pipe.transformer.modules()),
            "booth_passes": len(passes),
            "vae_slicing": bool(pipe.vae.use_slicing),
            "outputs": len(out),
        }
    ok = (checks["fast_path"] and checks["weights_on_device"] and checks["peft_layers_left"] == 0
          and checks["booth_passes"] == 8 and checks["vae_slicing"] and checks["outputs"] == 1)
    return {"device": device, "load_seconds": round(load_seconds, 3), "checks": checks, "ok": bool(ok)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="run on the CPU (CI)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    import torch

    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    result = run(device)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
