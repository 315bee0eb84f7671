"""python benchmarks/tool_value.py [--clips 40] [--seeds 3 4 5] [--out benchmarks/results/tool_value.md]

What each toy-world question family needs, measured with scripted policies (no model, a minute on a CPU): MC
accuracy per family when the answer is limited to what the episode showed (``policies.EvidencePolicy``: right
when ``has_evidence``, else a uniform guess among the 4 options), for three ways of looking:

- no tools: the first turn alone (marked frame + ``EnvConfig.overview_frames`` low-res overview frames);
- oracle tools: the oracle's crop_video (the span's time window, cut to the instance's grid cell for the zoom
  families: ``policies.scripted.zoom_plan``);
- random tools: one valid crop of a random 1 s window cut to a random grid cell (``RandomLookPolicy``).

The evidence rules (``policies.scripted.has_evidence``) are a model, calibrated by issue 12's measurements on
the tiny student (colour after a change: 19-22 % from overview frames, 96 % with 2 oracle crops), not a
network's accuracy: a family "needs tools" when no-tool accuracy sits at chance and oracle-tool accuracy near 1.
Also reports the oracle's region_hit (``evaluate.metrics.region_looks``). 95 % bootstrap intervals over questions.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from env_latency import machine

from seekerlite.config import EnvConfig, no_tool_env
from seekerlite.evaluate.metrics import bootstrap_ci, region_looks
from seekerlite.policies import (
    EvidencePolicy,
    OraclePolicy,
    RandomLookPolicy,
    run_episodes,
)
from seekerlite.schema import Sample, load_jsonl
from seekerlite.toyworld import TASKS, TOOL_TASKS, generate_dataset, world_config

WAYS = ("no tools", "oracle tools", "random tools")


def tool_world(out_dir: str | Path, n_clips: int, seed: int, families: tuple[str, ...] = TASKS + TOOL_TASKS,
               oe: bool = False) -> tuple[list[Sample], Path]:
    """A toy world asking `families` (MC only by default): (samples, base folder)."""
    path = generate_dataset(out_dir, n_clips=n_clips, seed=seed, oe=oe,
                            config=world_config(seed, families))
    return load_jsonl(path), path.parent


def measure(samples: list[Sample], base: Path, env: EnvConfig | None = None, seed: int = 0) -> dict[str, Any]:
    """{way: {"correct": [bool per sample], "looks": [region_looks per sample]}} for the three ways of looking."""
    env = env or EnvConfig()
    ways = {"no tools": (EvidencePolicy(OraclePolicy(seed=seed), seed), no_tool_env(env)),
            "oracle tools": (EvidencePolicy(OraclePolicy(seed=seed), seed), env),
            "random tools": (EvidencePolicy(RandomLookPolicy(seed=seed), seed), env)}
    out = {}
    for way, (policy, e) in ways.items():
        trajs = run_episodes(policy, samples, e, base_dir=str(base), progress=False)
        out[way] = {"correct": [bool(t.correct) for t in trajs],
                    "looks": [region_looks(s, t.tool_log) for s, t in zip(samples, trajs)]}
    return out


def per_family(samples: list[Sample], results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{family: {"n", way: (accuracy, lo, hi), "region_hit": oracle's share}} over the samples."""
    table: dict[str, dict[str, Any]] = {}
    for fam in dict.fromkeys(s.task for s in samples):
        idx = [i for i, s in enumerate(samples) if s.task == fam]
        row: dict[str, Any] = {"n": len(idx)}
        for way in WAYS:
            c = [results[way]["correct"][i] for i in idx]
            row[way] = (sum(c) / len(c), *bootstrap_ci(c))
        looks = [x for i in idx for x in results["oracle tools"]["looks"][i]]
        row["region_hit"] = sum(x["hit"] for x in looks) / len(looks) if looks else None
        table[fam] = row
    return table


def markdown(table: dict[str, dict[str, Any]], command: str, n_clips: int, seeds: list[int]) -> str:
    def cell(v: tuple[float, float, float]) -> str:
        return f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"

    head = f"Machine: {machine()}. Date: {datetime.date.today().isoformat()}. Command: `{command}`."
    setup = (f"{n_clips} clips x world seeds {seeds}, MC questions (chance 0.25), EnvConfig defaults (4 overview "
             "frames, up to 4 frames per crop). Accuracy of an answerer limited to what the episode showed "
             "(`policies.EvidencePolicy`; the evidence rules are a model, see the module docstring), 95 % bootstrap "
             "intervals. *tool family*: generated only when `ToyWorldConfig.question_families` names it "
             "(`toyworld.TOOL_TASKS`). region_hit: share of the oracle's crops whose region holds the target.")
    lines = ["# Tool value per toy-world question family", "", head, "", setup, "",
             "| family | tool family | n | no tools | oracle tools | random tools | oracle region_hit |",
             "|---|---|---|---|---|---|---|"]
    for fam, row in table.items():
        hit = "-" if row["region_hit"] is None else f"{row['region_hit']:.2f}"
        lines.append(f"| {fam} | {'yes' if fam in TOOL_TASKS else ''} | {row['n']} | {cell(row['no tools'])} | "
                     f"{cell(row['oracle tools'])} | {cell(row['random tools'])} | {hit} |")
    pays = [f for f, r in table.items() if r["oracle tools"][1] > r["no tools"][2]]
    rest = [f for f in table if f not in pays]
    lines += ["", (f"Tools pay (oracle interval above the no-tool interval): {', '.join(pays) or 'none'}. "
                   f"They do not: {', '.join(rest) or 'none'} (partly answerable from the overview, or needing more "
                   "views than the oracle's one crop of 4 frames gives, e.g. counting bounces).")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=40, help="clips per world seed")
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5], help="toy-world seeds")
    ap.add_argument("--out", default="benchmarks/results/tool_value.md")
    args = ap.parse_args(argv)
    samples: list[Sample] = []
    results: dict[str, Any] = {w: {"correct": [], "looks": []} for w in WAYS}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            s, base = tool_world(Path(tmp) / f"w{seed}", args.clips, seed)
            r = measure(s, base, seed=seed)
            samples += s
            for w in WAYS:
                for k in ("correct", "looks"):
                    results[w][k] += r[w][k]
    table = per_family(samples, results)
    command = "python benchmarks/tool_value.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(table, command.strip(), args.clips, args.seeds)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
