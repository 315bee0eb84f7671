"""The planner's numbers for Qwen3-VL 2B/4B/8B on a 16 GB card (README's GPU section), written to
benchmarks/results/plan.md. Pure arithmetic (``seekerlite.plan``, no weights): runs on any CPU in ~1 minute.

    .venv/bin/python benchmarks/plan_table.py
"""

from __future__ import annotations

import datetime
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seekerlite.config import EnvConfig
from seekerlite.plan import make_plan, model_spec

OUT = Path(__file__).resolve().parent / "results" / "plan.md"


def main() -> int:
    rows = ["| model | frames/call | tokens/episode | SFT ckpt | SFT no ckpt | GRPO gen (KV) | GRPO step ckpt "
            "(micro-batch) | GRPO step no ckpt (4) | fits 16 GB |", "|---|---|---|---|---|---|---|---|---|"]
    for model in ("2b", "4b", "8b"):
        spec = model_spec(model)
        for frames in (8, 16, 32):
            env = EnvConfig(frames_per_call=frames, max_tool_rounds=3, max_total_frames=max(32, frames))
            p = make_plan(model, env, gpu_gb=16, spec=spec)
            name = {k.split(",")[0] + ("" if "GRPO gen" in k else " " + k.split(", ")[-1]): k for k in p.phases}
            ckpt = next(k for k in p.phases if k.startswith("GRPO step") and k.endswith(", checkpointing"))
            rows.append(f"| {model} ({spec.size_b:.2f} B) | {frames} | {p.budget['total_tokens']} | "
                        f"{p.peak(name['SFT step checkpointing']):.1f} | {p.peak(name['SFT step no checkpointing']):.1f} | "
                        f"{p.peak(name['GRPO generation']):.1f} | {p.peak(ckpt):.1f} ({p.settings['batch_size']}) | "
                        f"{p.peak(name['GRPO step no checkpointing']):.1f} | {'yes' if p.fits else 'no'} |")
    text = "\n".join([
        "# Planner: peak GPU memory (GiB) per phase, QLoRA (NF4 + LoRA r=16), 3 tool rounds, 336x336 frames",
        f"`benchmarks/plan_table.py`, {datetime.date.today().isoformat()}, {platform.node()} (arithmetic, no GPU); "
        "see docs/gpu.md for the terms. GRPO: group of 4 rollouts, replies <= 256 tokens; frames per episode "
        "capped at max(32, frames per call). 'ckpt' = non-reentrant gradient checkpointing.", "", *rows, ""])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
