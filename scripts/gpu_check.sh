#!/usr/bin/env bash
# The GPU check on a machine with no network (wheels from scripts/gpu_wheels.sh, installed into .gpu_site/,
# which stays between calls while the machine is warm). Each part is one call, because a call carries <= 64 MiB:
#   bash scripts/gpu_check.sh install part1        # carry scripts/gpu_wheels/part1
#   bash scripts/gpu_check.sh install part2        # carry scripts/gpu_wheels/part2 (part3: unsloth, optional)
#   bash scripts/gpu_check.sh run                  # JSON lines -> benchmarks/results/gpu_check.jsonl (and $OUT)
#   bash scripts/gpu_check.sh run --models 2b --frames 16     # a shorter run
set -euo pipefail
cd "$(dirname "$0")/.."
SITE=$PWD/.gpu_site
PY=${PYTHON:-python3}
case "${1:-run}" in
  install)
    part=${2:?which part: part1 | part2 | part3}
    "$PY" -m pip install --quiet --no-index --no-deps --target "$SITE" scripts/gpu_wheels/"$part"/*.whl
    PYTHONPATH=$SITE:$PWD "$PY" -c "import importlib.metadata as m, sys; sys.path.insert(0, '$SITE'); print({p: m.version(p) for p in ('torch', 'transformers', 'peft') })"
    ;;
  run)
    shift || true
    mkdir -p benchmarks/results
    out=benchmarks/results/gpu_check.jsonl
    nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader || true
    PYTHONPATH=$SITE:$PWD TRL_EXPERIMENTAL_SILENCE=1 timeout 470 "$PY" benchmarks/gpu_check.py --out "$out" "$@"
    [ -n "${OUT:-}" ] && cp "$out" "$OUT/" || true
    ;;
  *) echo "usage: $0 install PART | run [gpu_check.py flags]" >&2; exit 2 ;;
esac
