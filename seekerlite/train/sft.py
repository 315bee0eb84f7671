"""Supervised fine-tuning (cold start) on multi-turn tool-use episodes, with TRL's SFTTrainer.

    seekerlite sft --out runs/sft          # toy world + oracle episodes, tiny model, all weights, CPU: ~3-6 min
    seekerlite sft --data runs/pipe/sft/sft.jsonl --model Qwen/Qwen3-VL-2B-Instruct --lora-r 16 --grad-ckpt \\
        --batch-size 1 --grad-accum 8 --lr 1e-4 --out runs/sft      # QLoRA on a 16 GB GPU

The file reads top to bottom: config -> data (``sft.jsonl`` chat episodes, or a toy world played by the oracle)
-> student (LoRA / QLoRA via ``load_student``, or all weights) -> ``SFTTrainer`` with ``ChatCollator`` (loss on
the assistant's own tokens only; see ``collate.py``) -> saving (adapter + merged model) -> the loss curve ->
the format-valid rate of the tuned model's replies in the environment.

A run writes into ``output_dir``: ``checkpoint-N/`` (resumable), ``adapter/`` (the LoRA alone, loadable with
``seekerlite eval --model <out>/adapter``), the merged model itself at the top (``config.json``, weights,
processor: ``seekerlite eval --model <out>`` or ``seekerlite grpo --init-from <out>``), ``loss.json``,
``loss.png`` and ``run_config.json``.

On a CPU shared with other jobs, set ``OMP_NUM_THREADS=1`` (or ``torch.set_num_threads(1)``): the tiny model gains
little from more threads, and oversubscribed ones made a step ~6x slower on a busy 2-core machine (5.2 s vs 0.85 s).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from seekerlite.env import EnvConfig
from seekerlite.models import TINY_MODEL_ID
from seekerlite.protocol import (
    ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, TOOL_NAMES,
)


@dataclass
class SFTRunConfig:
    """Everything an SFT run needs; the defaults fine-tune the tiny model on toy-world oracle episodes on a CPU."""

    # --- model
    model_id: str = TINY_MODEL_ID  # base model: TINY_MODEL_ID, a model folder or a hub id
    lora_r: int | None = None  # LoRA rank (16 for real checkpoints); None = train every weight, right for the
    # random-init tiny model only: LoRA leaves its random embeddings frozen and it barely learns the format
    lora_alpha: int | None = None  # LoRA scale numerator; None = 2 * lora_r
    finetune_vision_layers: bool = False  # also put LoRA on the vision tower (more memory, rarely needed for SFT)
    load_in_4bit: bool = True  # QLoRA: NF4 base weights on CUDA (unsloth or bitsandbytes); ignored on CPU
    gradient_checkpointing: bool = False  # recompute activations in backward: turn on for 2B+ on a 16 GB card
    # --- data
    data: str | None = None  # chat dataset (sft.jsonl, images relative to it); None = toy world in output_dir/data
    toy_clips: int = 8  # clips of the generated toy world (~11 episodes per clip: MC + OE questions)
    toy_seed: int = 0  # seed of the toy training world (evaluate on another seed)
    overview_frames: int = 4  # toy episodes: frames in the first user turn (fewer = shorter sequences)
    max_frames_per_call: int = 4  # toy episodes: frames one crop_video returns
    max_length: int | None = 4096  # longest episode in tokens; longer raises (never cut); ~1k for toy episodes
    # --- optimisation (TRL's SFTConfig)
    num_train_epochs: float = 5.0  # passes over the data (ignored when max_steps > 0)
    max_steps: int = -1  # optimizer steps; -1 = use num_train_epochs
    per_device_train_batch_size: int = 2  # episodes per forward pass; 1 on a 16 GB card with a 2B model
    gradient_accumulation_steps: int = 1  # forward passes per optimizer step (raise when lowering the batch)
    learning_rate: float = 5e-3  # high for the tiny random-init model; ~1e-4 (LoRA) / 1e-5 (full) for real ones
    lr_scheduler_type: str = "cosine"  # "cosine" | "linear" | "constant" ...
    warmup_steps: float = 0.05  # warm-up: a share of all steps if < 1, else a number of steps
    weight_decay: float = 0.0  # AdamW weight decay
    seed: int = 0  # seeds LoRA init and data order
    # --- bookkeeping
    output_dir: str = "runs/sft"  # checkpoints, adapter/, merged model, loss.json, loss.png
    logging_steps: int = 5  # log the loss every N steps
    save_steps: int = 100  # checkpoint every N steps (with optimizer/scheduler/RNG state: resumable)
    save_total_limit: int | None = 2  # checkpoints kept on disk
    resume_from_checkpoint: str | None = None  # a checkpoint folder, or "latest" (newest in output_dir, if any)
    save_merged: bool = True  # also save the adapter merged into the base (a plain model folder) at output_dir

    def env_config(self) -> EnvConfig:
        """The environment the toy episodes are played in (and the tuned model is evaluated in)."""
        return EnvConfig(overview_frames=self.overview_frames, max_frames_per_call=self.max_frames_per_call,
                         min_frames_per_call=min(4, self.max_frames_per_call))


# ---------------------------------------------------------------------------------------------- data

def make_toy_sft_data(out_dir: str | Path, n_clips: int = 8, seed: int = 0, env_config: EnvConfig | None = None,
                      progress: bool = False) -> Path:
    """Toy-world samples played by the oracle, saved as a chat dataset: ``out_dir/sft.jsonl`` (+ images/, toy/).

    Returns the path of ``sft.jsonl`` (reused when it already exists).
    """
    from seekerlite.policies import EpisodeConfig, OraclePolicy, run_episodes
    from seekerlite.schema import load_jsonl
    from seekerlite.synth import ToyWorldConfig, generate_dataset
    from seekerlite.trajectory import save_chat_dataset

    out = Path(out_dir)
    if (out / "sft.jsonl").exists():
        return out / "sft.jsonl"
    samples_path = generate_dataset(out / "toy", n_clips=n_clips, seed=seed, config=ToyWorldConfig(seed=seed))
    episodes = EpisodeConfig(env=env_config or EnvConfig())
    trajs = run_episodes(OraclePolicy(seed=seed), load_jsonl(samples_path), episodes, base_dir=str(samples_path.parent),
                         progress=progress)
    return save_chat_dataset(trajs, out)


def load_sft_dataset(path: str | Path) -> Any:
    """A ``datasets.Dataset`` of chat episodes: ``id``, ``messages_json`` (the message list as JSON, image parts
    holding paths) and ``base_dir`` (the folder those paths start from). Images are opened by the collator."""
    from datasets import Dataset

    from seekerlite.trajectory import load_chat_dataset

    path = Path(path)
    records = load_chat_dataset(path, load_images=False)
    if not records:
        raise ValueError(f"{path} holds no episodes")
    rows = [{"id": str(r.get("id", i)), "messages_json": json.dumps(r["messages"], ensure_ascii=False),
             "base_dir": str(path.parent.resolve())} for i, r in enumerate(records)]
    return Dataset.from_list(rows)


# ---------------------------------------------------------------------------------------------- student + trainer

def load_sft_student(cfg: SFTRunConfig) -> Any:
    """The student with LoRA (``lora_r``) or every weight trainable (``lora_r=None``)."""
    from seekerlite.models import LoraSettings, load_student

    if cfg.lora_r is None:
        student = load_student(cfg.model_id, lora=None, load_in_4bit=False,
                               gradient_checkpointing=cfg.gradient_checkpointing, seed=cfg.seed)
        student.model.train().requires_grad_(True)
        if student.model.num_parameters() > 200e6:
            warnings.warn(f"seekerlite: training all {student.model.num_parameters() / 1e9:.1f} B weights needs far "
                          "more memory than LoRA; pass lora_r=16 (--lora-r 16) on a 16 GB card", stacklevel=2)
        return student
    lora = LoraSettings(r=cfg.lora_r, alpha=cfg.lora_alpha or 2 * cfg.lora_r,
                        finetune_vision_layers=cfg.finetune_vision_layers)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*4-bit loading needs CUDA.*")  # CPU: float32, said in the docs
        student = load_student(cfg.model_id, lora=lora, load_in_4bit=cfg.load_in_4bit,
                               gradient_checkpointing=cfg.gradient_checkpointing, seed=cfg.seed)
    if student.backend == "unsloth":
        from unsloth import FastVisionModel  # lazy: only on CUDA

        FastVisionModel.for_training(student.model)
    return student


def sft_config(cfg: SFTRunConfig, backend: str = "full", **overrides: Any) -> Any:
    """TRL's SFTConfig from ours: our collator does the tokenizing, so TRL's dataset preparation is skipped and
    our columns are kept; CPU when there is no GPU; no external loggers."""
    import torch
    from trl import SFTConfig

    cuda = torch.cuda.is_available()
    kw: dict[str, Any] = dict(
        output_dir=cfg.output_dir, num_train_epochs=cfg.num_train_epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type, warmup_steps=cfg.warmup_steps, weight_decay=cfg.weight_decay,
        seed=cfg.seed, logging_steps=cfg.logging_steps, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit, report_to=[], disable_tqdm=True, max_length=cfg.max_length,
        dataset_kwargs={"skip_prepare_dataset": True}, remove_unused_columns=False,
        use_cpu=not cuda, bf16=cuda and torch.cuda.is_bf16_supported(), dataloader_num_workers=0)
    # TRL turns checkpointing on by default; unsloth sets up its own at load time. transformers >= 5.2x renamed
    # gradient_checkpointing to activation_checkpointing (the old name warns there; 5.17 knows only the old one).
    ckpt = "activation_checkpointing" if "activation_checkpointing" in {f.name for f in fields(SFTConfig)} \
        else "gradient_checkpointing"
    kw[ckpt] = cfg.gradient_checkpointing and backend != "unsloth"
    if kw[ckpt]:
        kw[f"{ckpt}_kwargs"] = {"use_reentrant": False}
    return SFTConfig(**(kw | overrides))


def make_trainer(cfg: SFTRunConfig, student: Any, dataset: Any, **overrides: Any) -> Any:
    """TRL's SFTTrainer with ``ChatCollator`` as data collator (TRL's documented path for custom VLM collators)."""
    from trl import SFTTrainer

    from seekerlite.train.collate import ChatCollator

    return SFTTrainer(model=student.model, args=sft_config(cfg, student.backend, **overrides), train_dataset=dataset,
                      processing_class=student.processor,
                      data_collator=ChatCollator(student.processor, max_length=cfg.max_length))


def latest_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` folder of a run, or None."""
    cks = sorted(Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(cks[-1]) if cks else None


# ---------------------------------------------------------------------------------------------- the run

def train_sft(cfg: SFTRunConfig) -> dict[str, Any]:
    """Run SFT end to end (see module docstring for what lands in ``output_dir``); returns a summary dict."""
    import matplotlib.pyplot as plt

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(cfg.data) if cfg.data else \
        make_toy_sft_data(out / "data", cfg.toy_clips, cfg.toy_seed, cfg.env_config())
    dataset = load_sft_dataset(data)
    student = load_sft_student(cfg)
    trainer = make_trainer(cfg, student, dataset)
    resume = cfg.resume_from_checkpoint
    if resume == "latest":
        resume = latest_checkpoint(out)
        print(f"resuming from {resume}" if resume else f"no checkpoint in {out}: starting from scratch")
    t0 = time.time()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.time() - t0
    history = loss_history(trainer.state.log_history)
    (out / "loss.json").write_text(json.dumps(history, indent=1))
    name = "tiny Qwen3-VL" if cfg.model_id == TINY_MODEL_ID else Path(cfg.model_id).name
    fig = plot_loss(history, title=f"SFT of {name}")
    fig.savefig(out / "loss.png", dpi=100, bbox_inches="tight")
    plt.close(fig)  # saved, not shown (a notebook would otherwise draw it under the training cell)
    saved = save_trained(trainer.model, student, out, merge=cfg.save_merged)
    (out / "run_config.json").write_text(json.dumps(asdict(cfg) | {"data": str(data), "base_path": student.model_path,
                                                                   "backend": student.backend}, indent=1))
    losses = history["loss"]
    summary = {"output_dir": str(out), "data": str(data), "episodes": len(dataset), "steps": trainer.state.global_step,
               "seconds": round(seconds, 1), "loss_first": losses[0] if losses else None,
               "loss_last": losses[-1] if losses else None, "backend": student.backend, **saved}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary | {"trainer": trainer, "student": student}


def save_trained(model: Any, student: Any, out: Path, merge: bool = True) -> dict[str, str]:
    """Save the adapter (``out/adapter``) and the merged model (``out``), or the full model (``out``), each with
    the processor. The merge reloads the base un-quantized on the CPU, so QLoRA runs merge into 16/32-bit weights."""
    from peft import PeftModel

    saved: dict[str, str] = {}
    if not isinstance(model, PeftModel):  # full fine-tuning
        model.save_pretrained(out)
        student.processor.save_pretrained(out)
        return {"model_dir": str(out)}
    model.save_pretrained(out / "adapter")
    student.processor.save_pretrained(out / "adapter")
    saved["adapter_dir"] = str(out / "adapter")
    if merge:
        from seekerlite.models import load_student

        dtype = "bfloat16" if student.device.startswith("cuda") else None
        base = load_student(student.model_path, lora=None, load_in_4bit=False, device="cpu", dtype=dtype)
        merged = PeftModel.from_pretrained(base.model, str(out / "adapter")).merge_and_unload()
        merged.save_pretrained(out)
        student.processor.save_pretrained(out)
        saved["model_dir"] = str(out)
    return saved


# ---------------------------------------------------------------------------------------------- the loss curve

def loss_history(log_history: list[dict[str, Any]]) -> dict[str, list[float]]:
    """``step``, ``loss``, ``learning_rate`` (and ``mean_token_accuracy`` when TRL logs it) from the Trainer's log.

    >>> loss_history([{"loss": 2.0, "step": 5, "learning_rate": 1e-3}, {"train_runtime": 1.0, "step": 5}])["loss"]
    [2.0]
    """
    rows = [r for r in log_history if "loss" in r]
    hist = {"step": [r["step"] for r in rows], "loss": [r["loss"] for r in rows],
            "learning_rate": [r.get("learning_rate", float("nan")) for r in rows]}
    if rows and all("mean_token_accuracy" in r for r in rows):
        hist["mean_token_accuracy"] = [r["mean_token_accuracy"] for r in rows]
    return hist


def plot_loss(history: dict[str, list[float]], title: str | None = None) -> Any:
    """The training loss (and token accuracy) against the optimizer step (a matplotlib ``Figure``)."""
    from seekerlite.viz import plot_curves

    series = {"train loss (assistant tokens)": history["loss"]}
    if "mean_token_accuracy" in history:
        series["token accuracy"] = history["mean_token_accuracy"]
    fig = plot_curves(series, x=history["step"], ncols=2, title=title)
    for ax in fig.axes:
        ax.set_xlabel("step")
    return fig


# ---------------------------------------------------------------------------------------------- format-valid rate

_REPLY_RE = re.compile(
    rf"\s*{re.escape(THINK_OPEN)}(?P<think>.*?){re.escape(THINK_CLOSE)}\s*(?P<action>.*?)\s*", re.DOTALL)


def reply_format_ok(text: str) -> bool:
    """Is one reply well formed: a non-empty ``<think>…</think>``, then exactly one ``<tool_call>`` holding strict
    JSON ``{"name": <known tool>, "arguments": {...}}`` *or* exactly one non-empty ``<answer>…</answer>``, and
    nothing else? (Strict: the lenient repairs of ``protocol.parse_reply`` do not count.)

    >>> reply_format_ok('<think>look</think><tool_call>\\n{"name": "view_visual_prompt", "arguments": {}}\\n</tool_call>')
    True
    >>> reply_format_ok("<think>sure</think><answer>B</answer>"), reply_format_ok("<answer>B</answer>")
    (True, False)
    >>> reply_format_ok("<think>x</think><answer>B</answer><answer>C</answer>"), reply_format_ok("<think>x</think>B")
    (False, False)
    """
    m = _REPLY_RE.fullmatch(text)
    if m is None or not m.group("think").strip():
        return False
    action = m.group("action")
    if any(action.count(tag) != (tag in action) for tag in (TOOL_CALL_OPEN, TOOL_CALL_CLOSE, ANSWER_OPEN)):
        return False  # a tag twice
    if THINK_OPEN in action or THINK_CLOSE in action:
        return False
    if action.startswith(TOOL_CALL_OPEN) and action.endswith(TOOL_CALL_CLOSE) and ANSWER_OPEN not in action:
        try:
            call = json.loads(action[len(TOOL_CALL_OPEN):-len(TOOL_CALL_CLOSE)])
        except json.JSONDecodeError:
            return False
        return (isinstance(call, dict) and call.get("name") in TOOL_NAMES
                and isinstance(call.get("arguments", {}), dict))
    return (action.startswith(ANSWER_OPEN) and action.endswith(ANSWER_CLOSE) and TOOL_CALL_OPEN not in action
            and bool(action[len(ANSWER_OPEN):-len(ANSWER_CLOSE)].strip()))


def format_stats(trajectories: list[Any]) -> dict[str, float]:
    """How well-formed a policy's replies are over episodes.

    ``reply_rate``: share of all replies that pass ``reply_format_ok``; ``episode_rate``: share of episodes whose
    every reply passes and which end with an answer; ``answer_rate``: share ending with an ``<answer>``;
    ``accuracy``: share answered correctly.
    """
    replies = [t.text for tr in trajectories for t in tr.turns]
    ok = [reply_format_ok(r) for r in replies]
    n = max(1, len(trajectories))
    return {"episodes": len(trajectories), "replies": len(replies),
            "reply_rate": sum(ok) / max(1, len(ok)),
            "episode_rate": sum(tr.finish_reason == "answer" and all(reply_format_ok(t.text) for t in tr.turns)
                                for tr in trajectories) / n,
            "answer_rate": sum(tr.answer is not None for tr in trajectories) / n,
            "accuracy": sum(bool(tr.correct) for tr in trajectories) / n}


def evaluate_format(model: Any, processor: Any, samples: list[Any], base_dir: str, env_config: EnvConfig | None = None,
                    max_turns: int = 4, max_new_tokens: int = 96,
                    batch_size: int = 8) -> tuple[dict[str, float], list[Any]]:
    """Play ``samples`` greedily with ``HFPolicy`` in the environment; returns (``format_stats``, trajectories)."""
    from seekerlite.policies import EpisodeConfig, HFPolicy, run_episodes

    model.eval()
    policy = HFPolicy(model, processor, max_new_tokens=max_new_tokens, name="sft")
    episodes = EpisodeConfig(env=env_config or EnvConfig(), max_turns=max_turns)
    trajs = run_episodes(policy, samples, episodes, base_dir=base_dir, batch_size=batch_size, progress=False)
    return format_stats(trajs), trajs


def toy_eval_samples(out_dir: str | Path, n_clips: int = 2, seed: int = 1,
                     n: int | None = None) -> tuple[list[Any], str]:
    """Held-out toy samples (a different world seed than training) and their base folder."""
    from seekerlite.schema import load_jsonl
    from seekerlite.synth import ToyWorldConfig, generate_dataset

    path = Path(out_dir) / "samples.jsonl"
    if not path.exists():
        path = generate_dataset(out_dir, n_clips=n_clips, seed=seed, config=ToyWorldConfig(seed=seed))
    samples = load_jsonl(path)
    if n is not None and n < len(samples):
        samples = random.Random(seed).sample(samples, n)
    return samples, str(path.parent)


# ---------------------------------------------------------------------------------------------- command line

def add_sft_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``seekerlite sft`` (shared by ``main_sft`` and the ``seekerlite`` command's sub-parser)."""
    d = SFTRunConfig()
    p.add_argument("--data", default=d.data, help="chat dataset (sft.jsonl); default: toy world + oracle episodes")
    p.add_argument("--model", default=d.model_id, help="base model: a folder, a hub id, or the tiny model (default)")
    p.add_argument("--out", default=d.output_dir, help="output folder")
    p.add_argument("--lora-r", type=int, default=d.lora_r,
                   help="LoRA rank, e.g. 16 for real checkpoints (default: train every weight, for the tiny model)")
    p.add_argument("--no-4bit", action="store_true", help="16-bit LoRA on CUDA instead of QLoRA")
    p.add_argument("--grad-ckpt", action="store_true", help="gradient checkpointing (2B+ on a 16 GB card)")
    p.add_argument("--epochs", type=float, default=d.num_train_epochs)
    p.add_argument("--max-steps", type=int, default=d.max_steps, help="optimizer steps (overrides --epochs)")
    p.add_argument("--batch-size", type=int, default=d.per_device_train_batch_size)
    p.add_argument("--grad-accum", type=int, default=d.gradient_accumulation_steps)
    p.add_argument("--lr", type=float, default=d.learning_rate)
    p.add_argument("--max-length", type=int, default=d.max_length)
    p.add_argument("--toy-clips", type=int, default=d.toy_clips)
    p.add_argument("--save-steps", type=int, default=d.save_steps, help="checkpoint every N steps")
    p.add_argument("--logging-steps", type=int, default=d.logging_steps, help="log the loss every N steps")
    p.add_argument("--resume", nargs="?", const="latest", default=None, help="resume: a checkpoint, or the latest")
    p.add_argument("--no-merge", action="store_true", help="save the adapter only")
    p.add_argument("--seed", type=int, default=d.seed)


def run_sft_cli(a: argparse.Namespace) -> int:
    """Run ``train_sft`` from parsed ``add_sft_arguments`` options and print the summary."""
    cfg = SFTRunConfig(
        model_id=a.model, data=a.data, output_dir=a.out, lora_r=a.lora_r, load_in_4bit=not a.no_4bit,
        gradient_checkpointing=a.grad_ckpt, num_train_epochs=a.epochs, max_steps=a.max_steps,
        per_device_train_batch_size=a.batch_size, gradient_accumulation_steps=a.grad_accum, learning_rate=a.lr,
        max_length=a.max_length, toy_clips=a.toy_clips, save_steps=a.save_steps, logging_steps=a.logging_steps,
        resume_from_checkpoint=a.resume, save_merged=not a.no_merge, seed=a.seed)
    summary = train_sft(cfg)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("trainer", "student")}, indent=1))
    print(f"loss curve: {Path(cfg.output_dir) / 'loss.png'}")
    return 0


def main_sft(argv: list[str] | None = None) -> int:
    """``seekerlite sft [--data sft.jsonl] [--model ID] [--out DIR] ...``: fine-tune the student on chat episodes."""
    p = argparse.ArgumentParser(prog="seekerlite sft", description=main_sft.__doc__)
    add_sft_arguments(p)
    return run_sft_cli(p.parse_args(argv))
