"""python benchmarks/sft_variants.py NAME [--clips 256] [--epochs 1] [--rehearsal 1.0] [--rehearsal-tasks T,..] [--train-vision] [--seed 0]

One SFT variant of the learning-signal recipe on one seed, scored the cheap way: the base's perception skills after
it (``skill_retention.scores``) and, on the held-out tool world of ``learning_signal.py``, accuracy with its own
crops and after the oracle's crop, region_hit, and how often the cell it asked for is the *mark's* cell (what the
base can read off the marked frame) or the target's true cell. ~6 min per variant on 2 cores; the numbers that
chose the SFT preset of ``tiny-pretrained`` (``train.rehearsal``). One seed, 32 questions per form: a screen,
not a result - ``learning_signal.py`` is the multi-seed measurement.

``python benchmarks/sft_variants.py --report benchmarks/results/sft_variants.md [--work DIR]`` tabulates every
variant run under ``--work`` (their ``variant.json``), with the machine and date.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from env_latency import machine
from learning_signal import evaluate_stage, stats
from skill_retention import TASKS, scores
from tool_value import tool_world


def report(work: Path, out: Path, notes: list[str] | None = None) -> None:
    """A markdown table of the variants under `work`: the base's skills after SFT, then per form accuracy with its
    own crops, after the oracle's crop, and region_hit."""
    rows = [json.loads(f.read_text()) for f in sorted(work.glob("*/variant.json"))]
    if not rows:
        raise SystemExit(f"no */variant.json under {work}: run a variant first")
    knobs = ("seed", "clips", "epochs", "rehearsal", "rehearsal_tasks", "train_vision")
    head = ["variant", *knobs, *TASKS] + [f"{f} {k}" for f in ("MC", "OE") for k in ("own", "oracle's crop", "hit")]
    lines = ["# SFT variants (one seed each: a screen)", "",
             (f"Machine: {machine()}. Date: {datetime.date.today()}. Command: `python benchmarks/sft_variants.py NAME "
              f"[knobs]` per row, then `python benchmarks/sft_variants.py --report {out}` (the notes below as "
              "`--note`)."), "",
             ("Skills: held-out pretraining examples after SFT (`skill_retention.scores`, 100 per task). *own*: "
              "accuracy with its own tool calls, *oracle's crop*: after the oracle's crop_video call, *hit*: its crops "
              "holding the target; 32 held-out questions per form (world seed 2000 + seed). A `-` knob: not recorded "
              "(the run predates the flag; then the SFTRunConfig default)."), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        v, cells = r["variant"], []
        cells += [v["name"], *(str(v.get(k, "-")) for k in knobs)]
        cells += [f"{r['skills'].get(t, float('nan')):.2f}" for t in TASKS]
        for f in ("mc", "oe"):
            cells += [f"{100 * r[f]['accuracy']:.0f} %", f"{100 * r[f]['after_oracle_crop']:.0f} %",
                      "-" if r[f]["region_hit"] is None else f"{100 * r[f]['region_hit']:.0f} %"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [f"- {n}" for n in notes or []]
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


def main(argv: list[str] | None = None) -> int:
    import torch

    from seekerlite.config import EnvConfig, student_preset
    from seekerlite.env import VideoSeekerEnv
    from seekerlite.policies import OraclePolicy, run_episodes
    from seekerlite.policies.scripted import mark_cell
    from seekerlite.toyworld import TOOL_TASKS
    from seekerlite.train.sft import SFTRunConfig, train_sft
    from seekerlite.trajectory import save_chat_dataset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", nargs="?", help="the variant's folder under --work")
    ap.add_argument("--report", type=Path, help="write the table of every variant under --work here, and stop")
    ap.add_argument("--note", action="append", help="a line under the --report table (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clips", type=int, default=256, help="training clips (world seed 1000 + seed)")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--rehearsal", type=float, default=1.0, help="SFTRunConfig.rehearsal_share")
    ap.add_argument("--rehearsal-tasks", default=SFTRunConfig.rehearsal_tasks, help="SFTRunConfig.rehearsal_tasks")
    ap.add_argument("--train-vision", action="store_true", help="also train the vision tower (finetune_vision_layers)")
    ap.add_argument("--work", default="runs/sft_variants")
    args = ap.parse_args(argv)
    if args.report:
        report(Path(args.work), args.report, args.note)
        return 0
    if not args.name:
        ap.error("name a variant (or give --report)")
    torch.set_num_threads(2)
    t0, work = time.time(), Path(args.work)
    out = work / args.name
    train, base = tool_world(work / f"world-train-{args.seed}-{args.clips}", args.clips, 1000 + args.seed,
                             families=TOOL_TASKS, oe=True)
    if not (out / "summary.json").is_file():
        data = work / f"sft-data-{args.seed}-{args.clips}"
        if not (data / "sft.jsonl").is_file():
            trajs = run_episodes(OraclePolicy(seed=args.seed), train, EnvConfig(), base_dir=str(base), progress=False)
            save_chat_dataset(trajs, data)
        student = student_preset("tiny-pretrained", finetune_vision_layers=True if args.train_vision else None)
        train_sft(SFTRunConfig.for_model("tiny-pretrained", student=student, data=str(data / "sft.jsonl"),
                                         output_dir=str(out), seed=args.seed, num_train_epochs=args.epochs,
                                         rehearsal_share=args.rehearsal, rehearsal_tasks=args.rehearsal_tasks,
                                         no_tool_share=0.5, logging_steps=10, save_steps=10_000))
    skills = scores([str(out)], 100)[1][0]
    held, hbase = tool_world(work / f"world-eval-{args.seed}", 20, 2000 + args.seed, families=TOOL_TASKS, oe=True)
    by, env = {s.id: s for s in held}, VideoSeekerEnv(EnvConfig(), base_dir=hbase)
    own = evaluate_stage(str(out), held, hbase, "tools", args.seed)
    looked = evaluate_stage(str(out), held, hbase, "oracle's look", args.seed)
    row: dict = {"variant": vars(args), "skills": {t: round(skills.get(t, float("nan")), 2) for t in TASKS}}
    for form in ("mc", "oe"):
        rs = [r for r in own if r["form"] == form]
        looks = []
        for r in rs:
            env.reset(by[r["sample_id"]])
            looks += [(chosen, true, mark_cell(by[r["sample_id"]], env)) for chosen, true in r.get("looks") or []]
        own_stats = stats(rs, {args.seed: rs})  # learning_signal's accuracy (with its CI), region_hit
        ol = [r for r in looked if r["form"] == form]
        row[form] = {"n": len(rs), "accuracy": round(own_stats["accuracy"], 3),
                     "after_oracle_crop": round(stats(ol, {args.seed: ol})["accuracy"], 3),
                     "region_hit": None if own_stats["region_hit"] != own_stats["region_hit"]
                     else round(own_stats["region_hit"], 3),
                     "chosen_is_mark_cell": round(sum(c == m for c, _, m in looks) / len(looks), 3) if looks else None,
                     "chosen_is_true_cell": round(sum(c == t for c, t, _ in looks) / len(looks), 3) if looks else None}
    row["minutes"] = round((time.time() - t0) / 60, 1)
    (out / "variant.json").write_text(json.dumps(row, indent=1))
    print(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
