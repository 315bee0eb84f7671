"""Rewrite the README's demo results block from a finished demo run (never copied by hand).

    seekerlite demo --out runs/demo && python scripts/readme_results.py runs/demo

Replaces the text between ``<!-- results:begin -->`` and ``<!-- results:end -->`` in README.md with
``seekerlite.report.results_table(run)`` plus the run's wall time per step (from its step records).
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import date
from pathlib import Path

from seekerlite.report import results_table

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


STEPS = ("toyworld", "figures", "episodes", "pipeline", "sft", "grpo", "eval")


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


def main(argv: list[str]) -> int:
    run = Path(argv[0] if argv else "runs/demo")
    table = results_table(run)
    times = step_times(run)
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    block = "\n".join([BEGIN, "", table, "",
                       f"Measured {date.today().isoformat()} on {machine}" + (f": {times}." if times else "."),
                       "", END])
    readme = ROOT / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        print(f"error: {readme}: no {BEGIN} ... {END} block", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    readme.write_text(head + block + rest.split(END, 1)[1])
    print(f"README.md results block rewritten from {run}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
