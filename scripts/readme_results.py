"""Rewrite the README's generated results blocks (never copied by hand).

    seekerlite demo --out runs/demo && python scripts/readme_results.py runs/demo
    python scripts/readme_results.py runs/demo --signal runs/learning_signal    # also the multi-seed block

Replaces the text between ``<!-- results:begin -->`` and ``<!-- results:end -->`` in README.md with
``seekerlite.report.results_table(run)`` plus the run's wall time per step (from its step records); with
``--signal``, also the text between ``<!-- signal:begin -->`` and ``<!-- signal:end -->`` with
``signal_table`` of ``benchmarks/learning_signal.py``'s work folder (its ``learning_signal.json``). The text between
``<!-- pretrain:begin -->`` and ``<!-- pretrain:end -->``, where the README has it, is always rewritten from the
shipped pretraining log (``pretrain_table``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import date
from pathlib import Path

from seekerlite.report import results_table

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
SIGNAL_BEGIN, SIGNAL_END = "<!-- signal:begin -->", "<!-- signal:end -->"
PRETRAIN_BEGIN, PRETRAIN_END = "<!-- pretrain:begin -->", "<!-- pretrain:end -->"
PRETRAIN_TASKS = (("colour_crop", "colour of the marked object, zoomed crop"),
                  ("colour/full", "colour of the marked object, full frame"),
                  ("colour_at", "its colour at a time, after a crop_video call"),
                  ("crop_read", "read a cell crop"),
                  ("cell", "which 3x3 cell holds the marked object"),
                  ("shape", "shape of the marked object"),
                  ("letter", "map a colour to its option letter"))


STEPS = ("toyworld", "figures", "episodes", "pipeline", "sft", "grpo", "eval")
WAYS = (("no tools", "tools off"), ("tools", "its own tool calls"), ("oracle's look", "after the oracle's crop"))


def step_times(run: Path) -> str:
    """'pipeline 54 s, sft 164 s, ...' from the demo's step markers (``.steps/<name>`` holds the seconds)."""
    parts, total = [], 0.0
    for name in STEPS:
        marker = run / ".steps" / name
        if marker.exists():
            sec = float(marker.read_text().strip() or 0)
            total += sec
            parts.append(f"{name} {sec:.0f} s")
    return ", ".join(parts) + (f" (total {total / 60:.1f} min)" if parts else "")


def signal_table(work: Path) -> str:
    """SFT and GRPO accuracy per form, three ways, pooled over the seeds with the 95 % interval and the seed
    means' spread, and region_hit of the student's own crops (the share holding the target), from a
    ``benchmarks/learning_signal.py`` work folder."""
    table = json.loads((work / "learning_signal.json").read_text())

    def cell(r: dict) -> str:
        sd = r.get("seed_sd")
        spread = f", seeds sd {100 * sd:.0f}" if isinstance(sd, (int, float)) and sd == sd else ""
        return f"{100 * r['accuracy']:.0f}% [{100 * r['ci'][0]:.0f}-{100 * r['ci'][1]:.0f}]{spread}"

    forms = list(dict.fromkeys(k.split(" | ")[2] for k in table))
    rows = ["| held-out, pooled over seeds | " + " | ".join(label for _, label in WAYS) + " | its crops holding the target |",
            "|---|" + "---|" * (len(WAYS) + 1)]
    for form in forms:
        for stage in ("SFT", "GRPO"):
            got = [table.get(f"{stage} | {way} | {form}") for way, _ in WAYS]
            if any(got):
                n = next(r["n"] for r in got if r)
                own = table.get(f"{stage} | tools | {form}") or {}
                hit = own.get("region_hit")
                held = f"{100 * hit:.0f}% of {own['region_calls']}" if isinstance(hit, (int, float)) and hit == hit else "-"
                rows.append(f"| {form.upper()} {stage} (n={n}) | " + " | ".join(cell(r) if r else "-" for r in got)
                            + f" | {held} |")
    return "\n".join(rows)


def pretrain_table() -> str:
    """Held-out accuracy of the shipped perception-pretrained base on a few tasks, against the majority answer,
    from its log (``seekerlite/models/weights/tiny-pretrained-log.json``)."""
    from seekerlite.models.pretrain_weights import LOG_FILE, WEIGHTS_DIR

    log = json.loads((WEIGHTS_DIR / LOG_FILE).read_text())
    acc, chance = log["final_accuracy"], log["chance"]
    rows = ["| pretraining task (held-out) | accuracy | majority answer |", "|---|---|---|"]
    for task, label in PRETRAIN_TASKS:
        if task in acc:
            rows.append(f"| {label} (`{task}`) | {acc[task]:.2f} | {chance.get(task.split('/')[0], float('nan')):.2f} |")
    return "\n".join(rows) + (f"\n\n({log['wall_seconds'] / 60:.0f} min on 2 cores; every task and stage: "
                              "`python benchmarks/pretrain_report.py`, `benchmarks/results/pretrain.md`)")


def _replace(text: str, begin: str, end: str, body: str) -> str | None:
    if begin not in text or end not in text:
        return None
    head, rest = text.split(begin, 1)
    return head + "\n".join([begin, "", body, "", end]) + rest.split(end, 1)[1]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", nargs="?", default="runs/demo", help="a finished demo run folder")
    ap.add_argument("--signal", default=None, help="a benchmarks/learning_signal.py work folder")
    args = ap.parse_args(argv)
    run = Path(args.run)
    times = step_times(run)
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    block = "\n".join([results_table(run), "",
                       f"Measured {date.today().isoformat()} on {machine}" + (f": {times}." if times else ".")])
    readme = ROOT / "README.md"
    text = _replace(readme.read_text(), BEGIN, END, block)
    if text is None:
        print(f"error: {readme}: no {BEGIN} ... {END} block", file=sys.stderr)
        return 2
    if PRETRAIN_BEGIN in text:
        text = _replace(text, PRETRAIN_BEGIN, PRETRAIN_END, pretrain_table()) or text
    if args.signal:
        work = Path(args.signal)
        body = signal_table(work) + f"\n\n(`python scripts/readme_results.py {args.run} --signal {args.signal}`; " \
            "command and setup: `benchmarks/results/learning_signal.md`)"
        text = _replace(text, SIGNAL_BEGIN, SIGNAL_END, body)
        if text is None:
            print(f"error: {readme}: no {SIGNAL_BEGIN} ... {SIGNAL_END} block", file=sys.stderr)
            return 2
    readme.write_text(text)
    print(f"README.md results block(s) rewritten from {run}" + (f" and {args.signal}" if args.signal else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
