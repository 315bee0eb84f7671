"""python benchmarks/position_probe.py [--steps 600] [--seeds 0 1] [--out benchmarks/results/position_probe.md]

Can the embedded student learn *where* things are (issue 12: choosing a crop's cell is its bottleneck)? Starting
from the shipped pretrained base, it is fine-tuned on one task for ``--steps`` steps (batch 16, AdamW, lr 1e-3 after
30 warm-up steps, the shared-drift correction of pretraining on) and the held-out accuracy is read every 100 steps:

- ``solo``: one red square on a blank frame, "which cell of the 3x3 grid holds the object" (position read-out alone);
- ``cell``: the pretraining task, the cell holding the *marked* object among the clip's objects.

Each with the vision tower's position table as shipped (learned from random init) or replaced by a fixed 2D
sinusoid first (``pretrain.sinusoid_positions``). ~90 s a run on one thread of the 2-core build machine.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from env_latency import machine

import seekerlite.models.pretrain_tasks as tasks
from seekerlite.regions import CELL_NAMES, cell_of_box


def solo(clip, rng: np.random.Generator):
    """One red square on the toy world's background, away from the cell borders; its cell is the answer."""
    H, W = 240, 320
    img = np.full((H, W, 3), 40, np.uint8)
    s = int(rng.integers(12, 22))
    x, y = int(rng.integers(s, W - s)), int(rng.integers(s, H - s))
    if min(abs(x - W * k / 3) for k in (1, 2)) < 8 or min(abs(y - H * k / 3) for k in (1, 2)) < 8:
        return None
    img[y - s:y + s, x - s:x + s] = (230, 40, 40)
    cell = cell_of_box([x - s, y - s, x + s, y + s], W, H)
    q = tasks._question(f"Which cell of the 3x3 grid holds the object ({', '.join(CELL_NAMES)})?")
    return tasks.Example("solo", [tasks._user(clip, Image.fromarray(img), 0, q), tasks._reply(cell)], cell)


def run(task: str, positions: str, seed: int, steps: int, lr: float = 1e-3) -> list[tuple[int, float]]:
    """[(step, held-out accuracy)] of one fine-tuning run; step 0 is the start."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    from seekerlite.models.pretrain import (PretrainConfig, PretrainStream, answer_loss, evaluate_held_out,
                                            held_out_set, recenter_rows, sinusoid_positions)
    from seekerlite.models.pretrain_weights import ensure_pretrained_tiny_model

    tasks.PRETRAIN_TASKS.setdefault("solo", solo)  # registered here, not at import: tests import this module
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    path = ensure_pretrained_tiny_model()
    processor = AutoProcessor.from_pretrained(path)
    model = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    if positions == "sinusoid":
        sinusoid_positions(model)
    model.train()
    held = held_out_set(processor, [task], 128)
    curve = [(0, evaluate_held_out(model, held)[task])]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    rows = model.get_input_embeddings().weight
    init_mean = rows.detach().mean(0).clone()
    stream = PretrainStream(PretrainConfig(stages=f"{task}:{steps}", short_share_first=0.5, seed=7 + seed), processor)
    for step, batch in enumerate(DataLoader(stream, batch_size=None, num_workers=1, prefetch_factor=4)):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 30)
        loss, _ = answer_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        recenter_rows(rows, init_mean)
        if (step + 1) % 100 == 0:
            curve.append((step + 1, evaluate_held_out(model, held)[task]))
    return curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--tasks", nargs="+", default=["solo", "cell"])
    ap.add_argument("--out", default="benchmarks/results/position_probe.md")
    a = ap.parse_args()
    t0, lines = time.time(), []
    for task in a.tasks:
        for positions in ("learned", "sinusoid"):
            for seed in a.seeds:
                curve = run(task, positions, seed, a.steps)
                lines.append(f"| {task} | {positions} | {seed} | " + " ".join(f"{acc:.2f}" for _, acc in curve) + " |")
                print(lines[-1], f"({time.time() - t0:.0f} s)", flush=True)
    steps = " ".join(str(s) for s in range(0, a.steps + 1, 100))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join([
        "# Can the tiny student learn where things are? (position probe)", "",
        f"Command: `python benchmarks/position_probe.py --steps {a.steps} --seeds {' '.join(map(str, a.seeds))}`", "",
        f"Machine: {machine()}. Date: {now}. Wall time {time.time() - t0:.0f} s.", "",
        "Fine-tuning the shipped pretrained base on one task; held-out accuracy (128 examples, exact match of the "
        f"answer) at steps {steps}. 9 cells; a constant answer scores ~0.15-0.2.", "",
        "| task | position table | seed | held-out accuracy by step |", "|---|---|---|---|", *lines, ""])
    Path(a.out).write_text(text)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
