"""GRPO with TRL: multi-turn rollouts in which the student calls our video tools, scored by seekerlite's rewards.

    seekerlite grpo --init-from runs/sft --out runs/grpo       # tiny model, CPU: ~3 min of training on 2 idle cores
    seekerlite grpo --experiment mc-vs-oe --init-from runs/sft --out runs/mc_vs_oe

The file reads top to bottom: config -> data (one row per sample: opening messages + images + the sample) ->
policy (the SFT model; an SFT adapter is merged first; all weights or a fresh LoRA trained) -> TRL's GRPOTrainer(environment_factory=VideoSeekerEnv) ->
evaluation on held-out samples -> curves -> the MC-vs-OE experiment.

What TRL does for us, unchanged (tests/test_trl_env.py checks it): for each of the G rollouts of a prompt it
resets one VideoSeekerEnv with the dataset row (``reset(**row)``), generates, parses ``<tool_call>`` JSON with
the tokenizer's response parser, calls ``env.crop_video(...)``, appends the returned text + PIL frames as a
``tool`` message, tokenizes it with the chat template and masks those tokens out of the loss (``tool_mask``),
for up to ``max_turns`` rounds. Group-relative advantages: ``A_i = (R_i - mean_G R) / std_G R``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
from dataclasses import asdict, dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import Any

from seekerlite.env import EnvConfig, VideoSeekerEnv, opening_messages
from seekerlite.models import TINY_MODEL_ID
from seekerlite.schema import Sample
from seekerlite.train.rewards import RewardConfig, make_judge, make_reward_funcs, score_completion
from seekerlite.train.sft import latest_checkpoint


@dataclass
class GRPORunConfig:
    """Everything a GRPO run needs; the defaults train the tiny model on toy-world MC questions on a CPU in minutes."""

    # --- model
    model_id: str = TINY_MODEL_ID  # base model: TINY_MODEL_ID, a model folder or a hub id
    init_from: str | None = None  # SFT output: a LoRA adapter folder (merged into the base) or a full model; None = base
    lora_r: int | None = None  # rank of a fresh GRPO LoRA (16 for real checkpoints); None = train all weights (tiny)
    # --- data
    data: str | None = None  # samples JSONL (paths relative to its folder); None = a toy world made in output_dir/toy
    toy_clips: int = 16  # clips of the generated toy world (about 6 questions per clip and form)
    toy_seed: int = 1  # seed of the toy world: not SFT's (0), so no held-out clip was seen in SFT; fixed across runs
    form: str = "mc"  # questions trained on: "mc" | "oe" | "both"
    eval_fraction: float = 0.25  # share of clips held out for evaluation (split by clip, never by question)
    # --- environment
    overview_frames: int = 4  # frames in the first user turn; fewer = shorter prompts
    max_frames_per_call: int = 4  # frames one crop_video returns
    # --- GRPO (TRL's GRPOConfig)
    num_generations: int = 4  # group size G: rollouts per prompt; lower if out of memory
    per_device_train_batch_size: int = 8  # rollouts per step, a multiple of G (8 = two prompts: steadier steps)
    max_turns: int = 3  # tool rounds per episode (TRL's max_tool_calling_iterations)
    max_completion_length: int = 384  # tokens of a whole rollout: model turns + tool results
    beta: float = 0.02  # KL penalty to the starting policy; 0 = no reference model (faster, no KL curve)
    loss_type: str = "dapo"  # TRL loss: "grpo" | "dapo" | "dr_grpo" | "bnpo" ...
    learning_rate: float = 1e-3  # high because the tiny model is tiny (3e-4: gains within noise, see benchmarks/results); ~1e-5 (LoRA) for real checkpoints
    temperature: float = 1.0  # sampling temperature of rollouts
    max_steps: int = 40  # optimizer steps (~4 s each for the tiny model on 2 CPU cores)
    seed: int = 0  # seeds LoRA init, sampling and data order
    rewards: RewardConfig = field(default_factory=RewardConfig)  # weights, parsimony knobs, OE judge
    # --- bookkeeping
    output_dir: str = "runs/grpo"  # checkpoints, log_history.json, curves.png
    save_steps: int = 10  # checkpoint every N steps (optimizer + scheduler + RNG states: resumable)
    resume_from_checkpoint: str | None = None  # a checkpoint folder, or "latest" for the newest in output_dir
    logging_steps: int = 1  # log every N steps
    eval_samples: int = 24  # held-out samples scored before/after training (0 = skip)
    eval_rollouts: int = 2  # sampled episodes per held-out sample (more = less noisy means)

    def env_config(self) -> EnvConfig:
        return EnvConfig(max_tool_calls=self.max_turns + 2, overview_frames=self.overview_frames,
                         max_frames_per_call=self.max_frames_per_call, min_frames_per_call=min(4, self.max_frames_per_call))


# ---------------------------------------------------------------------------------------------- data

def build_rows(samples: list[Sample], base_dir: Any, env_config: EnvConfig | None = None,
               system_prompt: bool = True) -> list[dict[str, Any]]:
    """One GRPO dataset row per sample, in TRL's VLM format.

    ``prompt`` holds the opening messages with ``{"type": "image"}`` placeholders and ``images`` the PIL images
    (TRL fills them back in); ``sample`` (JSON) and ``base_dir`` are what ``VideoSeekerEnv.reset(**row)`` reads;
    ``answer``/``options``/``question`` feed the rewards.
    """
    env = VideoSeekerEnv(env_config or EnvConfig())
    rows = []
    for s in samples:
        env.reset(sample=s, base_dir=base_dir)
        images: list[Any] = []
        prompt = []
        for m in opening_messages(env, system=system_prompt):
            parts = []
            for p in m["content"]:
                if p["type"] == "image":
                    images.append(p["image"])
                    parts.append({"type": "image"})
                else:
                    parts.append(p)
            prompt.append({**m, "content": parts})
        rows.append({"prompt": prompt, "images": images, "sample": json.dumps(s.to_dict()),
                     "base_dir": None if base_dir is None else str(base_dir), "sample_id": s.id,
                     "question": s.question, "answer": s.answer, "options": s.options, "task": s.task or ""})
    return rows


def rows_to_dataset(rows: list[dict[str, Any]]) -> Any:
    """A ``datasets.Dataset`` (images stored as Image features, decoded back to PIL when read)."""
    from datasets import Dataset

    return Dataset.from_list(rows)


def load_samples(cfg: GRPORunConfig) -> tuple[list[Sample], list[Sample], str]:
    """(train, held-out, base_dir): the JSONL of ``cfg.data`` or a toy world, split by clip/video, filtered by form."""
    from seekerlite.schema import load_jsonl

    if cfg.data:
        path = Path(cfg.data)
    else:
        from seekerlite.synth import ToyWorldConfig, generate_dataset

        path = Path(cfg.output_dir) / "toy" / "samples.jsonl"
        if not path.exists():
            generate_dataset(path.parent, n_clips=cfg.toy_clips, seed=cfg.toy_seed, config=ToyWorldConfig(seed=cfg.toy_seed))
    samples = load_jsonl(path)
    videos = sorted({s.video_path for s in samples})
    n_eval = max(1, round(cfg.eval_fraction * len(videos))) if cfg.eval_fraction > 0 else 0
    held = set(random.Random(cfg.toy_seed).sample(videos, n_eval))
    train = [s for s in samples if s.video_path not in held and _form_ok(s, cfg.form)]
    evals = [s for s in samples if s.video_path in held]
    return train, evals, str(path.parent)


def _form_ok(s: Sample, form: str) -> bool:
    return form == "both" or (form == "mc") == s.is_mc


# ---------------------------------------------------------------------------------------------- policy

def prepare_init_model(cfg: GRPORunConfig) -> str:
    """The folder GRPO starts from: ``init_from`` itself if it is a full model, the SFT LoRA merged into its base
    (saved once under output_dir/init_merged) if it is an adapter, else the base model."""
    from seekerlite.models import _resolve_model_path

    if not cfg.init_from:
        return _resolve_model_path(cfg.model_id, None)
    src = Path(cfg.init_from).resolve()
    if (src / "config.json").exists() and not (src / "adapter_config.json").exists():
        return str(src)
    if not (src / "adapter_config.json").exists():
        raise FileNotFoundError(f"init_from={src} holds neither a model (config.json) nor a LoRA adapter")
    out = (Path(cfg.output_dir) / "init_merged").resolve()  # absolute: the GRPO adapter's config names it
    if (out / "config.json").exists():
        return str(out)
    from peft import PeftModel
    from transformers import AutoProcessor

    from seekerlite.models import load_student

    base_id = json.loads((src / "adapter_config.json").read_text()).get("base_model_name_or_path") or cfg.model_id
    base_id = base_id if Path(base_id).is_dir() else cfg.model_id
    student = load_student(base_id, lora=None, load_in_4bit=False, device="cpu")
    merged = PeftModel.from_pretrained(student.model, str(src)).merge_and_unload()
    merged.save_pretrained(out)
    proc_dir = src if (src / "processor_config.json").exists() or (src / "tokenizer_config.json").exists() else student.model_path
    AutoProcessor.from_pretrained(proc_dir).save_pretrained(out)
    return str(out)


def load_policy(cfg: GRPORunConfig, path: str | None = None) -> Any:
    """The student to train: the starting weights (``path``, default ``prepare_init_model(cfg)``) with a fresh
    LoRA (``lora_r``) or all weights trainable."""
    from seekerlite.models import LoraSettings, load_student

    path = path or prepare_init_model(cfg)
    if cfg.lora_r is None:
        student = load_student(path, lora=None, load_in_4bit=False, seed=cfg.seed)
        student.model.train().requires_grad_(True)
        return student
    return load_student(path, lora=LoraSettings(r=cfg.lora_r, alpha=2 * cfg.lora_r), seed=cfg.seed)


# ---------------------------------------------------------------------------------------------- training

def grpo_config(cfg: GRPORunConfig, **overrides: Any) -> Any:
    """TRL's GRPOConfig from ours (CPU when no GPU, no external loggers, our reward weights)."""
    import torch
    from trl import GRPOConfig

    kw: dict[str, Any] = dict(
        output_dir=cfg.output_dir, per_device_train_batch_size=cfg.per_device_train_batch_size,
        num_generations=cfg.num_generations, max_completion_length=cfg.max_completion_length,
        max_tool_calling_iterations=cfg.max_turns, beta=cfg.beta, loss_type=cfg.loss_type,
        learning_rate=cfg.learning_rate, temperature=cfg.temperature, max_steps=cfg.max_steps, seed=cfg.seed,
        reward_weights=cfg.rewards.weights, logging_steps=cfg.logging_steps, save_steps=cfg.save_steps,
        save_strategy="steps", report_to=[], use_cpu=not torch.cuda.is_available(), bf16=torch.cuda.is_available(),
        log_completions=False, disable_tqdm=True, lr_scheduler_type="constant", warmup_steps=0)
    return GRPOConfig(**(kw | overrides))


def make_trainer(cfg: GRPORunConfig, student: Any, train_rows: list[dict[str, Any]], **overrides: Any) -> Any:
    """TRL's GRPOTrainer with VideoSeekerEnv as environment_factory and seekerlite's three rewards."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import GRPOTrainer

    funcs, _ = make_reward_funcs(cfg.rewards)
    funcs[0] = with_episode_stats(funcs[0])
    return GRPOTrainer(model=student.model, processing_class=student.processor, reward_funcs=funcs,
                       args=grpo_config(cfg, **overrides), train_dataset=rows_to_dataset(train_rows),
                       environment_factory=partial(VideoSeekerEnv, cfg.env_config()))


def with_episode_stats(reward_func: Any) -> Any:
    """Wrap a reward function so that, under TRL, it also logs per-episode tool calls, frames and answer length
    (through the ``log_metric`` callback TRL passes reward functions; silently skipped where there is none)."""
    from seekerlite.train.rewards import count_tool_use, final_answer

    def wrapped(completions: list[Any], **kwargs: Any) -> list[float]:
        log = kwargs.get("log_metric")
        if log is not None:
            for c in completions:
                calls, frames = count_tool_use(c)
                log("episode/tool_calls", float(calls))
                log("episode/frames", float(frames))
                log("episode/answer_chars", float(len(final_answer(c) or "")))
        return reward_func(completions, **kwargs)

    wrapped.__name__ = getattr(reward_func, "__name__", "accuracy")
    return wrapped


def train_grpo(cfg: GRPORunConfig, eval_sets: dict[str, list[Sample]] | None = None, evaluate_before: bool = True,
               plot: bool = True) -> dict[str, Any]:
    """Run GRPO end to end; writes output_dir/{checkpoint-*, adapter/ (or model/), log_history.json, curves.png,
    summary.json}.

    Args:
        cfg: the run.
        eval_sets: named held-out sample lists scored before and after training; default
            ``{"held_out": <cfg.eval_samples held-out samples of the trained form>}``.
        evaluate_before: also score the starting policy (skipped when resuming).
        plot: draw curves.png from the log history.

    Returns:
        summary: ``before``/``after`` reward components per eval set, ``init_path``, ``log_history``.
    """
    import torch

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, held_out, base = load_samples(cfg)
    if eval_sets is None:
        eval_sets = {"held_out": [s for s in held_out if _form_ok(s, cfg.form)][: cfg.eval_samples]}
    eval_sets = {k: v for k, v in eval_sets.items() if v}
    init_path = prepare_init_model(cfg)
    student = load_policy(cfg, init_path)
    summary: dict[str, Any] = {"config": asdict(cfg), "init_path": init_path, "n_train": len(train),
                               "n_eval": {k: len(v) for k, v in eval_sets.items()}}
    (out / "run_config.json").write_text(json.dumps(summary["config"] | {"init_path": summary["init_path"]}, indent=1))
    resume = latest_checkpoint(cfg.output_dir) if cfg.resume_from_checkpoint == "latest" else cfg.resume_from_checkpoint
    if evaluate_before and not resume:
        summary["before"] = {k: evaluate(student.model, student.processor, v, base, cfg, seed=1234 + cfg.seed)
                             for k, v in eval_sets.items()}
    trainer = make_trainer(cfg, student, build_rows(train, base, cfg.env_config()))
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out / final_dir_name(cfg)))
    history = trainer.state.log_history
    (out / "log_history.json").write_text(json.dumps(history, indent=1))
    summary["after"] = {k: evaluate(trainer.model, student.processor, v, base, cfg, seed=1234 + cfg.seed)
                        for k, v in eval_sets.items()}
    summary["train_seconds"] = next((h["train_runtime"] for h in history if "train_runtime" in h), None)
    if plot:
        summary["curves"] = str(plot_grpo_curves(history, out / "curves.png", title=f"GRPO ({cfg.form})"))
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary | {"log_history": history}


def final_dir_name(cfg: GRPORunConfig) -> str:
    """Where the trained weights go: ``adapter`` (LoRA on the starting weights, whose folder the adapter's config
    names, so ``seekerlite eval --model <run>/adapter`` loads it) or ``model`` (full fine-tuning)."""
    return "model" if cfg.lora_r is None else "adapter"


def load_trained(run_dir: str | Path) -> tuple[Any, Any]:
    """(model, processor) of a finished run: its starting weights with the GRPO adapter, or the full model."""
    from transformers import AutoProcessor

    from seekerlite.models import load_student

    run = Path(run_dir)
    final = run / "adapter" if (run / "adapter").exists() else run / "model"
    if (final / "adapter_config.json").exists():
        from peft import PeftModel

        init = json.loads((run / "run_config.json").read_text())["init_path"]
        student = load_student(init, lora=None, load_in_4bit=False)
        model = PeftModel.from_pretrained(student.model, str(final)).eval()
        return model, student.processor
    student = load_student(str(final), lora=None, load_in_4bit=False)
    return student.model, AutoProcessor.from_pretrained(final)


# ---------------------------------------------------------------------------------------------- one group, in the open

def group_advantages(rewards: list[float], eps: float = 1e-4) -> list[float]:
    """GRPO's advantage: a rollout's reward minus its group's mean, over the group's (sample) std + eps.

    >>> [round(a, 3) for a in group_advantages([1.0, 0.0, 0.0, 1.0])], group_advantages([0.5, 0.5])
    ([0.866, -0.866, -0.866, 0.866], [0.0, 0.0])
    """
    mean = statistics.fmean(rewards)
    std = statistics.stdev(rewards) if len(rewards) > 1 else 0.0
    return [(r - mean) / (std + eps) for r in rewards]


def sample_group(trainer: Any, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Draw one group (G rollouts of one prompt) through TRL's own generation and scoring, and return per rollout
    its messages, reward components, weighted total and the advantage TRL computed."""
    g = trainer.num_generations
    trainer._generate_and_score_completions([row] * g)  # TRL keeps what it logged in trainer._logs
    logs = trainer._logs
    comps, advs = list(logs["completion"])[-g:], list(logs["advantages"])[-g:]
    per = {name: list(v)[-g:] for name, v in logs["rewards"].items()}
    weights = dict(zip(trainer.reward_func_names, trainer.reward_weights.tolist()))
    return [{"completion": comps[i], **{n: per[n][i] for n in per},
             "total": sum(weights[n] * per[n][i] for n in per), "advantage": advs[i]} for i in range(g)]


def draw_rollout_group(group: list[dict[str, Any]], width: int = 38, max_lines: int = 30) -> Any:
    """The G rollouts of one group side by side: the model's turns (tool results as one line), rewards, advantage."""
    import textwrap

    import matplotlib.pyplot as plt

    from seekerlite.train.rewards import count_tool_use, turn_text

    fig, axes = plt.subplots(1, len(group), figsize=(3.6 * len(group), 6), squeeze=False)
    for ax, r in zip(axes[0], group):
        lines: list[str] = []
        for m in r["completion"]:
            if m["role"] == "assistant":
                lines += textwrap.wrap(turn_text(m).replace("\n", " "), width) + [""]
            else:
                n = sum(1 for p in m.get("content") or [] if isinstance(p, dict) and p.get("type") == "image")
                lines += [f"[tool: {n} frames]", ""]
        calls, frames = count_tool_use(r["completion"])
        ax.text(0, 1, "\n".join(lines[:max_lines]), va="top", family="monospace", fontsize=6.5, transform=ax.transAxes)
        ax.set_title(f"R={r['total']:.2f}  A={r['advantage']:+.2f}\nacc {r.get('accuracy', 0):.0f} fmt "
                     f"{r.get('format', 0):.0f} pars {r.get('parsimony', 0):.2f} | {calls} calls, {frames} frames",
                     fontsize=8, color="C2" if r["advantage"] > 0 else "C3" if r["advantage"] < 0 else "0.3")
        ax.axis("off")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------- evaluation

def evaluate(model: Any, processor: Any, samples: list[Sample], base_dir: str, cfg: GRPORunConfig,
             n_rollouts: int | None = None, seed: int = 1234) -> dict[str, float]:
    """Mean reward components on ``samples`` over ``n_rollouts`` sampled episodes each (the policy GRPO trains),
    played by seekerlite's own episode loop with the same prompts, tools and turn limit as training."""
    import torch

    from seekerlite.policies import EpisodeConfig, HFPolicy, run_episodes

    judge = make_judge(cfg.rewards.judge, cfg.rewards.f1_threshold)
    policy = HFPolicy(model, processor, max_new_tokens=max(32, cfg.max_completion_length // (cfg.max_turns + 1)),
                      do_sample=True, temperature=cfg.temperature, name="grpo-eval")
    ep_cfg = EpisodeConfig(env=cfg.env_config(), max_turns=cfg.max_turns + 1)
    was_training = model.training
    model.eval()
    scores: list[dict[str, float]] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(n_rollouts or cfg.eval_rollouts):
            for traj in run_episodes(policy, samples, ep_cfg, base_dir=base_dir, batch_size=8, progress=False):
                s = next(x for x in samples if x.id == traj.sample_id)
                first = next(i for i, m in enumerate(traj.messages) if m["role"] == "assistant")
                scores.append(score_completion(traj.messages[first:], s.answer, s.options, s.question,
                                               cfg.rewards, judge))
    model.train(was_training)
    keys = scores[0].keys() if scores else []
    return {k: statistics.fmean(x[k] for x in scores) for k in keys} | {"n": float(len(scores))}


# ---------------------------------------------------------------------------------------------- curves

CURVE_KEYS = {"reward": "total reward", "rewards/accuracy/mean": "accuracy", "rewards/format/mean": "format",
              "rewards/parsimony/mean": "parsimony", "episode/tool_calls": "tool calls / episode",
              "episode/frames": "frames / episode", "episode/answer_chars": "answer length (chars)",
              "completions/mean_length": "model tokens / episode",
              "kl": "KL to start", "loss": "loss"}


def curves_from_history(history: list[dict[str, Any]]) -> tuple[list[float], dict[str, list[float]]]:
    """(steps, {label: values}) of the logged training series in CURVE_KEYS (what ``plot_curves`` draws)."""
    rows = [h for h in history if "reward" in h]
    steps = [float(h.get("step", i)) for i, h in enumerate(rows)]
    series = {label: [float(h.get(k, math.nan)) for h in rows] for k, label in CURVE_KEYS.items()
              if any(k in h for h in rows)}
    return steps, series


def plot_grpo_curves(history: list[dict[str, Any]], path: str | Path | None = None, title: str = "GRPO") -> Any:
    """Reward components, tool calls, frames, answer length and KL per step; saved as PNG when ``path`` is given."""
    from seekerlite.viz import plot_curves

    steps, series = curves_from_history(history)
    fig = plot_curves(series, x=steps, title=title)
    for ax, ys in zip(fig.axes, series.values()):  # GRPO curves are noisy: overlay a running mean (window 8)
        if len(ys) >= 8:
            smooth = [statistics.fmean(ys[max(0, i - 7):i + 1]) for i in range(len(ys))]
            ax.plot(steps, smooth, color="C1", lw=2, alpha=0.9)
    if path is None:
        return fig
    fig.savefig(path, dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return Path(path)


# ---------------------------------------------------------------------------------------------- MC vs OE

def run_mc_vs_oe(cfg: GRPORunConfig) -> dict[str, Any]:
    """Train twice from the same start, on the MC and on the OE version of the same toy-world questions, and score
    the start and both policies on held-out OE and MC questions (accuracy, tool calls, frames).

    The paper's point: with MC rewards a policy is paid for picking one of four letters, which it can do
    (25 % by chance) without looking; OE rewards pay only for the right words, so looking matters more.
    Writes output_dir/{mc,oe}/ (two ordinary runs), mc_vs_oe.json, mc_vs_oe.md and mc_vs_oe.png.
    """
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    both = replace(cfg, form="both")
    _, held_out, _ = load_samples(both)
    sets = {"oe": [s for s in held_out if not s.is_mc][: cfg.eval_samples],
            "mc": [s for s in held_out if s.is_mc][: cfg.eval_samples]}
    data = cfg.data or str(out / "toy" / "samples.jsonl")  # both runs read the same samples
    results: dict[str, Any] = {}
    for form in ("mc", "oe"):
        run = replace(cfg, form=form, data=data, output_dir=str(out / form))
        summary = train_grpo(run, eval_sets=sets, evaluate_before=form == "mc")
        if "before" in summary:
            results["start"] = summary["before"]
        results[f"trained on {form.upper()}"] = summary["after"]
    (out / "mc_vs_oe.json").write_text(json.dumps(results, indent=1))
    (out / "mc_vs_oe.md").write_text(mc_vs_oe_table(results))
    plot_mc_vs_oe(results, out / "mc_vs_oe.png")
    return results


def mc_vs_oe_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A markdown table: one row per policy, OE/MC accuracy and tool use on the held-out questions."""
    lines = ["| policy | OE accuracy | MC accuracy | OE total reward | tool calls / episode (OE) | frames / episode (OE) |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        oe, mc = r.get("oe", {}), r.get("mc", {})
        lines.append(f"| {name} | {oe.get('accuracy', math.nan):.3f} | {mc.get('accuracy', math.nan):.3f} | "
                     f"{oe.get('total', math.nan):.3f} | {oe.get('tool_calls', math.nan):.2f} | {oe.get('frames', math.nan):.1f} |")
    return "\n".join(lines) + "\n"


def plot_mc_vs_oe(results: dict[str, dict[str, dict[str, float]]], path: str | Path | None = None) -> Any:
    """Bars: OE accuracy, MC accuracy and OE tool calls of the start and of the two trained policies."""
    import matplotlib.pyplot as plt

    metrics = [("oe", "accuracy", "OE accuracy"), ("mc", "accuracy", "MC accuracy"), ("oe", "tool_calls", "tool calls (OE)")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3))
    for ax, (split, key, title) in zip(axes, metrics):
        names = list(results)
        ax.bar(range(len(names)), [results[n].get(split, {}).get(key, math.nan) for n in names], color=["0.6", "C0", "C1"][: len(names)])
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


# ---------------------------------------------------------------------------------------------- command line

def _arg_type(annotation: str) -> Any:
    """A converter for a dataclass field's type annotation; "none" gives None for optional fields."""
    base = {"int": int, "float": float, "str": str, "bool": lambda v: v.lower() in ("1", "true", "yes")}[
        annotation.replace(" | None", "").strip()]
    return (lambda v: None if v.lower() == "none" else base(v)) if "None" in annotation else base


def build_parser() -> argparse.ArgumentParser:
    """Flags for every field of GRPORunConfig and RewardConfig (``--max-steps``, ``--call-penalty``, ...)."""
    p = argparse.ArgumentParser(prog="seekerlite grpo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter, argument_default=argparse.SUPPRESS)
    p.add_argument("--experiment", choices=["train", "mc-vs-oe"], default="train",
                   help="train: one GRPO run; mc-vs-oe: train on MC and on OE versions of the same samples and compare")
    p.add_argument("--plot", metavar="RUN_DIR", default=None, help="only redraw RUN_DIR/curves.png from its log")
    for cls in (GRPORunConfig, RewardConfig):
        for f in fields(cls):
            if f.name != "rewards":
                names = ["--" + f.name.replace("_", "-")] + (["--out"] if f.name == "output_dir" else [])
                p.add_argument(*names, dest=f.name, type=_arg_type(str(f.type)), metavar=f.name.upper(),
                               help=f"default: {f.default!r}")
    return p


def config_from_args(args: argparse.Namespace) -> GRPORunConfig:
    """GRPORunConfig from parsed flags; flags not given keep the defaults."""
    given = vars(args)
    rewards = RewardConfig(**{f.name: given[f.name] for f in fields(RewardConfig) if f.name in given})
    return GRPORunConfig(**{f.name: given[f.name] for f in fields(GRPORunConfig) if f.name in given}, rewards=rewards)


def main_grpo(argv: list[str] | None = None) -> int:
    """``seekerlite grpo [--experiment train|mc-vs-oe] [--init-from SFT_DIR] [--max-steps N] [--out DIR] ...``"""
    args = build_parser().parse_args(argv)
    if args.plot:
        hist = json.loads((Path(args.plot) / "log_history.json").read_text())
        print(f"wrote {plot_grpo_curves(hist, Path(args.plot) / 'curves.png')}")
        return 0
    cfg = config_from_args(args)
    if args.experiment == "mc-vs-oe":
        print(mc_vs_oe_table(run_mc_vs_oe(cfg)))
        print(f"wrote {Path(cfg.output_dir) / 'mc_vs_oe.md'} and mc_vs_oe.png")
        return 0
    summary = train_grpo(cfg)
    for name in summary.get("after", {}):
        b, a = summary.get("before", {}).get(name, {}), summary["after"][name]
        row = ", ".join(f"{k} {b.get(k, math.nan):.3f} -> {a[k]:.3f}" for k in ("total", "accuracy", "format", "parsimony", "tool_calls"))
        print(f"{name}: {row}")
    print(f"wrote {cfg.output_dir}/{final_dir_name(cfg)}, log_history.json, curves.png, summary.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main_grpo())
