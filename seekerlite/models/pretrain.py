"""Perception pretraining of the embedded tiny student: a curriculum of toy-world questions, answer tokens only.

    seekerlite build-tiny-model --pretrain --out runs/pretrain          # ~20 min on 2 cores
    seekerlite build-tiny-model --pretrain --ship                       # and copy the weights into the package

A random-init 1.2 M-parameter Qwen3-VL learns nothing from a uniform mix of perception tasks (it stays at chance:
an object is 1-2 of a frame's 12 visual tokens), but it does learn one task whose examples are half
object-centred crops. So ``pretrain`` runs *stages* (``PretrainConfig.stages``): colour on object-centred crops
first (short prompts), then colour on crops and full frames, then each stage adds tasks
(``pretrain_tasks.PRETRAIN_TASKS``) while ``new_task_share`` of its examples (or the stage's own ``@SHARE``) are
the new tasks and the rest replays the earlier ones; the last two teach where the mark is, first with the marked
object alone on its frame (``cell_alone``), each with most of its stage's batches (at half, ``cell`` stayed at
the majority answer). After every ``eval_every`` steps and at each stage's end, per-task accuracy is measured on a
fixed held-out set (clips of seeds no evaluation world uses). Accuracy is teacher-forced exact match of the answer
tokens, which is what greedy decoding would write after ``<answer>``.
The vision tower's position table is a fixed sinusoid held at the patch features' scale (``position_code``,
``models.positions.PositionKeeper``): trained from random init it fell ~140x behind the patch features and the
tower's output stopped saying where anything is.

The examples are chats in the episodes' layout, rendered with the tiny processor's own chat template and image
processor (``PretrainCollator``: the template text is tokenized once per distinct text, images are expanded to
their patch tokens as the processor does; ``tests/test_pretrain.py`` checks the ids match the processor's).
Examples are generated in one background worker while the main process trains on one thread.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seekerlite.models.pretrain_data import (  # noqa: F401 - re-exported: the data side lives there
    IGNORE_INDEX,
    PretrainCollator,
    PretrainStream,
    draw_example,
    held_out_set,
    stage_tasks,
)
from seekerlite.models.positions import PositionKeeper, sinusoid_positions  # noqa: F401 - re-exported
from seekerlite.models.pretrain_tasks import PRETRAIN_TASKS

POSITION_CODES = ("learned", "sinusoid")


@dataclass
class PretrainConfig:
    """The perception-pretraining curriculum and its optimiser (defaults: the shipped weights' recipe)."""

    stages: str = "colour_crop:300,colour:300,letter:200,shape_crop:200,shape:150,colour_at+crop_read:350,colour_mc:300,cell_alone:600@0.9,cell:600@0.75"  # tasks added per stage and its steps (@SHARE: that stage's new_task_share), comma-separated
    new_task_share: float = 0.5  # share of a stage's examples drawn from the tasks it adds (the rest replays earlier ones)
    learning_rate: float = 3e-3  # AdamW peak learning rate
    center_embeddings: bool = True  # after every step, take the rows' shared drift back out of the tied vocabulary (see recenter_rows)
    warmup_steps: int = 50  # linear warm-up steps
    decay_share: float = 0.15  # final share of all steps over which the learning rate decays linearly to 10 %
    per_device_train_batch_size: int = 16  # examples per step
    short_share_first: float = 1.0  # share of short-prompt examples in the first stage (pretrain_tasks.shorten)
    short_share: float = 0.5  # share of short-prompt examples in the later stages (the rest: the episodes' layout)
    eval_per_task: int = 128  # held-out examples per task
    eval_every: int = 250  # steps between held-out evaluations (also at the end of every stage)
    clip_pool: int = 6  # toy clips examples are drawn from at a time
    clip_every: int = 3  # batches between replacing one clip of the pool with a new one
    position_code: str = "sinusoid"  # the vision tower's position table: "learned" (random init, trained) or "sinusoid" (fixed, kept at position_ratio x the patch features' norm; models.positions)
    position_ratio: float = 1.0  # with position_code "sinusoid": the table's row norm over the patch features' mean row norm
    seed: int = 0  # seeds the initial weights (the random tiny model of this seed), the data and the order
    threads: int = 1  # torch threads of the training process (the data worker uses one more core)

    def parsed_stages(self) -> list[tuple[list[str], int]]:
        """[(tasks added, steps)] of ``stages``; ValueError naming the field on a bad spec."""
        return [(tasks, steps) for tasks, steps, _ in self._stage_specs()]

    def stage_shares(self) -> list[float]:
        """Per stage, the share of its examples drawn from the tasks it adds: a stage's ``@SHARE`` suffix, else
        ``new_task_share``."""
        return [share for _, _, share in self._stage_specs()]

    def _stage_specs(self) -> list[tuple[list[str], int, float]]:
        out = []
        for part in self.stages.split(","):
            names, _, rest = part.strip().rpartition(":")
            steps, _, share = rest.partition("@")
            tasks = [t.strip() for t in names.split("+") if t.strip()]
            bad = [t for t in tasks if t not in PRETRAIN_TASKS]
            try:
                value = float(share) if share.strip() else self.new_task_share
            except ValueError:
                value = -1.0
            if not tasks or bad or not steps.strip().isdigit() or int(steps) < 1 or not 0 < value <= 1:
                raise ValueError(f"PretrainConfig.stages: {part!r} is not TASK[+TASK]:STEPS[@SHARE] with tasks from "
                                 f"{list(PRETRAIN_TASKS)} and 0 < SHARE <= 1")
            out.append((tasks, int(steps), value))
        if self.position_code not in POSITION_CODES:
            raise ValueError(f"PretrainConfig.position_code: {self.position_code!r} is not one of {POSITION_CODES}")
        return out


def answer_loss(model: Any, batch: dict[str, Any]) -> tuple[Any, Any]:
    """(mean cross-entropy over answer tokens, per-example exact match (B,) bool) of one batch."""
    import torch
    import torch.nn.functional as F

    inputs = ("input_ids", "attention_mask", "pixel_values", "image_grid_thw", "mm_token_type_ids")
    hidden = model.model(**{k: batch[k] for k in inputs if k in batch}).last_hidden_state  # (B, T, H)
    labels = batch["labels"][:, 1:]  # token t+1 is predicted at position t
    keep = labels != IGNORE_INDEX  # (B, T-1): only the answer tokens go through the LM head (~2 % of tokens)
    logits = model.lm_head(hidden[:, :-1][keep])  # (N, V)
    target = labels[keep]
    loss = F.cross_entropy(logits.float(), target)
    with torch.no_grad():
        wrong = torch.zeros_like(labels, dtype=torch.bool)
        wrong[keep] = logits.argmax(-1) != target
        exact = ~wrong.any(1)
    return loss, exact


def evaluate_held_out(model: Any, batches: list[dict[str, Any]]) -> dict[str, float]:
    """Per-task accuracy (exact match of the answer tokens) on collated held-out batches, and per task and view
    (``"colour/full"``, ``"colour/crop"``) for tasks that mix full frames and crops."""
    import torch

    right: dict[str, list[bool]] = {}
    model.eval()
    with torch.no_grad():
        for b in batches:
            _, exact = answer_loss(model, b)
            for t, v, ok in zip(b["tasks"], b["views"], exact.tolist(), strict=True):
                right.setdefault(t, []).append(ok)
                right.setdefault(f"{t}/{v}", []).append(ok)
    model.train()
    views = {t.split("/")[0]: 0 for t in right if "/" in t}
    for t in list(views):
        views[t] = sum(k.startswith(t + "/") for k in right)
    return {t: float(np.mean(v)) for t, v in right.items() if "/" not in t or views[t.split("/")[0]] > 1}


def chance_levels(batches: list[dict[str, Any]]) -> dict[str, float]:
    """Per task: the share of the held-out set's most common answer (the best a constant guess scores)."""
    from collections import Counter

    answers: dict[str, list[str]] = {}
    for b in batches:
        for t, a in zip(b["tasks"], b["answers"], strict=True):
            answers.setdefault(t, []).append(a)
    return {t: Counter(a).most_common(1)[0][1] / len(a) for t, a in answers.items()}


def recenter_rows(rows: Any, init_mean: Any) -> None:
    """Remove the vocabulary's shared drift: ``rows -= rows.mean(0) - init_mean``, in place.

    Answer-only cross-entropy pushes every non-target row of the tied embedding down along the same hidden
    direction, and AdamW turns even those tiny gradients into ~lr-sized steps, so after the curriculum every row
    had moved ~10x its init norm, almost all of it one shared vector (measured: 2.45 shared, 0.29 per-row). Adding
    one vector to every output row changes no softmax, but as *inputs* the rows then all look alike, and SFT could
    not learn the tool-call grammar (repeated ``<tool_call>``). Subtracting it keeps the outputs and the inputs
    distinct."""
    import torch

    with torch.no_grad():
        rows -= rows.mean(0) - init_mean


def vision_norms(model: Any) -> dict[str, float]:
    """Mean row norms of the vision tower's patch-embedding weight and of its position table: if the first grows
    far past the second, the tower's output stops carrying *where* (models.positions)."""
    visual = model.model.visual
    return {"patch_weight_norm": float(visual.patch_embed.proj.weight.detach().flatten(1).norm(dim=1).mean()),
            "position_norm": float(visual.pos_embed.weight.detach().norm(dim=1).mean())}


def learning_rate_at(cfg: PretrainConfig, step: int, total: int) -> float:
    """Linear warm-up, constant, then a linear decay to 10 % over the last ``decay_share`` of the steps.

    >>> cfg = PretrainConfig(learning_rate=1.0, warmup_steps=10, decay_share=0.5)
    >>> [round(learning_rate_at(cfg, s, 100), 2) for s in (0, 9, 50, 99)]
    [0.1, 1.0, 1.0, 0.12]
    """
    warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    decay_from = total * (1 - cfg.decay_share)
    tail = 1.0 if step < decay_from else 1.0 - 0.9 * (step - decay_from) / max(1.0, total - decay_from)
    return cfg.learning_rate * warm * tail


def pretrain(cfg: PretrainConfig, out_dir: str | Path, log_every: int = 25) -> dict[str, Any]:
    """Run the curriculum from the random tiny model of ``cfg.seed``; write ``out_dir/model`` (a loadable model
    folder), ``pretrain_log.json`` (config, loss and held-out accuracy curves, wall time) and
    ``pretrain_curves.png``. Returns the log."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration
    from transformers.utils import logging as hf_logging

    from seekerlite.models.tiny import build_tiny_model

    stages = cfg.parsed_stages()
    total = sum(s for _, s in stages)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    base = build_tiny_model(seed=cfg.seed)
    processor = AutoProcessor.from_pretrained(base)
    model = Qwen3VLForConditionalGeneration.from_pretrained(base, dtype=torch.float32)
    model.train()
    keeper = PositionKeeper(model, cfg.position_ratio) if cfg.position_code == "sinusoid" else None
    all_tasks = [t for tasks, _ in stages for t in tasks]
    t_start, cpu_start, load_start = time.time(), time.process_time(), os.getloadavg()[0]
    held = held_out_set(processor, all_tasks, cfg.eval_per_task, short=tuple(stages[0][0]))
    log: dict[str, Any] = {"config": asdict(cfg), "stages": [{"tasks": t, "steps": s} for t, s in stages],
                           "chance": chance_levels(held), "train": [], "eval": []}
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, betas=(0.9, 0.95), weight_decay=0.01)
    rows = model.get_input_embeddings().weight  # tied: also the LM head
    init_mean = rows.detach().mean(0).clone()
    loader = DataLoader(PretrainStream(cfg, processor), batch_size=None, num_workers=1, prefetch_factor=4,
                        persistent_workers=False)
    ends = set(np.cumsum([s for _, s in stages]).tolist())
    run_loss, run_acc, seen = 0.0, 0.0, 0
    for step, batch in enumerate(loader):
        for group in opt.param_groups:
            group["lr"] = learning_rate_at(cfg, step, total)
        loss, exact = answer_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if cfg.center_embeddings:
            recenter_rows(rows, init_mean)
        if keeper is not None:
            keeper.step()
        run_loss, run_acc, seen = run_loss + loss.item(), run_acc + float(exact.float().mean()), seen + 1
        done = step + 1
        if done % log_every == 0 or done in ends:
            log["train"].append({"step": done, "loss": run_loss / seen, "accuracy": run_acc / seen,
                                 "lr": learning_rate_at(cfg, step, total), "seconds": time.time() - t_start})
            run_loss, run_acc, seen = 0.0, 0.0, 0
        if done % cfg.eval_every == 0 or done in ends:
            acc = evaluate_held_out(model, held)
            stage = stage_tasks(stages, step)[0]
            log["eval"].append({"step": done, "stage": stage, "seconds": time.time() - t_start, "accuracy": acc,
                                **vision_norms(model)})
            print(f"step {done}/{total} stage {stage} loss {log['train'][-1]['loss']:.3f} "
                  + " ".join(f"{t} {a:.2f}" for t, a in acc.items()) + f" ({time.time() - t_start:.0f} s)",
                  flush=True)
    if keeper is not None:
        keeper.close()
    log["wall_seconds"] = time.time() - t_start
    log["cpu_seconds_main"] = time.process_time() - cpu_start  # the training process (not its data worker)
    log["load_average"] = {"start": load_start, "end": os.getloadavg()[0]}  # > cores: the CPU was shared
    log["final_accuracy"] = log["eval"][-1]["accuracy"]
    log["versions"] = {"torch": torch.__version__, "transformers": __import__("transformers").__version__}
    model.eval()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out / "model")
        processor.save_pretrained(out / "model")
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    (out / "pretrain_log.json").write_text(json.dumps(log, indent=1))
    plot_curves(log, out / "pretrain_curves.png")
    return log


def plot_curves(log: dict[str, Any], path: str | Path) -> Path:
    """Loss (left) and per-task held-out accuracy with chance levels (right) against step, stage ends dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    tr = log["train"]
    a.plot([r["step"] for r in tr], [r["loss"] for r in tr], color="k")
    a.set(xlabel="step", ylabel="answer-token cross-entropy", title="training loss", yscale="log")
    for k, task in enumerate(log["chance"]):
        pts = [(e["step"], e["accuracy"][task]) for e in log["eval"]]
        line, = b.plot(*zip(*pts), marker="o", ms=3, label=task, color=f"C{k}")
        b.axhline(log["chance"][task], color=line.get_color(), ls=":", lw=0.8)
    end = 0
    for s in log["stages"][:-1]:
        end += s["steps"]
        for ax in (a, b):
            ax.axvline(end, color="grey", ls="--", lw=0.7)
    b.set(xlabel="step", ylabel="held-out accuracy", ylim=(0, 1.02),
          title="held-out accuracy per task (dotted: most common answer)")
    b.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
