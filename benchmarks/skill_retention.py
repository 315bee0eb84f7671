"""python benchmarks/skill_retention.py MODEL [MODEL ...] [--label NAME ...] [--per-task 100]

Does fine-tuning keep what the base learned to see? Scores each model folder (the shipped base first, always) on
the perception pretraining's held-out examples (``models.pretrain_data.held_out_set``: the same clips and tasks
the pretraining log reports, exact match of the answer tokens), so an SFT or GRPO run can be compared with the
base it started from. What it found (``train.rehearsal``): SFT on the oracle's episodes alone wiped the base's
``cell`` skill (which grid cell holds the marked object), the one choosing a crop's region needs. A minute.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from env_latency import machine

TASKS = ("cell", "cell_alone", "colour_crop", "colour_at", "crop_read")


def scores(paths: list[str], per_task: int) -> tuple[dict[str, float], list[dict[str, float]]]:
    """(chance per task, accuracy per task of each model)."""
    import torch
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    from seekerlite.models.pretrain import chance_levels, evaluate_held_out
    from seekerlite.models.pretrain_data import held_out_set

    held, out = None, []
    for p in paths:
        if held is None:
            held = held_out_set(AutoProcessor.from_pretrained(p), list(TASKS), per_task)
        model = Qwen3VLForConditionalGeneration.from_pretrained(p, dtype=torch.float32)
        out.append(evaluate_held_out(model, held))
    return chance_levels(held), out


def main(argv: list[str] | None = None) -> int:
    import torch

    from seekerlite.models.pretrain_weights import ensure_pretrained_tiny_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="model folders (full fine-tuning runs: the run folder itself)")
    ap.add_argument("--label", action="append", default=[], help="a name per model, in order")
    ap.add_argument("--per-task", type=int, default=100, help="held-out examples per task")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/skill_retention.md")
    ap.add_argument("--note", action="append", default=[], help="a line added under the table")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = [str(ensure_pretrained_tiny_model())] + args.models
    labels = ["shipped base"] + [args.label[i] if i < len(args.label) else m for i, m in enumerate(args.models)]
    chance, accs = scores(paths, args.per_task)
    command = "python benchmarks/skill_retention.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = ["# Does fine-tuning keep the base's perception?", "",
             f"Machine: {machine()}. Date: {datetime.date.today().isoformat()}. Command: `{command.strip()}`.", "",
             (f"Held-out pretraining examples ({args.per_task} per task, `models.pretrain_data.held_out_set`), exact "
              "match of the answer tokens; *majority* is the share of the most common answer."), "",
             "| model | " + " | ".join(TASKS) + " |", "|---|" + "---|" * len(TASKS),
             "| majority | " + " | ".join(f"{chance[t]:.2f}" for t in TASKS) + " |"]
    lines += [f"| {lab} | " + " | ".join(f"{a.get(t, float('nan')):.2f}" for t in TASKS) + " |"
              for lab, a in zip(labels, accs, strict=True)]
    lines += ["", *[f"- {n}" for n in args.note]] if args.note else []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
