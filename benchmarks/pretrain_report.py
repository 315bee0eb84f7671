"""Perception pretraining of the tiny student: per-task held-out accuracy after every stage, from a run's log.

    .venv/bin/python benchmarks/pretrain_report.py                       # the shipped weights' log (the package)
    .venv/bin/python benchmarks/pretrain_report.py --run runs/pretrain-tiny --report /tmp/pretrain.md
    .venv/bin/python benchmarks/pretrain_report.py --compare benchmarks/results/pretrain_learned_log.json

The numbers come from the run itself (``seekerlite build-tiny-model --pretrain [--ship]`` writes
``pretrain_log.json``; shipping copies it to ``seekerlite/models/weights/tiny-pretrained-log.json`` next to
``tiny-pretrained.json``, which records the machine, date and command). Accuracy: teacher-forced exact match of
the answer tokens (= greedy decoding after ``<answer>``) on a fixed held-out set of clips from seeds no
evaluation world uses; "majority" is the share of the held-out set's most common answer per task.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seekerlite.models.pretrain_weights import INFO_FILE, LOG_FILE, WEIGHTS_DIR


def render(log: dict, info: dict | None, compare: dict | None = None, compare_label: str = "before") -> str:
    """The markdown report of one pretraining log (and its shipping record, when there is one); with `compare`
    (another run's log) its final accuracy stands in a column beside this run's."""
    stages, evals = log["stages"], log["eval"]
    tasks = list(log["chance"])
    cols = tasks + sorted({k for e in evals for k in e["accuracy"] if "/" in k})
    ends, end = [], 0
    for s in stages:
        end += s["steps"]
        ends.append(end)
    lines = ["# Perception pretraining of the tiny student: held-out accuracy per task", ""]
    if info:
        lines += [f"Command: `{info.get('command') or 'seekerlite build-tiny-model --pretrain --ship'}`", "",
                  (f"Machine: {info.get('machine', '?')}; torch {info.get('versions', {}).get('torch', '?')}, "
                   f"transformers {info.get('versions', {}).get('transformers', '?')}. Date: {info.get('date', '?')}. "
                   f"Weights: `seekerlite/models/weights/tiny-pretrained.safetensors`, {info['bytes'] / 1e6:.1f} MB, "
                   f"sha256 `{info['sha256'][:16]}...`."), ""]
    cfg = log["config"]
    load = log.get("load_average", {})
    lines += [(f"Wall time: **{log['wall_seconds'] / 60:.1f} min** for {ends[-1]} steps x batch "
              f"{cfg['per_device_train_batch_size']} ({cfg['threads']} training thread + 1 data worker; the training "
              f"process used {log.get('cpu_seconds_main', float('nan')) / 60:.1f} CPU-min; load average "
              f"{load.get('start', float('nan')):.1f} at the start, {load.get('end', float('nan')):.1f} at the end: "
              "the 2 cores were shared with other jobs), lr "
              f"{cfg['learning_rate']:g}, curriculum `{cfg['stages']}` (each stage: {cfg['new_task_share']:.0%} new "
              f"tasks or its `@SHARE`, the rest replays earlier ones), {cfg['eval_per_task']} held-out examples per "
              "task."), "",
              "## Final held-out accuracy", ""]
    if compare:
        c = compare["config"]
        lines += [f"*{compare_label}*: the run of `position_code={c.get('position_code', 'learned')}`, curriculum "
                  f"`{c['stages']}` ({compare['wall_seconds'] / 60:.1f} min), on the same held-out set.", ""]
    lines += ["| task | accuracy |" + (f" {compare_label} |" if compare else "") + " majority answer |",
              "|---|---|" + ("---|" if compare else "") + "---|"]
    final = log["final_accuracy"]
    for t in cols:
        base = t.split("/")[0]
        other = ""
        if compare:
            v = compare["final_accuracy"].get(t)
            other = f" {v:.3f} |" if v is not None else " - |"
        lines.append(f"| {t} | {final.get(t, float('nan')):.3f} |{other} {log['chance'][base]:.3f} |")
    lines += ["", "## After each stage", "",
              "| stage (tasks added) | step | minutes | " + " | ".join(cols) + " |",
              "|---|---|---|" + "---|" * len(cols)]
    for i, (s, e) in enumerate(zip(stages, ends, strict=True)):
        row = next((r for r in evals if r["step"] == e), None)
        if row is None:
            continue
        accs = " | ".join(f"{row['accuracy'][t]:.2f}" if t in row["accuracy"] else "-" for t in cols)
        lines.append(f"| {i}: {'+'.join(s['tasks'])} | {e} | {row['seconds'] / 60:.1f} | {accs} |")
    lines += ["", "Curves: `seekerlite/models/weights/tiny-pretrained-curves.png` (loss and per-task accuracy vs step).",
              ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=None, help="a pretraining folder (default: the shipped log)")
    p.add_argument("--report", type=Path, default=ROOT / "benchmarks" / "results" / "pretrain.md")
    p.add_argument("--compare", type=Path, default=None, help="another run's pretrain_log.json, shown beside it")
    p.add_argument("--compare-label", default="before", help="the column header of --compare")
    a = p.parse_args(argv)
    if a.run is None:
        log = json.loads((WEIGHTS_DIR / LOG_FILE).read_text())
        info = json.loads((WEIGHTS_DIR / INFO_FILE).read_text())
    else:
        log, info = json.loads((a.run / "pretrain_log.json").read_text()), None
    a.report.parent.mkdir(parents=True, exist_ok=True)
    compare = json.loads(a.compare.read_text()) if a.compare else None
    a.report.write_text(render(log, info, compare, a.compare_label), encoding="utf-8")
    print(f"wrote {a.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
