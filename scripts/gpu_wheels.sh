#!/usr/bin/env bash
# Download the wheels benchmarks/gpu_check.py needs on the GPU machine (Python 3.12, torch 2.11 cu130,
# transformers 5.17 and peft installed; no trl, bitsandbytes, accelerate, datasets or unsloth; no network), into
# scripts/gpu_wheels/part1 and part2 (git-ignored), each under the 64 MiB a device call may carry:
#   part1: bitsandbytes (~41 MiB) + the small pure-Python ones; part2: pyarrow + pandas (datasets' own deps).
#   bash scripts/gpu_wheels.sh [--unsloth]     # --unsloth: also part3 (unsloth, unsloth_zoo and their extras)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=scripts/gpu_wheels
PIP=${PIP:-.venv/bin/pip}
FLAGS=(download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312
       --platform any --platform manylinux2014_x86_64)
for v in 17 24 26 27 28 31 34 35; do FLAGS+=(--platform "manylinux_2_${v}_x86_64"); done
mkdir -p "$DEST/part1" "$DEST/part2"
# versions: constraints/unsloth.txt (the stack unsloth pins), so both backends run the same trl
"$PIP" "${FLAGS[@]}" -d "$DEST/part1" trl==1.15.0 bitsandbytes==0.50.2 accelerate==1.16.0 datasets==4.8.5 \
  dill==0.4.0 multiprocess==0.70.18 xxhash==3.6.0 fsspec==2025.10.0 python-dateutil==2.9.0.post0 pytz==2025.2 \
  tzdata==2025.2 six==1.17.0
"$PIP" "${FLAGS[@]}" -d "$DEST/part2" pyarrow==22.0.0 pandas==2.3.3
if [ "${1:-}" = "--unsloth" ]; then
  mkdir -p "$DEST/part3"
  "$PIP" "${FLAGS[@]}" -d "$DEST/part3" unsloth==2026.10.9 unsloth_zoo==2026.10.9 tyro cut_cross_entropy \
    hf_transfer msgspec sentencepiece protobuf docstring_parser shtab typeguard torchao
fi
du -sh "$DEST"/part* && echo "carry each part in its own call: scripts/gpu_check.sh install PART, then run"
