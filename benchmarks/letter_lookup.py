"""Can the shipped tiny base learn the MC option-letter lookup, and keep what it sees? (a continuation screen)

    .venv/bin/python benchmarks/letter_lookup.py STEPS LR BATCH SHARE [NEW_TASKS]
    .venv/bin/python benchmarks/letter_lookup.py 1500 1e-3 16 0.5            # run A (benchmarks/results/letter_lookup.md)
    .venv/bin/python benchmarks/letter_lookup.py 2000 2e-3 16 0.7            # run B

Continues the shipped `tiny-pretrained` weights for STEPS steps of BATCH examples: a SHARE of them from NEW_TASKS
(default `letter_text`: the `letter` task without its image, ~10x cheaper a step), the rest replaying every task of
the shipped curriculum (`PretrainConfig().stages`), with the pretraining loop's optimiser, re-centring and position
keeper (linear warm-up over 50 steps, the last 15 % decaying to 10 %). Prints held-out accuracy per task (the
pretraining held-out set, `pretrain_data.held_out_set`) before and every 250 steps. One training thread plus one
data worker; ~4-7 min on 2 cores.
"""
import argparse
import json
import time
from dataclasses import replace

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset
from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

from seekerlite.models.positions import PositionKeeper
from seekerlite.models.pretrain import (
    PretrainConfig,
    answer_loss,
    evaluate_held_out,
    learning_rate_at,
    recenter_rows,
)
from seekerlite.models.pretrain_data import PretrainCollator, draw_example, held_out_set
from seekerlite.models.pretrain_tasks import pretrain_seed
from seekerlite.models.pretrain_weights import ensure_pretrained_tiny_model

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("steps", type=int, help="training steps")
ap.add_argument("lr", type=float, help="AdamW peak learning rate")
ap.add_argument("batch", type=int, help="examples per step")
ap.add_argument("share", type=float, help="share of the examples drawn from NEW_TASKS (the rest replays)")
ap.add_argument("new_tasks", nargs="?", default="letter_text", help="tasks to add, '+'-separated")
args = ap.parse_args()
steps, lr, bs, share, new = args.steps, args.lr, args.batch, args.share, args.new_tasks.split("+")
if steps < 1 or bs < 1 or not 0 <= share <= 1:
    ap.error("steps and batch must be >= 1 and 0 <= share <= 1")
# the shipped curriculum's schedule (warm-up, decay) at this run's peak lr; its stages are what is replayed
cfg = replace(PretrainConfig(), learning_rate=lr, stages=f"{args.new_tasks}:{steps}")
try:
    cfg.parsed_stages()  # checks NEW_TASKS names
except ValueError as e:
    ap.error(f"new_tasks: {e}")
old = [t for tasks, _ in PretrainConfig().parsed_stages() for t in tasks]
torch.set_num_threads(1); torch.manual_seed(0)
d = ensure_pretrained_tiny_model()
proc = AutoProcessor.from_pretrained(d)
model = Qwen3VLForConditionalGeneration.from_pretrained(d, dtype=torch.float32)
evtasks = ["letter", "letter_text", "colour_mc", "colour_crop", "colour", "shape", "cell", "crop_read", "colour_at"]
held = held_out_set(proc, evtasks, 128)
print("before", json.dumps({k: round(v, 3) for k, v in evaluate_held_out(model, held).items()}), flush=True)

class S(IterableDataset):
    def __iter__(self):
        from seekerlite.toyworld import ToyWorldConfig, generate_clip
        torch.set_num_threads(1)
        col = PretrainCollator(proc); world = ToyWorldConfig(); n = 7_000_000
        clips = [generate_clip(world, pretrain_seed("train", n + i)) for i in range(6)]; n += 6
        for step in range(steps):
            rng = np.random.default_rng([7, step])
            yield col([draw_example(clips, new if rng.random() < share else old, rng, cfg.short_share) for _ in range(bs)])
            if (step + 1) % 3 == 0:
                clips[n % 6] = generate_clip(world, pretrain_seed("train", n)); n += 1

keeper = PositionKeeper(model, 1.0)
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
rows = model.get_input_embeddings().weight; init_mean = rows.detach().mean(0).clone()
t0 = time.time(); model.train(); rl, nl = 0.0, 0
for s, b in enumerate(DataLoader(S(), batch_size=None, num_workers=1, prefetch_factor=4)):
    for g in opt.param_groups:
        g["lr"] = learning_rate_at(cfg, s, steps)
    loss, ex = answer_loss(model, b)
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step()
    recenter_rows(rows, init_mean); keeper.step(); rl += loss.item(); nl += 1
    if (s + 1) % 250 == 0 or s + 1 == steps:
        acc = evaluate_held_out(model, held)
        print(s + 1, f"{time.time()-t0:.0f}s loss {rl/nl:.3f}", json.dumps({k: round(v, 3) for k, v in acc.items() if "/" not in k or k.startswith("colour_mc")}), flush=True); rl, nl = 0.0, 0
