"""GRPO with TRL: multi-turn rollouts in which the student calls our video tools, scored by seekerlite's rewards.

    seekerlite grpo --model runs/sft --out runs/grpo            # tiny model, CPU: ~3 min of training on 2 idle cores
    seekerlite grpo --model runs/sft --data runs/pipe --experiment mc-vs-oe --out runs/mc_vs_oe

The file reads top to bottom: config -> data (one row per sample: opening messages + images + the sample) ->
policy (``models.load_trained``: the SFT run's weights; its LoRA adapter goes on training, or every weight) ->
TRL's GRPOTrainer(environment_factory=VideoSeekerEnv) -> evaluation on held-out samples -> curves.

What TRL does for us, unchanged (tests/test_trl_env.py checks it): for each of the G rollouts of a prompt it
resets one VideoSeekerEnv with the dataset row (``reset(**row)``), generates, parses ``<tool_call>`` JSON with
the tokenizer's response parser, calls ``env.crop_video(...)``, appends the returned text + PIL frames as a
``tool`` message, tokenizes it with the chat template and masks those tokens out of the loss (``tool_mask``),
for up to ``env.max_tool_rounds`` rounds. Group-relative advantages: ``A_i = (R_i - mean_G R) / std_G R``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
from dataclasses import dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import Any

from seekerlite.config import TINY_PRETRAINED, EnvConfig, StudentConfig, is_tiny, student_preset
from seekerlite.env import VideoSeekerEnv, opening_messages, tool_error_counts
from seekerlite.runs import RunInfo, read_run, settle, write_run
from seekerlite.schema import Sample
from seekerlite.train.rewards import (
    RewardConfig,
    make_judge,
    make_reward_funcs,
    reward_failures,
    score_completion,
)
from seekerlite.train.sft import _plain, latest_checkpoint


PRETRAINED_TINY_LR = 1e-4  # GRPO from the perception-pretrained tiny base: 1e-3 (the random base's) erased what it saw in 20 steps (OE after the oracle's crop 67 % -> 50 %), 1e-4 kept it


@dataclass
class GRPORunConfig:
    """Everything a GRPO run needs; the defaults train the tiny model on toy-world MC questions on a CPU in minutes."""

    student: StudentConfig = field(default_factory=StudentConfig)  # what to start from: "tiny", a model, or an SFT run folder
    env: EnvConfig = field(default_factory=EnvConfig)  # the environment of every rollout
    rewards: RewardConfig = field(default_factory=RewardConfig)  # weights, parsimony knobs, OE judge
    # --- data
    data: str | None = None  # samples JSONL or a pipeline run folder (its rl.jsonl); None = a toy world made in output_dir/toy
    toy_clips: int = 16  # clips of the generated toy world (about 6 questions per clip and form)
    toy_seed: int = 1  # seed of the toy world: not SFT's (0), so no held-out clip was seen in SFT; fixed across runs
    form: str = "mc"  # questions trained on: "mc" | "oe" | "both"
    eval_fraction: float = 0.25  # share of clips held out for evaluation (split by clip, never by question)
    # --- GRPO (TRL's GRPOConfig names)
    num_generations: int = 4  # group size G: rollouts per prompt; lower if out of memory
    per_device_train_batch_size: int = 8  # rollouts per step, a multiple of G (8 = two prompts: steadier steps)
    gradient_accumulation_steps: int = 1  # micro-batches per optimizer step (a group split in micro-batches on small GPUs)
    max_completion_length: int | None = None  # tokens of a whole rollout (replies + tool results); None = the longest the env allows (seekerlite.budget)
    max_reply_tokens: int = 96  # tokens of one model reply (thinking + a tool call or the answer); 256 for real checkpoints
    beta: float = 0.02  # KL penalty to the starting policy; 0 = no reference model (faster, no KL curve)
    loss_type: str = "dapo"  # TRL loss: "grpo" | "dapo" | "dr_grpo" | "bnpo" ...
    learning_rate: float = 1e-3  # high because the tiny model is tiny (benchmarks/results/grpo_cpu.md); ~1e-5 (LoRA) for real checkpoints
    temperature: float = 1.0  # sampling temperature of rollouts
    max_steps: int = 40  # optimizer steps (~4 s each for the tiny model on 2 CPU cores)
    gradient_checkpointing: bool = False  # recompute activations in backward (non-reentrant); on by default for real checkpoints
    seed: int = 0  # seeds LoRA init, sampling and data order
    # --- bookkeeping
    output_dir: str = "runs/grpo"  # run.json, checkpoints, weights, log_history.json, curves.png
    save_steps: int = 10  # checkpoint every N steps (optimizer + scheduler + RNG states: resumable)
    resume_from_checkpoint: str | None = None  # a checkpoint folder, or "latest" for the newest in output_dir
    logging_steps: int = 1  # log every N steps
    eval_samples: int = 24  # held-out samples scored before/after training (0 = skip)
    eval_rollouts: int = 2  # sampled episodes per held-out sample (more = less noisy means)
    report_to: str = "none"  # experiment tracking, as in TRL: "none" | "tensorboard" | "wandb" | "trackio"

    def __post_init__(self) -> None:  # refused here, before a model loads (TRL would say so after)
        from seekerlite.strictjson import check_ranges

        check_ranges(self, {"toy_clips": (1, 10_000), "eval_fraction": (0, 0.9), "num_generations": (2, None),
                            "per_device_train_batch_size": (1, None), "gradient_accumulation_steps": (1, None),
                            "max_completion_length": (1, None), "max_reply_tokens": (1, None), "beta": (0, None),
                            "learning_rate": (0, 10), "temperature": (0, None), "max_steps": (1, None),
                            "save_steps": (1, None), "logging_steps": (1, None), "eval_samples": (0, None),
                            "eval_rollouts": (1, None)}, optional=("max_completion_length",))
        if self.form not in ("mc", "oe", "both"):
            raise ValueError(f"GRPORunConfig: form {self.form!r} (want 'mc', 'oe' or 'both')")
        if (self.per_device_train_batch_size * self.gradient_accumulation_steps) % self.num_generations:
            raise ValueError(f"GRPORunConfig: per_device_train_batch_size x gradient_accumulation_steps "
                             f"({self.per_device_train_batch_size} x {self.gradient_accumulation_steps}) must be a "
                             f"multiple of num_generations ({self.num_generations}): whole groups per step")

    @classmethod
    def for_model(cls, model_id: str, **kw: Any) -> GRPORunConfig:
        """Defaults that suit `model_id` (a run folder counts as the model it trained): the tiny model as above; a
        real checkpoint gets a small learning rate, one group per step and gradient checkpointing."""
        info = read_run(model_id, levels=0) if Path(model_id).is_dir() else None
        base = info.student.model_id if info is not None and info.student is not None else model_id
        if is_tiny(base):
            lr = {"learning_rate": PRETRAINED_TINY_LR} if base == TINY_PRETRAINED else {}
            return cls(**({"student": replace(student_preset(base), model_id=model_id)} | lr | kw))
        from seekerlite.plan import trainer_defaults

        real = {"learning_rate": 1e-5, "gradient_checkpointing": True, "max_steps": 200, "max_reply_tokens": 256} \
            | trainer_defaults(base, "grpo")
        return cls(**({"student": replace(student_preset(base), model_id=model_id)} | real | kw))


# ---------------------------------------------------------------------------------------------- data

def build_rows(samples: list[Sample], base_dir: Any, env: EnvConfig | None = None) -> list[dict[str, Any]]:
    """One GRPO dataset row per sample, in TRL's VLM format.

    ``prompt`` holds the opening messages with ``{"type": "image"}`` placeholders and ``images`` the PIL images
    (TRL fills them back in); ``sample`` (JSON) and ``base_dir`` are what ``VideoSeekerEnv.reset(**row)`` reads;
    ``answer``/``options``/``question`` feed the rewards.
    """
    environment = VideoSeekerEnv(env or EnvConfig())
    rows = []
    for s in samples:
        environment.reset(sample=s, base_dir=base_dir)
        images: list[Any] = []
        prompt = []
        for m in opening_messages(environment):
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


def data_file(data: str) -> Path:
    """The RL samples of `data`: the file itself, or ``rl.jsonl`` of a pipeline run folder."""
    p = Path(data)
    return p / "rl.jsonl" if p.is_dir() else p


def load_samples(cfg: GRPORunConfig) -> tuple[list[Sample], list[Sample], str]:
    """(train, held-out, base_dir): the JSONL of ``cfg.data`` or a toy world, split by clip, train filtered by form."""
    from seekerlite.data import keep_form, split_by_video
    from seekerlite.data import load_samples as load

    spec = str(data_file(cfg.data)) if cfg.data else f"toy:{cfg.toy_clips}@{cfg.toy_seed}"
    samples, base = load(spec, out_dir=Path(cfg.output_dir))
    train, held = split_by_video(samples, cfg.eval_fraction, cfg.toy_seed)
    return keep_form(train, cfg.form), held, str(base)


def settle_with_runs(cfg: GRPORunConfig, explicit: set[str] | None = None, override: bool = False) -> GRPORunConfig:
    """The config with the environment and student of the run it starts from (``student.model_id`` a run
    folder) and of its data's run: unset fields are taken from them, different ones refused (``runs.settle``)."""
    from seekerlite.cliargs import explicit_in

    every_env, every_student = {f.name for f in fields(EnvConfig)}, {f.name for f in fields(StudentConfig)}
    env_given = every_env if explicit is None else explicit_in(explicit, "env")
    student_given = every_student if explicit is None else explicit_in(explicit, "student")
    if cfg.student.finetune_vision_layers is None:  # unset: the run's choice stands (StudentConfig.trains_vision)
        student_given = student_given - {"finetune_vision_layers"}
    for path in [cfg.student.model_id] + ([str(data_file(cfg.data))] if cfg.data else []):
        info = read_run(path, levels=0 if path == cfg.student.model_id else 2) if Path(path).exists() else None
        if info is None:
            continue
        cfg = replace(cfg, env=settle(info.env, cfg.env, env_given, "env", info.path, override))
        env_given = every_env  # the first run's settings now stand for the user's
        if info.student is not None and path == cfg.student.model_id:
            ignore = ("model_id",) + (() if info.student.lora_r is not None else ("lora_r", "lora_alpha"))
            st = settle(info.student, cfg.student, student_given, "student", info.path, override, ignore=ignore)
            cfg = replace(cfg, student=st)
    return cfg


# ---------------------------------------------------------------------------------------------- policy + trainer

def load_policy(cfg: GRPORunConfig) -> Any:
    """The student to train: ``student.model_id`` (a run folder, a model or "tiny"); an SFT LoRA adapter goes on
    training, a full model trains every weight or a fresh LoRA (``student.lora_r``)."""
    from seekerlite.models import load_trained

    return load_trained(cfg.student.model_id, cfg.student, inference=False, seed=cfg.seed,
                        gradient_checkpointing=cfg.gradient_checkpointing)


def episode_budget_of(cfg: GRPORunConfig, processor: Any) -> Any:
    """The token budget of one rollout (``seekerlite.budget``), measured with the processor (its pixel limit first
    lowered to the environment's frame budget)."""
    from seekerlite.budget import fit_processor, processor_budget

    fit_processor(processor, cfg.env)
    return processor_budget(cfg.env, processor, cfg.max_reply_tokens)


def grpo_config(cfg: GRPORunConfig, processor: Any = None, backend: str = "full", **overrides: Any) -> Any:
    """TRL's GRPOConfig from ours: CPU when no GPU; our reward weights and tool rounds; ``max_completion_length``
    from the episode budget unless set (too small for one tool round is refused: TRL would drop tool results
    silently); each reply capped at ``max_reply_tokens``; image/video pad tokens never sampled; bf16 only from
    compute capability 8.0 (else fp16); non-reentrant checkpointing (unsloth sets up its own at load time)."""
    import torch
    from trl import GRPOConfig

    from seekerlite.budget import completion_length, episode_budget
    from seekerlite.models.compat import (
        checkpointing_args,
        device_capability,
        precision_args,
        vision_pad_ids,
    )

    generation: dict[str, Any] = {"max_new_tokens": cfg.max_reply_tokens}
    if processor is not None:
        budget = episode_budget_of(cfg, processor)
        generation["suppress_tokens"] = vision_pad_ids(processor)
    else:  # no processor at hand: the estimate for Qwen3-VL
        budget = episode_budget(cfg.env, reply_tokens=cfg.max_reply_tokens)
    length = completion_length(cfg.max_completion_length, budget)
    cuda = torch.cuda.is_available()
    kw: dict[str, Any] = dict(
        output_dir=cfg.output_dir, per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, generation_kwargs=generation,
        num_generations=cfg.num_generations, max_completion_length=length,
        max_tool_calling_iterations=cfg.env.max_tool_rounds, beta=cfg.beta, loss_type=cfg.loss_type,
        learning_rate=cfg.learning_rate, temperature=cfg.temperature, max_steps=cfg.max_steps, seed=cfg.seed,
        reward_weights=cfg.rewards.weights, logging_steps=cfg.logging_steps, save_steps=cfg.save_steps,
        save_strategy="steps", report_to=[] if cfg.report_to == "none" else [cfg.report_to],
        use_cpu=not cuda, log_completions=False, disable_tqdm=True, lr_scheduler_type="constant", warmup_steps=0,
        **precision_args(device_capability() if cuda else None, cfg.student.dtype),
        **checkpointing_args(GRPOConfig, cfg.gradient_checkpointing and backend != "unsloth"))
    return GRPOConfig(**(kw | overrides))


def make_trainer(cfg: GRPORunConfig, student: Any, train_rows: list[dict[str, Any]], **overrides: Any) -> Any:
    """TRL's GRPOTrainer with VideoSeekerEnv as environment_factory and seekerlite's three rewards."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import GRPOTrainer

    funcs, _ = make_reward_funcs(cfg.rewards)
    funcs[0] = with_episode_stats(funcs[0])
    return GRPOTrainer(model=student.model, processing_class=student.processor, reward_funcs=funcs,
                       args=grpo_config(cfg, student.processor, student.backend, **overrides),
                       train_dataset=rows_to_dataset(train_rows),
                       environment_factory=partial(VideoSeekerEnv, cfg.env))


def with_episode_stats(reward_func: Any) -> Any:
    """Wrap a reward function so that, under TRL, it also logs per-episode tool calls, frames, answer length and
    ``episode/tool_results_dropped``: tool results the environment served that TRL rolled back because they would
    overflow ``max_completion_length`` (TRL itself drops them silently); through the ``log_metric`` callback TRL
    passes reward functions (silently skipped where there is none)."""
    from seekerlite.budget import count_dropped
    from seekerlite.grammar import count_tool_use, final_answer

    def wrapped(completions: list[Any], **kwargs: Any) -> list[float]:
        log = kwargs.get("log_metric")
        dropped = count_dropped(kwargs.get("environments") or [], completions)
        if log is not None:
            for d in dropped:
                log("episode/tool_results_dropped", float(d))
            for c in completions:
                calls, frames = count_tool_use(c)
                log("episode/tool_calls", float(calls))
                log("episode/frames", float(frames))
                log("episode/answer_chars", float(len(final_answer(c) or "")))
        return reward_func(completions, **kwargs)

    wrapped.__name__ = getattr(reward_func, "__name__", "accuracy")
    return wrapped


# ---------------------------------------------------------------------------------------------- the run

def train_grpo(cfg: GRPORunConfig, eval_sets: dict[str, list[Sample]] | None = None, evaluate_before: bool = True,
               plot: bool = True, explicit: set[str] | None = None, override: bool = False) -> dict[str, Any]:
    """Run GRPO end to end; writes output_dir/{run.json, checkpoint-*, adapter/ (or model/), log_history.json,
    curves.png, summary.json}.

    Args:
        cfg: the run.
        eval_sets: named held-out sample lists scored before and after training; default
            ``{"held_out": <cfg.eval_samples held-out samples of the trained form>}``.
        evaluate_before: also score the starting policy (skipped when resuming).
        plot: draw curves.png from the log history.
        explicit, override: see ``settle_with_runs``.

    Returns:
        summary: ``before``/``after`` reward components per eval set, ``log_history``.
    """
    from seekerlite.models.loading import import_unsloth_first

    import_unsloth_first(cfg.student)  # before anything imports transformers, when unsloth will be the backend
    import torch

    from seekerlite.budget import dropped_tool_results
    from seekerlite.data import keep_form
    from seekerlite.train.curves import plot_grpo_curves

    cfg = settle_with_runs(cfg, explicit, override)
    from seekerlite.train.progress import check_report_to, quiet_libraries

    check_report_to(cfg.report_to)
    quiet_libraries(four_bit=cfg.student.load_in_4bit or cfg.student.backend == "bnb-4bit")
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, held_out, base = load_samples(cfg)
    if not train:
        raise ValueError(f"no {cfg.form.upper()} training samples in {cfg.data or 'the toy world'}")
    per_step = max(1, cfg.per_device_train_batch_size // max(1, cfg.num_generations))
    if len(train) < per_step:  # TRL would train 0 steps and end in an unrelated error
        raise ValueError(f"{cfg.data or 'the toy world'}: {len(train)} {cfg.form.upper()} training sample(s), but one "
                         f"step takes {per_step} prompts (--batch-size {cfg.per_device_train_batch_size} / "
                         f"--num-generations {cfg.num_generations}); add samples, use --form both, or lower --batch-size")
    if eval_sets is None:
        eval_sets = {"held_out": keep_form(held_out, cfg.form)[: cfg.eval_samples]}
    eval_sets = {k: v for k, v in eval_sets.items() if v}
    rows = build_rows(train, base, cfg.env)  # opens every sample's video and marked frame: bad data fails before the model loads
    student = load_policy(cfg)
    weights = "adapter" if _is_peft(student.model) else "model"
    parent = cfg.student.model_id if Path(cfg.student.model_id).is_dir() else None
    write_run(out, RunInfo("grpo", env=cfg.env, student=cfg.student, seed=cfg.seed, data=cfg.data, parent=parent,
                           weights=weights, config=_plain(cfg)))
    summary: dict[str, Any] = {"config": _plain(cfg), "n_train": len(train), "n_eval": {k: len(v) for k, v in eval_sets.items()}}
    resume = latest_checkpoint(cfg.output_dir) if cfg.resume_from_checkpoint == "latest" else cfg.resume_from_checkpoint
    if evaluate_before and not resume:
        summary["before"] = {k: evaluate(student.model, student.processor, v, base, cfg, seed=1234 + cfg.seed,
                                         backend=student.backend) for k, v in eval_sets.items()}
    trainer = make_trainer(cfg, student, rows)
    from seekerlite.train.progress import LOG_NAME, calm_trainer

    calm_trainer(trainer, "GRPO", out / LOG_NAME)  # one progress line; every logged step in train_log.jsonl
    dropped_before = dropped_tool_results()["tool_results_dropped"]
    errors_before, failures_before = tool_error_counts(), reward_failures()
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out / weights))
    history = trainer.state.log_history
    (out / "log_history.json").write_text(json.dumps(history, indent=1))
    summary["after"] = {k: evaluate(trainer.model, student.processor, v, base, cfg, seed=1234 + cfg.seed,
                                    backend=student.backend) for k, v in eval_sets.items()}
    summary["tool_results_dropped"] = dropped_tool_results()["tool_results_dropped"] - dropped_before  # TRL: silent
    # failed tool calls (error observations) and completions a reward could not score, during training, by kind
    summary["tool_errors"] = {k: v - errors_before.get(k, 0) for k, v in tool_error_counts().items()
                              if v > errors_before.get(k, 0)}
    summary["reward_failures"] = {k: v - failures_before.get(k, 0) for k, v in reward_failures().items()
                                  if v > failures_before.get(k, 0)}
    summary["train_seconds"] = next((h["train_runtime"] for h in history if "train_runtime" in h), None)
    if plot:
        summary["curves"] = str(plot_grpo_curves(history, out / "curves.png", title=f"GRPO ({cfg.form})"))
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary | {"log_history": history}


def _is_peft(model: Any) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def evaluate(model: Any, processor: Any, samples: list[Sample], base_dir: str, cfg: GRPORunConfig,
             n_rollouts: int | None = None, seed: int = 1234, backend: str = "full") -> dict[str, float]:
    """Mean reward components on ``samples`` over ``n_rollouts`` sampled episodes each (the policy GRPO trains),
    played by seekerlite's own episode loop with the same prompts, tools, turn limit and reply length as training
    (unsloth's ``for_inference`` / ``for_training`` around it under unsloth)."""
    import torch

    from seekerlite.models.loading import inference_mode
    from seekerlite.policies import HFPolicy, run_episodes

    judge = make_judge(cfg.rewards.judge, cfg.rewards.f1_threshold)
    policy = HFPolicy(model, processor, max_new_tokens=cfg.max_reply_tokens, do_sample=True,
                      temperature=cfg.temperature, name="grpo-eval")
    scores: list[dict[str, float]] = []
    with torch.random.fork_rng(devices=[]), inference_mode(model, backend):
        torch.manual_seed(seed)
        for _ in range(n_rollouts or cfg.eval_rollouts):
            for traj in run_episodes(policy, samples, cfg.env, base_dir=base_dir, batch_size=8, progress=False):
                s = next(x for x in samples if x.id == traj.sample_id)
                first = next(i for i, m in enumerate(traj.messages) if m["role"] == "assistant")
                scores.append(score_completion(traj.messages[first:], s.answer, s.options, s.question,
                                               cfg.rewards, judge))
    keys = scores[0].keys() if scores else []
    return {k: statistics.fmean(x[k] for x in scores) for k in keys} | {"n": float(len(scores))}


# ---------------------------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    """``seekerlite grpo`` flags: every field of GRPORunConfig (with its env, student and rewards), and the rest."""
    from seekerlite.cliargs import add_config_arguments

    p = argparse.ArgumentParser(prog="seekerlite grpo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiment", dest="_experiment", choices=["train", "mc-vs-oe"], default="train",
                   help="train: one GRPO run; mc-vs-oe: train on MC and on OE versions of the same samples and compare")
    p.add_argument("--plot", dest="_plot", metavar="RUN_DIR", default=None, help="only redraw RUN_DIR/curves.png")
    p.add_argument("--override", dest="_override", action="store_true",
                   help="use the settings given here even where they differ from the run.json of --model/--data")
    add_config_arguments(p, GRPORunConfig)
    return p


def config_from_argv(argv: list[str] | None = None) -> tuple[GRPORunConfig, set[str], dict[str, Any]]:
    """(config, explicit fields, the other options) from a command line."""
    from seekerlite.cliargs import config_from_args

    args = build_parser().parse_args(argv)
    extra = {k[1:]: args.__dict__.pop(k) for k in list(vars(args)) if k.startswith("_")}
    model = getattr(args, "student.model_id", StudentConfig().model_id)
    cfg, explicit = config_from_args(GRPORunConfig, args, base=GRPORunConfig.for_model(model))
    return cfg, explicit, extra


def main_grpo(argv: list[str] | None = None) -> int:
    """``seekerlite grpo [--experiment train|mc-vs-oe] [--model SFT_RUN] [--max-steps N] [--out DIR] ...``"""
    from seekerlite.train.curves import plot_grpo_curves

    cfg, explicit, extra = config_from_argv(argv)
    if extra["plot"]:
        hist = json.loads((Path(extra["plot"]) / "log_history.json").read_text())
        print(f"wrote {plot_grpo_curves(hist, Path(extra['plot']) / 'curves.png')}")
        return 0
    from seekerlite.runlock import RunLock

    if extra["experiment"] == "mc-vs-oe":
        from seekerlite.train.mc_vs_oe import mc_vs_oe_table, run_mc_vs_oe

        with RunLock(cfg.output_dir):  # one process per run folder
            print(mc_vs_oe_table(run_mc_vs_oe(cfg, explicit, extra["override"])))
        print(f"wrote {Path(cfg.output_dir) / 'mc_vs_oe.md'} and mc_vs_oe.png")
        return 0
    with RunLock(cfg.output_dir):  # a second process on this folder is refused (it would mix checkpoints)
        summary = train_grpo(cfg, explicit=explicit, override=extra["override"])
    for name in summary.get("after", {}):
        b, a = summary.get("before", {}).get(name, {}), summary["after"][name]
        row = ", ".join(f"{k} {b.get(k, math.nan):.3f} -> {a[k]:.3f}" for k in ("total", "accuracy", "format", "parsimony", "tool_calls"))
        print(f"{name}: {row}")
    print(f"wrote {cfg.output_dir}/run.json, weights, log_history.json, curves.png, summary.json")
    return 0
