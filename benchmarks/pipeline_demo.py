"""The demo pipeline config end to end on a CPU: time per stage, and an interrupted run resumed to the same files.

    .venv/bin/python benchmarks/pipeline_demo.py            # ~5 min on 2 cores -> benchmarks/results/pipeline_demo.md

1. a clean run of seekerlite/configs/pipeline_demo.json (toy world + sample_data + noisy candidates -> SFT and RL
   data), timed per stage (the stages' .done.json files hold their seconds);
2. a second run interrupted three times (an exception raised from the progress hook in stage 1, stage 3 and the
   RL curation, as a crash would), re-run each time until it finishes;
3. every output file of the two runs compared byte for byte (timing files aside).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from seekerlite.pipeline import (
    STAGES,
    compare_runs,
    format_counts,
    load_config,
    read_counts,
    run_pipeline,
)

ROOT = Path(__file__).resolve().parent.parent


class Interrupt(Exception):
    """Stands for a crash or a Ctrl-C in the middle of a stage."""


def cpu_name() -> str:
    """The CPU's model name (Linux), else the machine type."""
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="demo")
    p.add_argument("--work", default=None, help="folder for the two runs (default: a temporary one, removed)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pipeline_demo.md"))
    a = p.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="pipeline_bench_"))
    cfg = load_config(a.config)
    load = os.getloadavg()[0]

    t = time.perf_counter()
    run_pipeline(cfg, work / "clean", progress=False)
    clean_s = time.perf_counter() - t
    counts = read_counts(work / "clean")
    stage_s = {s: json.loads((work / "clean" / f"{s}.done.json").read_text()).get("seconds") for s in STAGES}

    stops = [("stage1_filter", 20), ("stage3_masks", 10), ("rl", 15)]
    crashes = 0
    t = time.perf_counter()
    for stage, n in stops:
        def hook(st: str, k: int, stage: str = stage, n: int = n) -> None:
            if st == stage and k == n:
                raise Interrupt(f"{stage} after {n} records")
        try:
            run_pipeline(cfg, work / "resumed", hook=hook, progress=False)
        except Interrupt:
            crashes += 1
    run_pipeline(cfg, work / "resumed", progress=False)
    resumed_s = time.perf_counter() - t
    diff = compare_runs(work / "clean", work / "resumed")

    lines = [
        "# The demo pipeline on a CPU: time per stage, and resume after interrupts", "",
        f"Machine: {os.cpu_count()} CPU cores ({cpu_name()}), no GPU, torch "
        f"{torch.__version__}, Python {platform.python_version()}; 1-min load average {load:.1f} at the start "
        "(other jobs may share the cores: times are upper bounds).",
        f"Command: `python benchmarks/pipeline_demo.py --config {a.config}`.", "",
        f"Clean run: **{clean_s:.0f} s** wall for every stage (sources -> SFT and RL data).", "",
        format_counts(counts), "",
        "| stage | seconds |", "|---|---:|",
        *[f"| {s} | {stage_s[s]:.1f} |" if isinstance(stage_s[s], (int, float)) else f"| {s} | - |" for s in STAGES], "",
        f"Interrupted run: {crashes} interrupts ({', '.join(f'{s} after {n} records' for s, n in stops)}), each "
        f"followed by a re-run; {resumed_s:.0f} s wall in all.",
        f"Files that differ from the clean run (timing files aside): **{len(diff)}**"
        + (f" — {', '.join(diff[:10])}" if diff else " (no duplicate or lost records)."), "",
    ]
    Path(a.out).write_text("\n".join(lines))
    print("\n".join(lines))
    if a.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
