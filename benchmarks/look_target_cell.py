"""python benchmarks/look_target_cell.py [--clips 40] [--seeds 3 4 5] [--out benchmarks/results/look_target_cell.md]

Why choosing *where* to look is the tiny student's bottleneck (issue 12): on the tool-paying families, how often
the grid cell the oracle crops (``policies.scripted.zoom_plan``, the cell holding the instance when the answer is
visible) is the cell holding the *mark* on the visual-prompt frame. Where they agree, copying the mark's cell is
enough; where they differ, the student has to follow the instance through the low-res overview frames. Also the
share a constant "center" guess would hit. Measured on the worlds training and evaluation use
(``toyworld.world_config``: a tool world's target moves slowly) and, for comparison, on the same worlds with the
target at the other objects' speed. No model: a few seconds on a CPU.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from env_latency import machine

from seekerlite.config import EnvConfig
from seekerlite.data import load_samples
from seekerlite.env import VideoSeekerEnv
from seekerlite.policies.scripted import mark_cell, zoom_plan
from seekerlite.schema import load_jsonl
from seekerlite.toyworld import generate_dataset, world_config
from seekerlite.toyworld.dataset import TOOL_TARGET_SPEED
from seekerlite.toyworld.questions import TOOL_TASKS


def measure(clips: int, seeds: list[int], work: Path, full_speed: bool = False) -> dict[str, Counter]:
    """Per family: questions, mark cell == oracle cell, oracle cell == "center"."""
    out: dict[str, Counter] = {}
    for seed in seeds:
        if full_speed:
            path = generate_dataset(work / f"full-{seed}", n_clips=clips, seed=seed,
                                    config=replace(world_config(seed, TOOL_TASKS), target_speed_range=None))
            samples, base = load_jsonl(path), path.parent
        else:
            samples, base = load_samples(f"toy:{clips}@{seed}", out_dir=work, families=TOOL_TASKS)
        env = VideoSeekerEnv(EnvConfig(), base_dir=base)  # one env per world, reset for each sample
        for s in samples:
            env.reset(s)
            mark = mark_cell(s, env)
            plan = zoom_plan(s, env, prefer=mark)  # as the oracle plans its crop
            if plan is None or mark is None:
                continue
            c = out.setdefault(s.task, Counter())
            c["n"] += 1
            c["same"] += mark == plan[2]
            c["center"] += plan[2] == "center"
    return out


def table(res: dict[str, Counter]) -> tuple[list[str], float]:
    """Markdown rows per family and in all; the share of all questions whose oracle cell is the mark's."""
    rows = ["| family | questions | oracle's cell = the mark's cell | oracle's cell = center |", "|---|---|---|---|"]
    total: Counter = Counter()
    for fam, c in sorted(res.items()):
        total.update(c)
        rows.append(f"| {fam} | {c['n']} | {c['same'] / c['n']:.0%} | {c['center'] / c['n']:.0%} |")
    rows.append(f"| all | {total['n']} | {total['same'] / total['n']:.0%} | {total['center'] / total['n']:.0%} |")
    return rows, total["same"] / total["n"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    ap.add_argument("--out", default="benchmarks/results/look_target_cell.md")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (slow, share), (fast, fast_share) = (table(measure(a.clips, a.seeds, Path(tmp), full)) for full in (False, True))
    cmd = "python benchmarks/look_target_cell.py " + " ".join(sys.argv[1:])
    text = (f"# Where the answer is vs where the mark is (tool families)\n\nCommand: `{cmd.strip()}`\n\n"
            f"Machine: {machine()}. Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC. "
            f"{a.clips} clips per world, worlds {a.seeds}; 9 cells, so a random cell hits 11 %.\n\n"
            f"## The tool worlds as trained and evaluated (target at {TOOL_TARGET_SPEED[0]:g}-{TOOL_TARGET_SPEED[1]:g} "
            "px/s, `toyworld.world_config`)\n\n" + "\n".join(slow)
            + "\n\n## The same worlds with the target at the other objects' speed (before `world_config`)\n\n"
            + "\n".join(fast)
            + f"\n\nRead: with the slow target the oracle's crop is in the mark's cell for {share:.0%} of the questions "
            f"({fast_share:.0%} at full speed), so reading where the mark is (the base's `cell` skill: "
            "benchmarks/results/pretrain.md) goes a long way; for the rest the student has to find the instance again "
            "at a later time in the overview frames.\n")
    Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
