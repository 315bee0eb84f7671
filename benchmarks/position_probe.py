"""python benchmarks/position_probe.py [--steps 600] [--seeds 0 1] [--tasks solo cell] [--positions learned kept]
                                     [--scale 1] [--out benchmarks/results/position_probe.md]

Can the embedded student learn *where* things are (issue 12: choosing a crop's cell is its bottleneck)? Two probes
of a pretrained base (``--base``, default: the shipped one):

1. ``token_probe``: can a linear read-out tell which of the 12 token places a merged vision token comes from?
2. ``run``: the base fine-tuned on one task for ``--steps`` steps (batch 16, AdamW, lr 1e-3 after 30 warm-up steps,
   the shared-drift correction of pretraining on), held-out accuracy read every 100 steps, on
   - ``solo``: one red square on a blank frame, "which cell of the 3x3 grid holds the object" (position read-out);
   - ``cell``: the pretraining task, the cell holding the *marked* object among the clip's objects.

Each with the vision tower's position table as the base has it (``learned``), replaced by a fixed 2D sinusoid times
``--scale`` (``sinusoid``, ``models.positions.sinusoid_positions``), or held at ``--scale`` x the patch features'
norm during fine-tuning (``kept``, ``models.positions.PositionKeeper``, what ``PretrainConfig.position_code =
"sinusoid"`` does in pretraining). ~100 s a fine-tuning run on one thread of the 2-core build machine. The
results in benchmarks/results/position_probe.md were measured on the base pretrained with a learned table (the
earlier shipped weights, sha256 1631ade2f6..., ``seekerlite/models/weights/`` at commit 3c3a818; re-derive it
with ``seekerlite build-tiny-model --pretrain --position-code learned --stages colour_crop:300,colour:300,letter:200,
shape_crop:200,shape:150,cell:200,colour_at+crop_read:350,colour_mc:300 --out runs/pretrain-learned`` and pass
``--base runs/pretrain-learned/model``); the token probe's last row is the shipped base, whose table is kept.
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


def load_base(positions: str, scale: float, base: str | None) -> tuple:
    """(processor, model, keeper) of the base (default: the shipped one) with its position table as `positions`
    says: the base's own ("learned"), a fixed sinusoid x `scale` ("sinusoid"), or held at `scale` x the patch
    features' norm by a ``PositionKeeper`` ("kept"; the keeper is returned, else None)."""
    import torch
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    from seekerlite.models.positions import PositionKeeper, sinusoid_positions
    from seekerlite.models.pretrain_weights import ensure_pretrained_tiny_model

    path = base or ensure_pretrained_tiny_model()
    processor = AutoProcessor.from_pretrained(path)
    model = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    if positions == "sinusoid":
        sinusoid_positions(model, scale=scale)
    return processor, model, PositionKeeper(model, ratio=scale) if positions == "kept" else None


def token_probe(positions: str, scale: float = 1.0, n_images: int = 300, seed: int = 0, base: str | None = None
                ) -> tuple[float, float]:
    """(held-out accuracy, norm ratio) of a linear probe that reads a merged vision token's place (which of the 12
    slots of the 4x3 token grid a 320x240 frame becomes) from the base's vision-tower output; chance 1/12. Frames:
    three squares of random colour, size and place on the toy background; 80 % of the images train the probe
    (full-batch Adam on standardised features), the rest score it. The ratio: the position table's mean row norm
    over the patch features' mean row norm on these frames (what the vision blocks see added together)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    processor, model, keeper = load_base(positions, scale, base)
    model.eval()
    images = []
    for _ in range(n_images):
        img = np.full((240, 320, 3), 40, np.uint8)
        for _ in range(3):
            s, x, y = int(rng.integers(8, 24)), int(rng.integers(0, 320)), int(rng.integers(0, 240))
            img[max(0, y - s):y + s, max(0, x - s):x + s] = rng.integers(0, 256, 3)
        images.append(Image.fromarray(img))
    px = processor.image_processor(images=images, return_tensors="pt")
    patch: list[float] = []
    hook = model.model.visual.patch_embed.register_forward_hook(
        lambda m, a, out: patch.append(float(out.detach().norm(dim=-1).mean())))
    with torch.no_grad():
        for _ in range(2 if keeper else 1):  # with the keeper: the first pass measures the patch features
            feats = model.model.visual(px["pixel_values"], grid_thw=px["image_grid_thw"]).pooler_output
            if keeper:
                keeper.step()
    hook.remove()
    ratio = float(model.model.visual.pos_embed.weight.detach().norm(dim=1).mean()) / patch[-1]
    slots = int(feats.shape[0] // n_images)
    labels = torch.arange(slots).repeat(n_images)
    cut = int(0.8 * n_images) * slots
    mu, sd = feats[:cut].mean(0), feats[:cut].std(0) + 1e-6
    x = (feats - mu) / sd
    probe = torch.nn.Linear(x.shape[1], slots)
    opt = torch.optim.Adam(probe.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(500):
        loss = torch.nn.functional.cross_entropy(probe(x[:cut]), labels[:cut])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((probe(x[cut:]).argmax(1) == labels[cut:]).float().mean()), ratio


def run(task: str, positions: str, seed: int, steps: int, lr: float = 1e-3, scale: float = 1.0,
        base: str | None = None) -> list[tuple[int, float]]:
    """[(step, held-out accuracy)] of one fine-tuning run; step 0 is the start."""
    import torch
    from torch.utils.data import DataLoader

    from seekerlite.models.pretrain import (PretrainConfig, PretrainStream, answer_loss, evaluate_held_out,
                                            held_out_set, recenter_rows)

    tasks.PRETRAIN_TASKS.setdefault("solo", solo)  # registered here, not at import: tests import this module
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    processor, model, keeper = load_base(positions, scale, base)
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
        if keeper is not None:
            keeper.step()
        if (step + 1) % 100 == 0:
            curve.append((step + 1, evaluate_held_out(model, held)[task]))
    return curve


def base_name(base: str | None) -> str:
    """The base the probe fine-tunes, with the sha256 of its weights (the shipped file's, or the folder's)."""
    from seekerlite.models.pretrain_weights import WEIGHTS_DIR, WEIGHTS_FILE, sha256_file

    if base is None:
        return f"the shipped pretrained base (sha256 {sha256_file(WEIGHTS_DIR / WEIGHTS_FILE)[:12]})"
    files = sorted(Path(base).glob("*.safetensors"))
    return f"`{base}` (sha256 {sha256_file(files[0])[:12] if files else '?'})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--tasks", nargs="+", default=["solo", "cell"])
    ap.add_argument("--positions", nargs="+", default=["learned", "kept"], choices=["learned", "sinusoid", "kept"])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="sinusoid: the code's scale (positions.sinusoid_positions); kept: PositionKeeper's ratio")
    ap.add_argument("--base", default=None,
                    help="the base model folder (default: the shipped pretrained base); e.g. the model/ of "
                         "`seekerlite build-tiny-model --pretrain --position-code learned --out DIR`")
    ap.add_argument("--out", default="benchmarks/results/position_probe.md")
    a = ap.parse_args()
    t0, probes, lines = time.time(), [], []
    label = {"learned": "the base's own (learned or kept)", "sinusoid": f"sinusoid x{a.scale:g}",
             "kept": f"sinusoid at {a.scale:g} x the patch norm (PositionKeeper)"}
    runs = [(p, a.base, label[p]) for p in dict.fromkeys(["learned", "sinusoid", "kept"] + a.positions)]
    if a.base:  # the shipped base as it is, for reference
        runs.append(("learned", None, "the shipped base's own (reference)"))
    for positions, base, name in runs:
        acc, ratio = token_probe(positions, a.scale, base=base)
        probes.append(f"| {name} | {acc:.2f} | 1 : {1 / ratio:.0f} |" if ratio < 1 else
                      f"| {name} | {acc:.2f} | {ratio:.2f} : 1 |")
        print(probes[-1], f"({time.time() - t0:.0f} s)", flush=True)
    for task in a.tasks:
        for positions in a.positions:
            for seed in a.seeds:
                curve = run(task, positions, seed, a.steps, scale=a.scale, base=a.base)
                lines.append(f"| {task} | {label[positions]} | {seed} | "
                             + " ".join(f"{acc:.2f}" for _, acc in curve) + " |")
                print(lines[-1], f"({time.time() - t0:.0f} s)", flush=True)
    steps = " ".join(str(s) for s in range(0, a.steps + 1, 100))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join([
        "# Can the tiny student learn where things are? (position probe)", "",
        f"Command: `python benchmarks/position_probe.py --steps {a.steps} --seeds {' '.join(map(str, a.seeds))} "
        f"--tasks {' '.join(a.tasks)} --positions {' '.join(a.positions)} --scale {a.scale:g}"
        + (f" --base {a.base}`" if a.base else "`"), "",
        f"Base: {base_name(a.base)}.", "",
        f"Machine: {machine()}. Date: {now}. Wall time {time.time() - t0:.0f} s.", "",
        "## Does the vision tower's output say where a token is?", "",
        "A linear probe reads each merged vision token's slot (12 places) from the base's vision output "
        "(`token_probe`: 300 frames of three random squares, 240 train the probe, 60 score it); chance 0.08. "
        "*position : patch features*: the table's mean row norm against the patch features' on those frames.", "",
        "| position table | probe accuracy | position : patch features |", "|---|---|---|", *probes, "",
        "## Can fine-tuning teach the answer?", "",
        "Fine-tuning the base on one task; held-out accuracy (128 examples, exact match of the "
        f"answer) at steps {steps}. 9 cells; a constant answer scores ~0.15-0.2.", "",
        "| task | position table | seed | held-out accuracy by step |", "|---|---|---|---|", *lines, ""])
    Path(a.out).write_text(text)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
