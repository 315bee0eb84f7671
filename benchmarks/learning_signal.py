"""python benchmarks/learning_signal.py [--model tiny-pretrained] [--seeds 0 1 2] [--forms both] [--grpo-form oe]

Does the recipe teach the student to look? For each seed: a toy world of the tool families (``toyworld.TOOL_TASKS``;
MC, or MC and OE with ``--forms both``) for training, SFT on the oracle's trajectories (grid-cell crops; a share
``--no-tool-share`` also in their no-tool form), then GRPO on the same world's questions (``--grpo-form``); each
stage is evaluated on held-out toy worlds of *other* seeds (never trained on) three ways: with its tools off
(``no-tool:``), with its own tool calls, and answering after the oracle's crop (``oracle-look:``: its perception
given the right look). Reports per form, stage and way: accuracy (95 % bootstrap interval over the pooled held-out
episodes of all seeds, and the spread of the seed means), tool calls per episode and region_hit (share of crops
whose region holds the target, ``evaluate.metrics.region_looks``), a figure, and the "where the student looked"
heatmap (``viz.plot_look_heatmap``) of the final GRPO students. ``--mc-vs-oe`` also runs ``train.mc_vs_oe`` from
the first seed's SFT run.

It runs the library functions the CLI runs (``train_sft``, ``train_grpo``, ``evaluate.run.evaluate``) at small
sizes; ``--model`` is any base the CLI takes ("tiny-pretrained", the shipped perception-pretrained base; "tiny" =
"tiny-random", the random-init one). Long: ~8 min per seed on 2 idle cores (``--sft-epochs``, ``--grpo-steps``,
``--clips``, ``--eval-clips`` trade time for signal).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from env_latency import machine
from tool_value import tool_world

from seekerlite.config import EnvConfig
from seekerlite.evaluate.metrics import bootstrap_ci
from seekerlite.toyworld import TOOL_TASKS

STAGES = ("base", "SFT", "GRPO")


def train_seed(seed: int, args: argparse.Namespace, work: Path) -> dict[str, str]:
    """SFT then GRPO of one seed on its training world; {"base", "SFT", "GRPO": policy spec}."""
    import torch

    from seekerlite.policies import OraclePolicy, run_episodes
    from seekerlite.train.grpo import GRPORunConfig, train_grpo
    from seekerlite.train.sft import SFTRunConfig, train_sft
    from seekerlite.trajectory import save_chat_dataset

    torch.set_num_threads(args.threads)
    env = EnvConfig()
    train, base = tool_world(work / f"world-train-{seed}", args.clips, 1000 + seed, families=TOOL_TASKS,
                             oe=args.forms == "both")
    sft_dir, grpo_dir = work / f"sft-{seed}", work / f"grpo-{seed}"
    if not (sft_dir / "summary.json").is_file():
        trajs = run_episodes(OraclePolicy(seed=seed), train, env, base_dir=str(base), progress=False)
        data = save_chat_dataset(trajs, work / f"sft-data-{seed}")
        train_sft(SFTRunConfig.for_model(args.model, data=str(data), output_dir=str(sft_dir), seed=seed, env=env,
                                         num_train_epochs=args.sft_epochs, logging_steps=10, save_steps=10_000,
                                         no_tool_share=args.no_tool_share,
                                         **({} if args.rehearsal_share is None else {"rehearsal_share": args.rehearsal_share})))
    if not (grpo_dir / "summary.json").is_file():
        cfg = GRPORunConfig.for_model(str(sft_dir), data=str(base / "samples.jsonl"), output_dir=str(grpo_dir),
                                      seed=seed, max_steps=args.grpo_steps, eval_samples=0, eval_fraction=0.0,
                                      save_steps=10_000, form=args.grpo_form, num_generations=args.grpo_group,
                                      per_device_train_batch_size=args.grpo_group * args.grpo_prompts)
        train_grpo(cfg, plot=True)
    return {"base": args.model, "SFT": str(sft_dir), "GRPO": str(grpo_dir)}


MODES = {"no tools": "no-tool:", "tools": "", "oracle's look": "oracle-look:"}  # how each stage is evaluated


def evaluate_stage(spec: str, samples: list, base: Path, mode: str, seed: int) -> list[dict[str, Any]]:
    """Records (dicts) of one policy on the held-out samples: without tools, with its own tool calls, or answering
    after the oracle's crop (``oracle-look:``: its perception given the right look)."""
    from dataclasses import asdict

    from seekerlite.evaluate.run import EvalConfig, evaluate

    policy = MODES[mode] + spec
    res = evaluate(policy, samples, base, EvalConfig(policy=policy, n_bootstrap=0, seed=seed, batch_size=8,
                                                     max_new_tokens=96, save_images=0), progress=False)
    return [asdict(r) for r in res.records]


def stats(records: list[dict[str, Any]], by_seed: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """Accuracy (pooled, 95 % bootstrap CI; seed means and their spread), tool calls, region_hit."""
    acc = [r["correct"] for r in records]
    lo, hi = bootstrap_ci(acc, 2000)
    means = [sum(r["correct"] for r in v) / len(v) for v in by_seed.values() if v]
    calls = sum(r["n_region_calls"] for r in records)
    return {"n": len(records), "accuracy": sum(acc) / len(acc), "ci": [lo, hi], "seed_means": means,
            "seed_sd": statistics.stdev(means) if len(means) > 1 else math.nan,
            "tool_calls": sum(r["n_tool_calls"] for r in records) / len(records),
            "region_calls": calls, "region_hit": sum(r["n_region_hits"] for r in records) / calls if calls else math.nan}


def plot(table: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib.pyplot as plt

    forms = list(dict.fromkeys(k.split(" | ")[2] for k in table))
    fig, grid = plt.subplots(len(forms), 3, figsize=(12, 3.4 * len(forms)), squeeze=False)
    for form, axes in zip(forms, grid):
        _plot_form(table, form, axes)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _plot_form(table: dict[str, dict[str, Any]], form: str, axes: Any) -> None:
    x = range(len(STAGES))
    for (mode, color), dx in zip((("no tools", "0.6"), ("tools", "C0"), ("oracle's look", "C2")), (-0.1, 0.0, 0.1)):
        rows = [table[f"{s} | {mode} | {form}"] for s in STAGES]
        label = {"no tools": "without tools", "tools": "with its tools", "oracle's look": "after the oracle's crop"}[mode]
        axes[0].errorbar([i + dx for i in x], [r["accuracy"] for r in rows],
                         yerr=[[r["accuracy"] - r["ci"][0] for r in rows], [r["ci"][1] - r["accuracy"] for r in rows]],
                         fmt="o-", color=color, capsize=3, label=label)
        if mode == "tools":
            axes[1].bar(x, [r["tool_calls"] for r in rows], color=color)
            axes[2].bar(x, [0 if math.isnan(r["region_hit"]) else r["region_hit"] for r in rows], color=color)
    if form == "mc":
        axes[0].axhline(0.25, ls=":", color="k", lw=1, label="chance")
    axes[0].set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    for ax, title in zip(axes, (f"held-out {form.upper()} accuracy (95 % CI)", "tool calls / episode",
                                "region_hit (crops holding the target)")):
        ax.set_xticks(list(x), STAGES)
        ax.set_title(title, fontsize=9)


def markdown(table: dict[str, dict[str, Any]], args: argparse.Namespace, command: str, minutes: float,
             mc_vs_oe: str | None, notes: list[str], stem: str = "learning_signal") -> str:
    def pct(v: float) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}"

    head = (f"Machine: {machine()}. Date: {datetime.date.today().isoformat()}. Command: `{command}` "
            f"({minutes:.1f} min).")
    setup = (f"Base model `{args.model}` (`{getattr(args, 'resolved', args.model)}`); seeds {args.seeds}; per seed: {args.clips} training clips (world seed "
             f"1000 + seed, families {', '.join(TOOL_TASKS)}, {'MC' if args.forms == 'mc' else 'MC and OE'}), SFT "
             f"{args.sft_epochs} epochs on the oracle's trajectories"
             + ("" if not getattr(args, "rehearsal_share", None) else
                f" with {args.rehearsal_share:g} pretraining example per episode mixed in (`SFTRunConfig.rehearsal_share`)")
             + f", GRPO {args.grpo_steps} steps of "
             f"{args.grpo_prompts} x {args.grpo_group} rollouts on the {args.grpo_form.upper()} questions; held "
             f"out: {args.eval_clips} clips of world seed 2000 + seed (never trained on). Accuracy: pooled over "
             "seeds, 95 % bootstrap interval over episodes; seed means with their standard deviation. Chance 25 % on MC (OE: an open answer judged by the rule judge). "
             "*no tools* = the same student told its tools are off (`no-tool:`; SFT also trained "
             f"{100 * args.no_tool_share:.0f} % of its episodes in that form, `SFTRunConfig.no_tool_share`); "
             "*tools* = its own tool calls; *oracle's look* = the oracle's crop_video call, then the student answers "
             "(`oracle-look:`): what its perception can do once it looks at the right place.")
    lines = ["# Learning signal: base -> SFT -> GRPO on the toy world's tool families", "", head, "", setup, "",
             "| form | stage | tools | n | accuracy % [95 % CI] | seed means % (sd) | tool calls / ep | crops with region | region_hit % |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key, r in sorted(table.items(), key=lambda kv: kv[0].split(" | ")[2] == "oe"):
        stage, tools, form = key.split(" | ")
        means = ", ".join(pct(m) for m in r["seed_means"])
        lines.append(f"| {form.upper()} | {stage} | {tools} | {r['n']} | {pct(r['accuracy'])} [{pct(r['ci'][0])}, {pct(r['ci'][1])}] | "
                     f"{means} ({pct(r['seed_sd'])}) | {r['tool_calls']:.2f} | {r['region_calls']} | {pct(r['region_hit'])} |")
    lines += ["", f"![learning signal]({stem}.png)", "", f"![where the GRPO students looked]({stem}_looks.png)"]
    if mc_vs_oe:
        lines += ["", f"## MC vs OE (seed {args.seeds[0]}, from its SFT run)", "",
                  f"`train.mc_vs_oe.run_mc_vs_oe`: GRPO {args.grpo_steps} steps from the seed's SFT student, once on "
                  f"the MC and once on the OE form of a fresh tool-family world (world seed 3000 + seed, "
                  f"{args.clips} clips, a quarter of them held out); scored on up to 12 held-out questions of each form, "
                  "2 sampled rollouts each.", "", mc_vs_oe]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-pretrained", help="base student: tiny-pretrained | tiny-random | a model folder")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--clips", type=int, default=24, help="training clips per seed")
    ap.add_argument("--eval-clips", type=int, default=12, help="held-out clips per seed")
    ap.add_argument("--sft-epochs", type=float, default=4.0)
    ap.add_argument("--no-tool-share", type=float, default=0.5,
                    help="SFT: share of episodes also trained in their no-tool form (SFTRunConfig.no_tool_share)")
    ap.add_argument("--rehearsal-share", type=float, default=None,
                    help="SFT: pretraining examples mixed in per episode (SFTRunConfig.rehearsal_share; default: the model's)")
    ap.add_argument("--forms", choices=("mc", "both"), default="mc",
                    help="question forms of the training and held-out worlds (both = MC and open-ended)")
    ap.add_argument("--grpo-form", choices=("mc", "oe", "both"), default="mc", help="GRPO's questions")
    ap.add_argument("--grpo-steps", type=int, default=30)
    ap.add_argument("--grpo-group", type=int, default=4, help="GRPO group size (rollouts per prompt)")
    ap.add_argument("--grpo-prompts", type=int, default=1, help="prompts per GRPO step")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--mc-vs-oe", action="store_true", help="also run train.mc_vs_oe from the first seed's SFT run")
    ap.add_argument("--work", default="runs/learning_signal", help="run folders (reused when already there)")
    ap.add_argument("--out", default="benchmarks/results/learning_signal.md")
    ap.add_argument("--note", action="append", default=[], help="a line added to the results' notes")
    args = ap.parse_args(argv)
    from seekerlite.config import is_tiny
    from seekerlite.models.loading import resolve_model_path

    args.resolved = Path(resolve_model_path(args.model)).name if is_tiny(args.model) else args.model  # which tiny
    t0 = time.time()
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    records: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for seed in args.seeds:
        specs = train_seed(seed, args, work)
        held, hbase = tool_world(work / f"world-eval-{seed}", args.eval_clips, 2000 + seed, families=TOOL_TASKS,
                                 oe=args.forms == "both")
        for stage in STAGES:
            for mode in MODES:
                key = f"{stage} | {mode}"
                cache = work / f"eval-{seed}-{stage}-{mode.replace(' ', '_').replace(chr(39), '')}.json"
                if not cache.is_file():
                    cache.write_text(json.dumps(evaluate_stage(specs[stage], held, hbase, mode, seed)))
                records.setdefault(key, {})[seed] = json.loads(cache.read_text())
        print(f"seed {seed} done at {(time.time() - t0) / 60:.1f} min", flush=True)
        done = args.seeds[: args.seeds.index(seed) + 1]
        write_results(records, argparse.Namespace(**{**vars(args), "seeds": done}), out, work, t0, None, argv)
    mc_md = None
    if args.mc_vs_oe:
        from seekerlite.train.grpo import GRPORunConfig
        from seekerlite.train.mc_vs_oe import mc_vs_oe_table, run_mc_vs_oe

        s0 = args.seeds[0]
        world = tool_world(work / f"world-mcoe-{s0}", args.clips, 3000 + s0, families=TOOL_TASKS, oe=True)[1]
        cfg = GRPORunConfig.for_model(str(work / f"sft-{s0}"), data=str(world / "samples.jsonl"),
                                      output_dir=str(work / "mc_vs_oe"), seed=s0, max_steps=args.grpo_steps,
                                      save_steps=10_000, eval_samples=12)
        done_file = work / "mc_vs_oe" / "mc_vs_oe.json"  # reused when already there, as the other runs are
        results = json.loads(done_file.read_text()) if done_file.is_file() else run_mc_vs_oe(replace(cfg))
        mc_md = mc_vs_oe_table(results)
        write_results(records, args, out, work, t0, mc_md, argv)
    print(out.read_text())
    return 0


def write_results(records: dict[str, dict[int, list[dict[str, Any]]]], args: argparse.Namespace, out: Path,
                  work: Path, t0: float, mc_md: str | None, argv: list[str] | None) -> dict[str, Any]:
    """The table, the figure and the heatmap of the seeds done so far (rewritten after every seed)."""
    from seekerlite.viz import plot_look_heatmap

    forms = sorted({r["form"] for by in records.values() for v in by.values() for r in v}, key="mc oe".split().index)
    table = {f"{k} | {form}": stats([r for v in by.values() for r in v if r["form"] == form],
                                    {sd: [r for r in v if r["form"] == form] for sd, v in by.items()})
             for k, by in records.items() for form in forms}
    (work / "learning_signal.json").write_text(json.dumps(table, indent=1))
    plot(table, out.parent / f"{out.stem}.png")
    looks = [lk for v in records["GRPO | tools"].values() for r in v for lk in (r.get("looks") or [])]  # MC and OE
    fig = plot_look_heatmap(looks, title=f"Where the GRPO students looked ({len(looks)} crops, seeds {args.seeds})")
    fig.savefig(out.parent / f"{out.stem}_looks.png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    command = "python benchmarks/learning_signal.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out.write_text(markdown(table, args, command.strip(), (time.time() - t0) / 60, mc_md, args.note, out.stem))
    return table


if __name__ == "__main__":
    raise SystemExit(main())
