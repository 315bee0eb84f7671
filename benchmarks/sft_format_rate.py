"""python benchmarks/sft_format_rate.py [--max-steps 300] [--eval-samples 24] [--out benchmarks/results/sft_format_rate.md]

Does SFT teach the student the reply format? The tiny Qwen3-VL (random init) plays held-out toy-world samples
(world seed 1; training uses seed 0) greedily in VideoSeekerEnv before and after SFT on oracle episodes, and every
reply is judged by ``grammar.reply_ok`` (through ``evaluate.format_stats``): a non-empty ``<think>``, then exactly
one strict-JSON ``<tool_call>`` to a known tool or exactly one non-empty ``<answer>``, nothing else. The tuned model
is reloaded from the saved run folder (``models.load_trained``) before it is evaluated. Writes a markdown report (machine, model, steps, time, loss, rates, example replies) and the
loss curve next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path

import torch

from seekerlite.config import StudentConfig, assistant_turns
from seekerlite.data import load_samples
from seekerlite.evaluate import evaluate_format
from seekerlite.models import load_student, load_trained
from seekerlite.train.sft import SFTRunConfig, train_sft


def machine() -> str:
    info = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    import transformers
    import trl

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (f"{os.cpu_count()} CPU cores ({cpu}), {gpu}, torch {torch.__version__} ({torch.get_num_threads()} "
            f"threads), transformers {transformers.__version__}, trl {trl.__version__}, "
            f"Python {platform.python_version()}")


def toy_eval_samples(out_dir: Path, n_clips: int = 3, seed: int = 1, n: int | None = None) -> tuple[list, Path]:
    """Held-out toy samples (another world seed than training): a seeded choice of `n`, and their base folder."""
    samples, base = load_samples(f"toy:{n_clips}@{seed}", out_dir=out_dir)
    if n is not None and n < len(samples):
        samples = random.Random(seed).sample(samples, n)
    return samples, base


def examples(trajs: list, n: int = 3) -> list[str]:
    return [t.text for tr in trajs[:2] for t in tr.turns][:n]


def rates_row(name: str, s: dict) -> str:
    return (f"| {name} | {s['episodes']} | {s['replies']} | {100 * s['reply_rate']:.1f} | {100 * s['episode_rate']:.1f} "
            f"| {100 * s['answer_rate']:.1f} | {100 * s['accuracy']:.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-steps", type=int, default=300, help="SFT optimizer steps (batch 2)")
    p.add_argument("--lr", type=float, default=SFTRunConfig.learning_rate)
    p.add_argument("--lora-r", type=int, default=None, help="LoRA rank (default: all weights)")
    p.add_argument("--toy-clips", type=int, default=8, help="training world: clips (~11 episodes each)")
    p.add_argument("--eval-samples", type=int, default=24, help="held-out samples played before and after")
    p.add_argument("--work", default=None, help="working folder (default: a temporary one, deleted)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is faster on a busy machine)")
    p.add_argument("--out", default="benchmarks/results/sft_format_rate.md")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    t_start = time.time()
    work = Path(a.work or tempfile.mkdtemp(prefix="sft_bench_"))
    load_start = os.getloadavg()
    cfg = SFTRunConfig(student=StudentConfig(lora_r=a.lora_r), output_dir=str(work / "run"), max_steps=a.max_steps,
                       learning_rate=a.lr, toy_clips=a.toy_clips, save_steps=10**9, logging_steps=10)
    samples, base = toy_eval_samples(work / "eval", n_clips=3, seed=1, n=a.eval_samples)

    base_student = load_student("tiny", inference=True)
    t = time.time()
    before, before_trajs = evaluate_format(base_student.model, base_student.processor, samples, base, cfg.env)
    t_before = time.time() - t

    summary = train_sft(cfg)
    tuned = load_trained(summary["output_dir"], inference=True)  # what was saved (model or adapter), reloaded
    t = time.time()
    after, after_trajs = evaluate_format(tuned.model, tuned.processor, samples, base, cfg.env)
    t_after = time.time() - t
    load_end = os.getloadavg()
    wall = time.time() - t_start

    hist = json.loads((work / "run" / "loss.json").read_text())
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    loss_png = out.with_name(out.stem + "_loss.png")
    shutil.copy(work / "run" / "loss.png", loss_png)
    params = json.loads((Path(base_student.model_path) / "seekerlite_build.json").read_text())["params"]
    cmd = (f".venv/bin/python benchmarks/sft_format_rate.py --max-steps {a.max_steps}" + (f" --lora-r {a.lora_r}" if a.lora_r else "")
           + (f" --threads {a.threads}" if a.threads else "") + f" --eval-samples {a.eval_samples}" + (f" --toy-clips {a.toy_clips}" if a.toy_clips != 8 else "")
           + (f" --lr {a.lr:g}" if a.lr != SFTRunConfig.learning_rate else "") + (f" --work {a.work}" if a.work else ""))
    weights = "all weights trained" if a.lora_r is None else f"LoRA r={a.lora_r}"
    steps, secs, bs = summary["steps"], summary["seconds"], cfg.per_device_train_batch_size
    lines = [
        "# SFT on CPU: loss and format-valid rate before/after",
        "",
        (f"Machine: {machine()}. Load average (1 min) {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end "
         "(other jobs shared the cores: times are upper bounds)."),
        f"Command: `{cmd}`. Whole benchmark (data, both evaluations, training, saving): {wall / 60:.1f} min wall.",
        "",
        (f"- Model: the embedded tiny Qwen3-VL ({params / 1e6:.2f} M parameters, random init), {weights}, "
         f"backend `{summary['backend']}`."),
        (f"- Data: {summary['episodes']} oracle episodes on a {a.toy_clips}-clip toy world (seed 0), "
         f"{cfg.env.overview_frames} overview frames, <= {cfg.env.frames_per_call} frames per crop; "
         "loss on assistant tokens only."),
        (f"- Training: {steps} steps x batch {bs} ({steps * bs / summary['episodes']:.1f} epochs), "
         f"lr {cfg.learning_rate:g} {cfg.lr_scheduler_type}, {secs:.0f} s ({secs / max(1, steps):.2f} s/step)."),
        (f"- Loss (mean over {cfg.logging_steps} steps): {hist['loss'][0]:.3f} at step {hist['step'][0]} -> "
         f"{hist['loss'][-1]:.3f} at step {hist['step'][-1]} (min {min(hist['loss']):.3f}); "
         f"curve: `{loss_png.name}`."),
        (f"- Evaluation: {len(samples)} held-out samples (toy world seed 1), greedy, <= 96 new tokens per reply, "
         f"<= {assistant_turns(cfg.env)} turns; {t_before:.0f} s before, {t_after:.0f} s after."),
        "",
        ("| model | episodes | replies | format-valid replies % | well-formed episodes % | ended with answer % "
         "| accuracy % |"),
        "|---|---|---|---|---|---|---|",
        rates_row("before SFT", before),
        rates_row("after SFT", after),
        "",
        ("*Format-valid reply*: a non-empty `<think>…</think>`, then exactly one `<tool_call>` with strict JSON "
         "naming a known tool, or exactly one non-empty `<answer>…</answer>`, and nothing else. *Well-formed "
         "episode*: every reply valid and the episode ends with an answer. Accuracy is not what SFT on 1.2 M random "
         "parameters is for."),
        "",
        "Example replies before SFT:",
        "",
        *[f"    {json.dumps(r[:220])}" for r in examples(before_trajs)],
        "",
        "Example replies after SFT:",
        "",
        *[f"    {json.dumps(r[:220])}" for r in examples(after_trajs)],
        "",
        ("No GPU was available for this run: the unsloth and bitsandbytes (QLoRA) paths were not exercised here."
         if not torch.cuda.is_available() else f"Backend on this GPU: `{summary['backend']}`."),
        "",
    ]
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    if a.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
