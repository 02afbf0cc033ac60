#!/usr/bin/env bash
# The whole GPU check of issue 16 in one run: under 8 minutes on one H200, figures to JSON.
#
#   benchmarks/gpu_smoke.sh --wheels /path/to/wheels --out gpu_smoke.json    # on the GPU box
#   benchmarks/gpu_smoke.sh --tiny --out /tmp/smoke.json                      # CPU, CI
#
# 1. installs the project's pinned GPU stack (benchmarks/gpu_requirements.txt) from a local
#    wheel folder, offline (--no-index): the GPU machine has torch but no diffusers and no
#    internet; the machine's own torch is kept;
# 2. benchmarks/gpu_smoke_checks.py: the load path on the device (tiny model + tiny LoRA:
#    weights straight to the device, LoRA fused and unloaded there, 8 denoiser passes per
#    booth call, VAE slicing) — seconds;
# 3. benchmarks/gpu_image_edit.py --quick: full-size random bf16 weights (no download), the
#    booth case (3:2 guest + reference, Lightning 8 steps vs base 50 steps CFG 4), a single
#    1024² edit, three concurrent booth requests, peak memory, model build time;
# 4. writes everything, with the elapsed time and the targets, to --out.
# Each step has its own timeout so the whole run stays inside 8 minutes; a step that fails
# is recorded and the script exits non-zero. --tiny runs the same steps on the CPU with tiny
# configs (no install unless --wheels is given).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
TINY=0
WHEELS=""
REQUIREMENTS="$ROOT/benchmarks/gpu_requirements.txt"
OUT="$ROOT/gpu_smoke.json"
CHECKS_LIMIT="${SMOKE_CHECKS_SECONDS:-90}"
BENCH_LIMIT="${SMOKE_BENCH_SECONDS:-360}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --tiny) TINY=1; shift ;;
    --wheels) WHEELS="$2"; shift 2 ;;
    --requirements) REQUIREMENTS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

started=$(date +%s)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0

if [[ -n "$WHEELS" ]]; then
  echo "== installing the pinned GPU stack from $WHEELS (offline)"
  "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" -r "$REQUIREMENTS"
fi

tiny_flag=()
[[ $TINY -eq 1 ]] && tiny_flag=(--tiny)

echo "== load-path checks"
timeout "$CHECKS_LIMIT" "$PY" "$ROOT/benchmarks/gpu_smoke_checks.py" "${tiny_flag[@]}" \
  --json "$work/checks.json" || status=$?

echo "== image-edit benchmark"
timeout "$BENCH_LIMIT" "$PY" "$ROOT/benchmarks/gpu_image_edit.py" --quick "${tiny_flag[@]}" \
  --json "$work/edit.json" || status=$?

elapsed=$(( $(date +%s) - started ))
"$PY" - "$work" "$OUT" "$elapsed" "$status" "$TINY" <<'PYEOF'
import json, sys
from pathlib import Path

work, out, elapsed, status, tiny = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
def read(name):
    path = work / name
    return json.loads(path.read_text()) if path.exists() else None
edit = read("edit.json")
cases = {c["label"]: c for c in (edit or {}).get("cases", [])}
def seconds(prefix):
    return next((c["seconds"] for label, c in cases.items() if label.startswith(prefix)), None)
figures = {
    "tiny": tiny,
    "elapsed_seconds": elapsed,
    "exit_status": status,
    "checks": read("checks.json"),
    "image_edit": edit,
    "summary": {
        "booth_edit_lightning_s": seconds("booth: guest 3:2 + reference, 8 steps"),
        "booth_edit_base_50_steps_cfg4_s": seconds("booth: guest 3:2 + reference, 50 steps"),
        "single_1024_edit_s": seconds("8 steps, cfg 1, n=1, 1 input"),
        "concurrent_booth_s": (edit or {}).get("concurrent_booth_seconds"),
        "build_seconds": (edit or {}).get("build_seconds"),
        "peak_gib": max((c["peak_gib"] for c in cases.values() if c["peak_gib"] is not None), default=None),
    },
    "targets": {"booth_edit_lightning_s": 6.0, "single_1024_edit_s": 4.0, "elapsed_seconds": 480},
}
out.write_text(json.dumps(figures, indent=2))
print(json.dumps(figures["summary"], indent=2))
PYEOF
echo "== wrote $OUT in ${elapsed} s"
exit "$status"
