"""GRPO on a CPU: does a few minutes of GRPO raise the held-out reward of the SFT'd tiny model? (>= 3 seeds)

    .venv/bin/python benchmarks/grpo_cpu.py --threads 1            # SFT + 3 x GRPO, ~20 min on 2 busy cores
    .venv/bin/python benchmarks/grpo_cpu.py --sft-dir runs/bench_sft/run --lr 1e-3 --threads 1   # reuse an SFT output
    .venv/bin/python benchmarks/grpo_cpu.py --render-only --out runs/bench_grpo_cpu --also runs/other_run  # redraw
    .venv/bin/python benchmarks/grpo_cpu.py --seeds 0 --max-steps 10 --out /tmp/grpo_quick --report /tmp/grpo_quick.md

One SFT (seekerlite.train.sft defaults: every weight of the tiny model on oracle episodes of toy world 0, for
--sft-max-steps steps; or an existing one with --sft-dir, or one per seed with --sft-per-seed). Per seed s: the
SFT model's mean reward on held-out MC questions of toy world 1 (clips neither SFT nor GRPO trained on,
--eval-rollouts sampled episodes each, sampling seeded by 1234 + s) -> GRPO (GRPORunConfig defaults but for
--max-steps/--lr, seed s, training clips of toy world 1) -> the same evaluation. Reported: per seed every reward
component before/after, and mean +- sample std (and min/max) over seeds of the SFT start, after GRPO, and of the
paired difference. Runs write under --out (runs/ is git-ignored); rows.json there lets --render-only redraw.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEYS = ("total", "accuracy", "format", "parsimony", "tool_calls", "frames")


def machine() -> str:
    import torch
    import transformers
    import trl

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cores, load average {load:.1f} at the end; Python {platform.python_version()}, "
            f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}; "
            f"CUDA: {'yes' if torch.cuda.is_available() else 'no'}")


def fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def mean_sd(xs: list[float]) -> str:
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.fmean(xs):.3f} ± {sd:.3f}"


def run(args: argparse.Namespace) -> dict:
    from seekerlite.train.grpo import GRPORunConfig, train_grpo
    from seekerlite.train.sft import SFTRunConfig, train_sft

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rows: dict = {}
    sft_data, sft_dir, t_sft = None, args.sft_dir, 0.0
    for seed in args.seeds:
        t0 = time.time()
        if sft_dir is None or args.sft_per_seed:
            name = f"sft_seed{seed}" if args.sft_per_seed else "sft"
            sft = train_sft(SFTRunConfig(output_dir=str(out / name), seed=seed if args.sft_per_seed else 0,
                                         data=sft_data, max_steps=args.sft_max_steps, save_steps=10**9))
            sft_data, sft_dir = sft["data"], sft["output_dir"]  # the same oracle episodes for every SFT; its run folder
            rows.setdefault("_sft", {})[seed] = {k: sft[k] for k in ("steps", "seconds", "loss_first", "loss_last",
                                                                     "episodes")} | {"model_dir": sft["output_dir"]}
            t_sft = time.time() - t0
        cfg = GRPORunConfig.for_model(str(sft_dir), seed=seed, output_dir=str(out / f"grpo_seed{seed}"),
                                      max_steps=args.max_steps, eval_samples=args.eval_samples,
                                      eval_rollouts=args.eval_rollouts)  # env and student from the SFT run.json
        if args.lr is not None:
            cfg.learning_rate = args.lr
        toy = out / "toy_grpo"
        if not (toy / "samples.jsonl").exists():  # generate the GRPO toy world (seed 1) once, where every run reads it
            from seekerlite.toyworld import ToyWorldConfig, generate_dataset

            generate_dataset(toy, n_clips=cfg.toy_clips, seed=cfg.toy_seed, config=ToyWorldConfig(seed=cfg.toy_seed))
        cfg.data = str(toy / "samples.jsonl")
        t1 = time.time()
        summary = train_grpo(cfg)
        hist = summary["log_history"]
        logged = [h for h in hist if "reward" in h]
        step_times = [h["step_time"] for h in logged if "step_time" in h]
        k = max(1, min(5, len(logged) // 2))
        rows[seed] = {
            "before": summary["before"]["held_out"], "after": summary["after"]["held_out"],
            "sft_seconds": t_sft, "grpo_seconds": time.time() - t1, "train_seconds": summary["train_seconds"],
            "median_step_seconds": statistics.median(step_times) if step_times else
            (summary["train_seconds"] or 0.0) / max(1, args.max_steps),
            "n_train": summary["n_train"], "n_eval": summary["n_eval"]["held_out"],
            "lr": cfg.learning_rate, "steps_logged": len(logged),
            "logged_keys": sorted({key for h in logged for key in h
                                   if key == "reward" or key.startswith(("rewards/", "episode/")) or key == "kl"}),
            "train_reward_first": statistics.fmean(h["reward"] for h in logged[:k]) if logged else None,
            "train_reward_last": statistics.fmean(h["reward"] for h in logged[-k:]) if logged else None,
            "train_reward_window": k, "init_path": summary["config"]["student"]["model_id"]}
        (out / "rows.json").write_text(json.dumps(rows, indent=1, default=str))
        print(f"seed {seed}: total {rows[seed]['before']['total']:.3f} -> {rows[seed]['after']['total']:.3f} "
              f"({rows[seed]['grpo_seconds']:.0f} s)", flush=True)
    return rows


def report(rows: dict, args: argparse.Namespace, seconds: float) -> str:
    seeds = sorted(s for s in rows if not str(s).startswith("_"))
    r0 = rows[seeds[0]]
    cmd = (f".venv/bin/python benchmarks/grpo_cpu.py --seeds {' '.join(map(str, seeds))} --max-steps {args.max_steps} "
           f"--eval-samples {args.eval_samples} --eval-rollouts {args.eval_rollouts}"
           + (f" --lr {args.lr:g}" if args.lr is not None else "")
           + (f" --threads {args.threads}" if args.threads else "")
           + (" --sft-per-seed" if args.sft_per_seed else "")
           + (f" --sft-dir {args.sft_dir}" if args.sft_dir else f" --sft-max-steps {args.sft_max_steps}")
           + (f" --out {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}"))
    if args.sft_dir:
        sft_line = f"SFT start: the existing SFT output `{args.sft_dir}` (shared by every GRPO seed)"
        info = Path(args.sft_dir) / "summary.json"
        if info.exists():
            s = json.loads(info.read_text())
            sft_line += (f": {s['steps']} steps x batch 2 on {s['episodes']} oracle episodes of toy world 0, "
                         f"backend `{s['backend']}`, {s['seconds']:.0f} s, loss (mean over the logging window) "
                         f"{fmt(s['loss_first'])} -> {fmt(s['loss_last'])}")
        sft_line += "."
    else:
        s = rows["_sft"][min(rows["_sft"])]
        sft_line = (f"SFT start: {'one SFT per seed' if args.sft_per_seed else 'one SFT run (seed 0), shared by every GRPO seed'}"
                    f": all weights, {s['steps']} steps x batch 2 on {s['episodes']} oracle episodes of toy world 0, "
                    f"{s['seconds']:.0f} s, loss {fmt(s['loss_first'])} -> {fmt(s['loss_last'])}.")
    lines = ["# GRPO on a CPU: held-out reward of the tiny model, SFT start vs after GRPO", "",
             f"Command: `{cmd}` (whole benchmark {seconds / 60:.1f} min wall).", "",
             f"Machine: {rows.get('_meta', {}).get('machine') or machine()}.", "",
             "No GPU was lent to this session, so GRPO step time and peak memory on CUDA are not measured here.", "",
             sft_line, "",
             (f"GRPO per seed: all weights, {args.max_steps} optimizer steps, 8 rollouts per step (2 prompts x G=4), "
              f"lr {r0['lr']:g} constant, beta 0.02, DAPO loss, <= 3 tool rounds, on {r0['n_train']} MC questions "
              "of the training clips of toy world 1 (GRPORunConfig defaults otherwise)."), "",
             ("Evaluation: R = 0.8 accuracy + 0.15 format + 0.05 parsimony, mean over "
              f"{r0['before']['n']:.0f} sampled episodes per policy ({r0['n_eval']} held-out MC questions of other "
              f"clips of toy world 1 x {args.eval_rollouts} rollouts, temperature 1, sampling seeded by 1234 + seed, "
              "the same for the SFT start and the GRPO policy)."), "",
             "## Per seed: SFT start → after GRPO (held-out)", "",
             "| seed | " + " | ".join(f"{k} SFT → GRPO" for k in KEYS) + " | total gain | GRPO train s | s/step | seed wall s |",
             "|---|" + "---|" * (len(KEYS) + 4)]
    for s in seeds:
        r = rows[s]
        cells = [f"{r['before'][k]:.3f} → {r['after'][k]:.3f}" for k in KEYS]
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {r['after']['total'] - r['before']['total']:+.3f} | "
                     f"{r['train_seconds']:.0f} | {r['median_step_seconds']:.1f} | {r['grpo_seconds']:.0f} |")
    gains = [rows[s]["after"]["total"] - rows[s]["before"]["total"] for s in seeds]
    lines += ["", "## Over seeds", "",
              "| metric | SFT start (mean ± sd) | after GRPO (mean ± sd) | gain after − before: mean ± sd | gain min … max |",
              "|---|---|---|---|---|"]
    for k in KEYS:
        b, a = [rows[s]["before"][k] for s in seeds], [rows[s]["after"][k] for s in seeds]
        d = [y - x for x, y in zip(b, a)]
        lines.append(f"| {k} | {mean_sd(b)} | {mean_sd(a)} | {mean_sd(d)} | {min(d):+.3f} … {max(d):+.3f} |")
    lines += ["", (f"**Total-reward gain over {len(seeds)} seeds: {mean_sd(gains)} (sample sd), min {min(gains):+.3f}, "
                   f"max {max(gains):+.3f}; positive in {sum(g > 0 for g in gains)}/{len(seeds)} seeds.**"), "",
              "## Training logs", "",
              "Every GRPO step logged these series (TRL's `reward`, one `rewards/<component>/mean|std` per reward "
              "function, and seekerlite's per-episode tool-use stats): "
              + ", ".join(f"`{k}`" for k in r0["logged_keys"]) + ".", "",
              "| seed | logged steps | train reward, first steps | train reward, last steps |", "|---|---|---|---|"]
    for s in seeds:
        r = rows[s]
        lines.append(f"| {s} | {r['steps_logged']} | {r['train_reward_first']:.3f} (mean of {r['train_reward_window']}) "
                     f"| {r['train_reward_last']:.3f} (mean of {r['train_reward_window']}) |")
    lines += ["", f"Curves per seed: `{args.out.name}/grpo_seed<s>/curves.png` (under runs/, not committed)."]
    return "\n".join(lines) + "\n"


def load_rows(path: Path) -> dict:
    """rows.json with its seed keys back to ints."""
    raw = json.loads(path.read_text())
    return {(k if k.startswith("_") else int(k)): ({int(x): y for x, y in v.items()} if k == "_sft" else v)
            for k, v in raw.items()}


def other_run_line(out_dir: Path) -> str:
    """One line on another run of this benchmark (its rows.json): settings, per-seed and mean +- sd total gain."""
    rows = load_rows(out_dir / "rows.json")
    seeds = sorted(s for s in rows if not str(s).startswith("_"))
    a = rows.get("_meta", {}).get("args", {})
    gains = [rows[s]["after"]["total"] - rows[s]["before"]["total"] for s in seeds]
    r0 = rows[seeds[0]]
    return (f"- `{out_dir.name}`: lr {r0['lr']:g}, {a.get('max_steps', '?')} steps, {r0['before']['n']:.0f} eval episodes "
            f"per policy; total reward SFT start {mean_sd([rows[s]['before']['total'] for s in seeds])} -> after GRPO "
            f"{mean_sd([rows[s]['after']['total'] for s in seeds])}; gain per seed "
            + ", ".join(f"{s}: {g:+.3f}" for s, g in zip(seeds, gains))
            + f"; **gain {mean_sd(gains)}** (min {min(gains):+.3f}, max {max(gains):+.3f}); tool calls per episode "
            f"after GRPO {mean_sd([rows[s]['after']['tool_calls'] for s in seeds])}; report: `{a.get('report_name', '?')}`.")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--max-steps", type=int, default=20, help="GRPO optimizer steps per seed")
    p.add_argument("--lr", type=float, default=None, help="GRPO learning rate (default: GRPORunConfig's, 1e-3)")
    p.add_argument("--eval-samples", type=int, default=24, help="held-out MC questions (at most what the split has)")
    p.add_argument("--eval-rollouts", type=int, default=8, help="sampled episodes per held-out question")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_grpo_cpu")
    p.add_argument("--sft-dir", default=None, help="an existing SFT run folder (or a model folder) to start from")
    p.add_argument("--sft-max-steps", type=int, default=150, help="steps of the SFT run when there is no --sft-dir")
    p.add_argument("--sft-per-seed", action="store_true", help="run one SFT per seed instead of one shared SFT")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is faster on a busy machine)")
    p.add_argument("--report", type=Path, default=ROOT / "benchmarks" / "results" / "grpo_cpu.md")
    p.add_argument("--render-only", action="store_true",
                   help="train nothing: rewrite the report from OUT/rows.json (with the options stored there)")
    p.add_argument("--also", type=Path, nargs="*", default=[],
                   help="other OUT folders of this benchmark, summarised in one line each at the end of the report")
    args = p.parse_args()
    args.out = args.out.resolve()
    if args.render_only:
        rows = load_rows(args.out / "rows.json")
        for k, v in rows["_meta"]["args"].items():
            if k not in ("report", "also", "render_only", "report_name"):
                setattr(args, k, Path(v) if k == "out" else v)
        seconds = rows["_meta"]["seconds"]
    else:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        t0 = time.time()
        rows = run(args)
        seconds = time.time() - t0
        rows["_meta"] = {"seconds": seconds, "args": {k: (str(v) if isinstance(v, Path) else v)
                                                       for k, v in vars(args).items() if k not in ("also",)}
                         | {"report_name": args.report.name}, "machine": machine()}
        (args.out / "rows.json").write_text(json.dumps(rows, indent=1, default=str))
    text = report(rows, args, seconds)
    if args.also:
        text += "\n## Other runs of this benchmark (same SFT start, same held-out questions)\n\n" + "\n".join(
            other_run_line(d.resolve()) for d in args.also) + "\n"
    if args.render_only:
        rel = lambda d: d.resolve().relative_to(ROOT) if d.resolve().is_relative_to(ROOT) else d
        text += (f"\nThis report was redrawn from `{rel(args.out)}/rows.json` without training: `.venv/bin/python "
                 f"benchmarks/grpo_cpu.py --render-only --out {rel(args.out)}"
                 + (" --also " + " ".join(str(rel(d)) for d in args.also) if args.also else "")
                 + f" --report {rel(args.report)}`.\n")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text + "\n" + NOTES)
    print(text)
    return 0


NOTES = """## What this shows, honestly
- The tiny model (1.2 M parameters, random init, SFT on oracle episodes) cannot read the video: its frames are
  128 x 128 at most and its vision tower was never pre-trained, so accuracy above chance (0.25 on 4-option MC)
  is not expected. What GRPO improves here is the *form* of the episode. Sampled at temperature 1 (as GRPO samples),
  the SFT start breaks the grammar `think (tool_call think)* answer` in over half of its episodes (text outside
  the tags, a reply without `<think>`, no final `<answer>`; when it does answer, it answers with a letter), so its
  accuracy sits below chance. Episodes that end with one valid letter raise format, accuracy (towards 0.25) and
  parsimony together.
- Parsimony moves with accuracy because it is paid only for correct answers.
- Watch `tool_calls`: answering at once without looking earns full format and parsimony and chance accuracy, so a
  policy can raise the reward by no longer calling tools; a seed whose tool calls fall to 0 has learned exactly that.
- The held-out means are over a few dozen to two hundred sampled episodes per policy: the spread of the SFT start
  over seeds (only the evaluation sampling differs) shows the evaluation noise; the paired gain over seeds is the
  number to read.
- Timings are wall-clock on a shared 2-core machine (other jobs were running); treat them as upper bounds.
"""

if __name__ == "__main__":
    raise SystemExit(main())
