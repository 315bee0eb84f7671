"""Supervised fine-tuning (cold start) on multi-turn tool-use episodes, with TRL's SFTTrainer.

    seekerlite sft --out runs/sft                                   # toy world + oracle episodes, tiny model, CPU
    seekerlite sft --data runs/pipe --model Qwen/Qwen3-VL-2B-Instruct --out runs/sft-2b     # QLoRA on a GPU

The file reads top to bottom: config -> data (``sft.jsonl`` chat episodes, or a toy world played by the oracle)
-> student (``models.load_student``: LoRA / QLoRA, or every weight) -> ``SFTTrainer`` with ``ChatCollator`` (loss
on the assistant's own tokens only; see ``collate.py``) -> saving -> the loss curve.

A run writes into ``output_dir``: ``run.json`` (env, student, data, seed, versions), ``checkpoint-N/``
(resumable), the trained weights (``adapter/`` for LoRA, the model itself at the top for full fine-tuning;
``seekerlite grpo --model <out>`` and ``seekerlite eval --model <out>`` load either), ``loss.json``, ``loss.png``.
Episodes are never cut: ``max_length`` defaults to the longest episode the environment allows.

On a CPU shared with other jobs, set ``OMP_NUM_THREADS=1`` (or ``torch.set_num_threads(1)``): the tiny model gains
little from more threads, and oversubscribed ones made a step ~6x slower on a busy 2-core machine (5.2 s vs 0.85 s).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from seekerlite.config import TINY_PRETRAINED, EnvConfig, StudentConfig, is_tiny, student_preset
from seekerlite.runs import RunInfo, read_run, settle, write_run


PRETRAINED_TINY_REHEARSAL = 1.0  # the shipped base's preset: one pretraining example per episode (train.rehearsal)


@dataclass
class SFTRunConfig:
    """Everything an SFT run needs; the defaults fine-tune the tiny model on toy-world oracle episodes on a CPU."""

    student: StudentConfig = field(default_factory=StudentConfig)  # the model, LoRA and how it is loaded
    env: EnvConfig = field(default_factory=EnvConfig)  # the environment the episodes were played in
    # --- data
    data: str | None = None  # chat dataset (sft.jsonl) or a pipeline run folder; None = a toy world played by the oracle
    toy_clips: int = 8  # clips of the generated toy world (~11 episodes per clip: MC + OE questions)
    toy_seed: int = 0  # seed of the toy training world (evaluate on another seed)
    no_tool_share: float = 0.0  # share of episodes also trained in their no-tool form (opening + "tools are off" + final answer; trajectory.without_tools), seeded: the student then also answers without tools (evaluate with no-tool:RUN)
    rehearsal_share: float = 0.0  # perception-pretraining examples (models.pretrain_tasks) added per episode, so fine-tuning keeps the tiny base's skills (train.rehearsal); 0 = none
    rehearsal_tasks: str = "cell,colour_crop"  # the pretraining tasks rehearsal draws, comma-separated (train.rehearsal.parse_tasks)
    max_length: int | None = None  # longest episode in tokens; longer raises (never cut); None = the longest the env allows (seekerlite.budget)
    # --- optimisation (TRL's SFTConfig names)
    num_train_epochs: float = 5.0  # passes over the data (ignored when max_steps > 0)
    max_steps: int = -1  # optimizer steps; -1 = use num_train_epochs
    per_device_train_batch_size: int = 2  # episodes per forward pass; 1 on a 16 GB card with a 2B model
    gradient_accumulation_steps: int = 1  # forward passes per optimizer step (raise when lowering the batch)
    learning_rate: float = 5e-3  # high for the tiny model; ~1e-4 (LoRA) for real checkpoints
    lr_scheduler_type: str = "cosine"  # "cosine" | "linear" | "constant" ...
    warmup_steps: float = 0.1  # warm-up: a share of all steps if < 1, else a number of steps (0.05 left the tiny model unstable at lr 5e-3)
    weight_decay: float = 0.0  # AdamW weight decay
    gradient_checkpointing: bool = False  # recompute activations in backward (non-reentrant); on by default for real checkpoints
    seed: int = 0  # seeds LoRA init and data order
    # --- bookkeeping
    output_dir: str = "runs/sft"  # run.json, checkpoints, weights, loss.json, loss.png
    logging_steps: int = 5  # log the loss every N steps
    save_steps: int = 100  # checkpoint every N steps (with optimizer/scheduler/RNG state: resumable)
    save_total_limit: int | None = 2  # checkpoints kept on disk
    resume_from_checkpoint: str | None = None  # a checkpoint folder, or "latest" (newest in output_dir, if any)
    save_merged: bool = False  # LoRA runs: also save the adapter merged into its base (a plain model folder) in merged/
    report_to: str = "none"  # experiment tracking, as in TRL: "none" | "tensorboard" | "wandb" | "trackio"

    def __post_init__(self) -> None:  # refused here, before a model loads (TRL would say so after)
        from seekerlite.strictjson import check_ranges

        check_ranges(self, {"toy_clips": (1, 10_000), "no_tool_share": (0, 1), "rehearsal_share": (0, 10), "max_length": (1, None), "num_train_epochs": (0, None),
                            "max_steps": (-1, None), "per_device_train_batch_size": (1, None),
                            "gradient_accumulation_steps": (1, None), "learning_rate": (0, 10), "warmup_steps": (0, None),
                            "weight_decay": (0, None), "logging_steps": (1, None), "save_steps": (1, None),
                            "save_total_limit": (1, None)}, optional=("max_length", "save_total_limit"))
        if self.rehearsal_share > 0:
            from seekerlite.train.rehearsal import parse_tasks

            parse_tasks(self.rehearsal_tasks)
        if self.max_steps == 0 or (self.max_steps < 0 and self.num_train_epochs <= 0):
            raise ValueError(f"SFTRunConfig: max_steps={self.max_steps} with num_train_epochs={self.num_train_epochs} "
                             "trains nothing (want max_steps >= 1, or -1 and num_train_epochs > 0)")

    @classmethod
    def for_model(cls, model_id: str, **kw: Any) -> SFTRunConfig:
        """Defaults that suit `model_id`: the tiny model as above (the pretrained one also rehearses its pretraining,
        ``PRETRAINED_TINY_REHEARSAL``); a real checkpoint gets QLoRA, a small learning
        rate, batch 1 with accumulation and gradient checkpointing (a 16 GB card)."""
        if is_tiny(model_id):
            keep = {"rehearsal_share": PRETRAINED_TINY_REHEARSAL} if model_id == TINY_PRETRAINED else {}
            return cls(**({"student": student_preset(model_id)} | keep | kw))
        from seekerlite.plan import trainer_defaults

        real = {"learning_rate": 1e-4, "gradient_checkpointing": True, "num_train_epochs": 2.0} \
            | trainer_defaults(model_id, "sft")
        return cls(**({"student": student_preset(model_id)} | real | kw))


# ---------------------------------------------------------------------------------------------- data

def make_toy_sft_data(out_dir: str | Path, n_clips: int = 8, seed: int = 0, env: EnvConfig | None = None,
                      progress: bool = False) -> Path:
    """Toy-world samples played by the oracle, saved as a chat dataset: ``out_dir/sft.jsonl`` (+ images/, toy/).

    Returns the path of ``sft.jsonl`` (reused when it already exists).
    """
    from seekerlite.data import load_samples
    from seekerlite.policies import OraclePolicy, run_episodes
    from seekerlite.trajectory import save_chat_dataset

    out = Path(out_dir)
    if (out / "sft.jsonl").exists():
        return out / "sft.jsonl"
    samples, base = load_samples(f"toy:{n_clips}@{seed}", out_dir=out)
    trajs = run_episodes(OraclePolicy(seed=seed), samples, env or EnvConfig(), base_dir=str(base), progress=progress)
    return save_chat_dataset(trajs, out)


def data_file(data: str) -> Path:
    """The chat dataset of `data`: the file itself, or ``sft/sft.jsonl`` of a pipeline run folder."""
    p = Path(data)
    if p.is_dir():
        p = p / "sft" / "sft.jsonl" if (p / "sft" / "sft.jsonl").is_file() else p / "sft.jsonl"
    if not p.is_file():
        raise FileNotFoundError(f"no SFT data at {data} (want a sft.jsonl file or a pipeline run folder)")
    return p


def load_sft_dataset(path: str | Path, no_tool_share: float = 0.0, seed: int = 0) -> Any:
    """A ``datasets.Dataset`` of chat episodes: ``id``, ``messages_json`` (the message list as JSON, image parts
    holding paths) and ``base_dir`` (the folder those paths start from). Images are opened by the collator.

    `no_tool_share`: that share of the episodes that used tools (chosen by `seed` and the episode id) is also added
    in its no-tool form (``trajectory.without_tools``, id ``<id>:no-tool``)."""
    from datasets import Dataset

    from seekerlite.schema import stable_seed
    from seekerlite.trajectory import load_chat_dataset, without_tools

    path = Path(path)
    records = load_chat_dataset(path, load_images=False)
    if not records:
        raise ValueError(f"{path} holds no episodes")
    base = str(path.parent.resolve())
    rows = []
    for i, r in enumerate(records):
        rid = str(r.get("id", i))
        rows.append({"id": rid, "messages_json": json.dumps(r["messages"], ensure_ascii=False), "base_dir": base})
        if no_tool_share > 0 and (stable_seed(seed, rid, "no-tool") % 10_000) / 10_000 < no_tool_share \
                and (direct := without_tools(r["messages"])) is not None:
            rows.append({"id": f"{rid}:no-tool", "messages_json": json.dumps(direct, ensure_ascii=False),
                         "base_dir": base})
    return Dataset.from_list(rows)


def settle_with_data(cfg: SFTRunConfig, explicit: set[str] | None = None, override: bool = False) -> SFTRunConfig:
    """The config with the environment of the run its data came from (``run.json`` of a pipeline run): settings
    not in `explicit` are taken from it, different ones are refused unless `override` (``runs.settle``).
    ``explicit=None`` (a library call): every field counts as given."""
    if cfg.data is None:
        return cfg
    info = read_run(data_file(cfg.data))
    if info is None:
        return cfg
    from seekerlite.cliargs import explicit_in

    given = {f.name for f in fields(EnvConfig)} if explicit is None else explicit_in(explicit, "env")
    return replace(cfg, env=settle(info.env, cfg.env, given, "env", info.path, override))


# ---------------------------------------------------------------------------------------------- student + trainer

def load_sft_student(cfg: SFTRunConfig) -> Any:
    """The student with LoRA (``student.lora_r``) or every weight trainable."""
    from seekerlite.models import load_student

    student = load_student(cfg.student, gradient_checkpointing=cfg.gradient_checkpointing, seed=cfg.seed)
    if cfg.student.lora_r is None and student.model.num_parameters() > 200e6:
        warnings.warn(f"seekerlite: training all {student.model.num_parameters() / 1e9:.1f} B weights needs far more "
                      "memory than LoRA; pass --lora-r 16 on a 16 GB card", stacklevel=2)
    if student.backend == "unsloth":
        from unsloth import FastVisionModel  # lazy: only on CUDA

        FastVisionModel.for_training(student.model)
    return student


def sft_config(cfg: SFTRunConfig, backend: str = "full", **overrides: Any) -> Any:
    """TRL's SFTConfig from ours: our collator does the tokenizing, so TRL's dataset preparation is skipped and
    our columns are kept; CPU when there is no GPU; bf16 only from compute capability 8.0 (else fp16);
    non-reentrant checkpointing (unsloth sets up its own at load time)."""
    import torch
    from trl import SFTConfig

    from seekerlite.models.compat import (
        checkpointing_args,
        device_capability,
        precision_args,
    )

    cuda = torch.cuda.is_available()
    kw: dict[str, Any] = dict(
        output_dir=cfg.output_dir, num_train_epochs=cfg.num_train_epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type, warmup_steps=cfg.warmup_steps, weight_decay=cfg.weight_decay,
        seed=cfg.seed, logging_steps=cfg.logging_steps, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit, report_to=[] if cfg.report_to == "none" else [cfg.report_to],
        disable_tqdm=True, max_length=cfg.max_length, dataset_kwargs={"skip_prepare_dataset": True},
        remove_unused_columns=False, use_cpu=not cuda, dataloader_num_workers=0,
        **precision_args(device_capability() if cuda else None, cfg.student.dtype),
        **checkpointing_args(SFTConfig, cfg.gradient_checkpointing and backend != "unsloth"))
    return SFTConfig(**(kw | overrides))


def resolve_max_length(cfg: SFTRunConfig, processor: Any) -> SFTRunConfig:
    """The config with ``max_length`` derived from the environment's token budget when unset (an explicit one too
    small for the prompt and one tool round is refused, with the numbers); the processor's pixel limit is lowered
    to the environment's frame budget first (``budget.fit_processor``)."""
    from seekerlite.budget import fit_processor, processor_budget, sft_length

    fit_processor(processor, cfg.env)
    return replace(cfg, max_length=sft_length(cfg.max_length, processor_budget(cfg.env, processor)))


def make_trainer(cfg: SFTRunConfig, student: Any, dataset: Any, **overrides: Any) -> Any:
    """TRL's SFTTrainer with ``ChatCollator`` as data collator (TRL's documented path for custom VLM collators)."""
    from trl import SFTTrainer

    from seekerlite.train.collate import ChatCollator

    cfg = resolve_max_length(cfg, student.processor)
    return SFTTrainer(model=student.model, args=sft_config(cfg, student.backend, **overrides), train_dataset=dataset,
                      processing_class=student.processor,
                      data_collator=ChatCollator(student.processor, max_length=cfg.max_length))


def latest_checkpoint(output_dir: str | Path) -> str | None:
    """The newest complete ``checkpoint-N`` folder of a run, or None. The Trainer writes ``trainer_state.json``
    last, so a checkpoint without it was cut short (a kill -9 while saving) and is passed over."""
    cks = sorted((p for p in Path(output_dir).glob("checkpoint-*")
                  if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()),
                 key=lambda p: int(p.name.split("-")[-1]))
    return str(cks[-1]) if cks else None


# ---------------------------------------------------------------------------------------------- the run

def train_sft(cfg: SFTRunConfig, explicit: set[str] | None = None, override: bool = False) -> dict[str, Any]:
    """Run SFT end to end (see the module docstring for what lands in ``output_dir``); returns a summary dict.

    Args:
        cfg: the run.
        explicit: the config fields a user set (command lines); the others may be taken from the data's run.json.
        override: use `cfg`'s settings even where they differ from the data's run.json.
    """
    import matplotlib.pyplot as plt

    from seekerlite.models.loading import import_unsloth_first
    from seekerlite.train.curves import loss_history, plot_loss

    import_unsloth_first(cfg.student)  # before anything imports transformers, when unsloth will be the backend
    from seekerlite.train.progress import (
        LOG_NAME,
        calm_trainer,
        check_report_to,
        quiet_libraries,
    )

    check_report_to(cfg.report_to)
    quiet_libraries(four_bit=cfg.student.load_in_4bit or cfg.student.backend == "bnb-4bit")
    cfg = settle_with_data(cfg, explicit, override)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = data_file(cfg.data) if cfg.data else make_toy_sft_data(out / "data", cfg.toy_clips, cfg.toy_seed, cfg.env)
    dataset = load_sft_dataset(data, cfg.no_tool_share, cfg.seed)
    if (n_rehearsal := round(cfg.rehearsal_share * len(dataset))) > 0:  # the base's own examples (train.rehearsal)
        from datasets import concatenate_datasets

        from seekerlite.train.rehearsal import rehearsal_dataset

        dataset = concatenate_datasets([dataset, rehearsal_dataset(cfg.rehearsal_tasks, n_rehearsal, cfg.seed,
                                                                   out / "rehearsal")])
    student = load_sft_student(cfg)
    weights = "adapter" if cfg.student.lora_r is not None else "."
    write_run(out, RunInfo("sft", env=cfg.env, student=cfg.student, seed=cfg.seed, data=str(data), weights=weights,
                           config=_plain(cfg)))
    trainer = make_trainer(cfg, student, dataset)
    calm_trainer(trainer, "SFT", out / LOG_NAME)  # one progress line; every logged step in train_log.jsonl
    resume = latest_checkpoint(out) if cfg.resume_from_checkpoint == "latest" else cfg.resume_from_checkpoint
    t0 = time.time()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.time() - t0
    history = loss_history(trainer.state.log_history)
    main = trainer.is_world_process_zero()  # under `accelerate launch` only rank 0 writes files
    if main:
        (out / "loss.json").write_text(json.dumps(history, indent=1))
        name = "tiny Qwen3-VL" if cfg.student.is_tiny else Path(cfg.student.model_id).name
        fig = plot_loss(history, title=f"SFT of {name}")
        fig.savefig(out / "loss.png", dpi=100, bbox_inches="tight")
        plt.close(fig)  # saved, not shown (a notebook would otherwise draw it under the training cell)
    saved = save_trained(trainer, student, out, merge=cfg.save_merged)
    losses = history["loss"]
    summary = {"output_dir": str(out), "data": str(data), "episodes": len(dataset), "steps": trainer.state.global_step,
               "seconds": round(seconds, 1), "loss_first": losses[0] if losses else None,
               "loss_last": losses[-1] if losses else None, "backend": student.backend, **saved}
    if main:
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary | {"trainer": trainer, "student": student}


def _plain(cfg: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(cfg), default=str))


def save_trained(trainer: Any, student: Any, out: Path, merge: bool = False) -> dict[str, str]:
    """Save the adapter (``out/adapter``; with ``merge``, also merged into its base in ``out/merged``) or the full
    model (``out``), each with the processor. ``trainer.save_model`` runs on every process (it gathers ZeRO-3
    shards) and writes on rank 0 only; the processor and the merge are written by rank 0. The merge loads the base
    unquantized in the compute dtype on the student's device (``models.loading.merge_adapter``)."""
    from peft import PeftModel

    main = trainer.is_world_process_zero()
    folder = out / "adapter" if isinstance(trainer.model, PeftModel) else out
    trainer.save_model(str(folder))
    if main:
        student.processor.save_pretrained(folder)
    if folder == out:  # full fine-tuning
        return {"model_dir": str(out)}
    saved = {"adapter_dir": str(folder)}
    if merge and main:
        from seekerlite.models.loading import merge_adapter

        merged = merge_adapter(folder, student.config)
        merged.save_pretrained(out / "merged")
        student.processor.save_pretrained(out / "merged")
        saved["merged_dir"] = str(out / "merged")
    return saved


# ---------------------------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    """``seekerlite sft`` flags: every field of SFTRunConfig (and its env and student), plus --override."""
    from seekerlite.cliargs import add_config_arguments

    p = argparse.ArgumentParser(prog="seekerlite sft", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p, SFTRunConfig)
    p.add_argument("--override", action="store_true", dest="_override",
                   help="use the settings given here even where they differ from the data's run.json")
    return p


def config_from_argv(argv: list[str] | None = None) -> tuple[SFTRunConfig, set[str], bool]:
    """(config, explicit fields, override) from a command line: defaults for the model named by --model."""
    from seekerlite.cliargs import config_from_args

    args = build_parser().parse_args(argv)
    override = args.__dict__.pop("_override", False)
    model = getattr(args, "student.model_id", StudentConfig().model_id)
    cfg, explicit = config_from_args(SFTRunConfig, args, base=SFTRunConfig.for_model(model))
    return cfg, explicit, override


def main_sft(argv: list[str] | None = None) -> int:
    """``seekerlite sft [--data sft.jsonl|RUN] [--model ID] [--out DIR] ...``: fine-tune the student on episodes."""
    from seekerlite.runlock import RunLock

    cfg, explicit, override = config_from_argv(argv)
    with RunLock(cfg.output_dir):  # a second process on this folder is refused (it would mix checkpoints)
        summary = train_sft(cfg, explicit, override)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("trainer", "student")}, indent=1))
    print(f"loss curve: {Path(cfg.output_dir) / 'loss.png'}")
    return 0
