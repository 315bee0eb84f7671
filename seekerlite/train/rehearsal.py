"""Rehearsal: perception-pretraining examples mixed into SFT, so a few hundred episodes do not erase what the base
learned to see.

    rows = rehearsal_rows(["cell", "colour_crop"], n=100, seed=0, out_dir=Path("runs/sft/rehearsal"))

Fine-tuning the shipped tiny base on the oracle's episodes alone (230 episodes, 4 epochs at lr 5e-3) wiped out its
``cell`` skill - which grid cell holds the marked object; it answered colours instead - and with it any chance of
choosing the crop's region from the marked frame (``python benchmarks/skill_retention.py``,
``benchmarks/results/skill_retention.md``). ``SFTRunConfig.for_model("tiny-pretrained")`` mixes one example per
episode in (``sft.PRETRAINED_TINY_REHEARSAL``).
The examples come from ``models.pretrain_tasks`` on the pretraining's *training* clips (never an evaluation world;
``pretrain_tasks.pretrain_seed``), drawn with their own seed stream so the same (tasks, n, seed) gives the same
rows; their images are written under `out_dir` (the run folder) and the rows have the SFT dataset's columns.
``crop_read`` - read what ``crop_video(region=cell)`` returns, the skill every episode's answer needs after its crop -
is rehearsed in the episodes' own form (``episode_form``): the call's think names the cell, its region is the
cell's argument (``regions.cell_argument``) and the tool text names it, as ``env.crop_video`` writes it; the call
is context only (``"weight": 0``, see ``train.collate``), the reply after the crop is what it trains. (Trained too,
its one-frame, 0.1 s calls broke the students' own calls: end before start on most MC questions.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MULTI_TURN = ("colour_at", "crop_read")  # tasks with a crop_video call of their own, written with a 0-1000 box region
# where the episodes name a cell
CELL_REGION = ("crop_read",)  # multi-turn tasks whose region is always a grid cell: rewritten by episode_form;
# the others (colour_at: an object-centred box) are refused
CLIPS = 64  # training clips the examples are drawn from


def parse_tasks(spec: str | Sequence[str]) -> list[str]:
    """Task names from "a,b,c" (or a list), each checked against ``PRETRAIN_TASKS``.

    >>> parse_tasks("cell, colour_crop")
    ['cell', 'colour_crop']
    """
    from seekerlite.models.pretrain_tasks import PRETRAIN_TASKS

    names = [t.strip() for t in (spec.split(",") if isinstance(spec, str) else spec) if t.strip()]
    refused = set(MULTI_TURN) - set(CELL_REGION)
    bad = [t for t in names if t not in PRETRAIN_TASKS or t in refused]
    if bad or not names:
        raise ValueError(f"rehearsal_tasks: {', '.join(bad) or 'none given'} - want pretraining tasks whose regions "
                         f"are grid cells ({', '.join(sorted(set(PRETRAIN_TASKS) - refused))})")
    return names


def episode_form(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A pretraining chat with its crop_video regions as an episode writes them: each call's region, a grid cell's
    0-1000 box, becomes the cell's argument (" top left"), its think says where it looks ("I will look closer in the
    top left cell.", ``scripted.look_think``'s words) and the tool text names the cell (``env.crop_video``'s). The
    call gets ``"weight": 0``: the collator leaves it out of the loss.

    Raises ValueError when a region is not exactly a grid cell's box (such a crop has no named form).
    """
    from seekerlite.grammar import assistant_turn
    from seekerlite.regions import CELL_NAMES, cell_argument, cell_box

    cells = {tuple(cell_box(c)): c for c in CELL_NAMES}
    out, cell = [], None
    for m in messages:
        calls = m.get("tool_calls") if m["role"] == "assistant" else None
        if calls:
            (call,) = calls
            args = dict(call["function"]["arguments"])
            region = args.get("region")
            if (cell := cells.get(tuple(region or ()))) is None:
                raise ValueError(f"region {region} is not a grid cell's box")
            was, args["region"] = region, cell_argument(cell)
            m = {**assistant_turn(f"I will look closer in the {cell} cell.", (call["function"]["name"], args)),
                 "weight": 0}  # context, not a target: the episodes teach when and where to call
        elif m["role"] == "tool" and cell is not None:
            head = m["content"][0]["text"]
            if f"region {was}" not in head:
                raise ValueError(f"tool text {head!r} does not name region {was}")
            m = {**m, "content": [{"type": "text", "text": head.replace(f"region {was}", f"region {cell}", 1)},
                                  *m["content"][1:]]}
            cell = None
        out.append(m)
    return out


def rehearsal_rows(tasks: str | Sequence[str], n: int, seed: int, out_dir: Path) -> list[dict[str, Any]]:
    """`n` pretraining examples of `tasks` as SFT dataset rows (``id``, ``messages_json``, ``base_dir``), images
    saved under ``out_dir/images``. Ids are ``rehearsal-<seed>-<k>:<task>``."""
    import numpy as np

    from seekerlite.models.pretrain_data import draw_example
    from seekerlite.models.pretrain_tasks import pretrain_seed
    from seekerlite.toyworld import ToyWorldConfig, generate_clip
    from seekerlite.trajectory import images_to_files

    names = parse_tasks(tasks)
    if n <= 0:
        return []
    out = Path(out_dir)
    rng = np.random.default_rng([20_260, seed])
    world = ToyWorldConfig()
    first = int(rng.integers(0, 30_000))  # a seeded window of the (40 000) training clips
    clips = [generate_clip(world, pretrain_seed("train", first + k)) for k in range(min(CLIPS, n))]
    rows = []
    for k in range(n):
        ex = draw_example(clips, names, rng)
        rid = f"rehearsal-{seed}-{k:05d}"
        msgs = images_to_files(episode_form(ex.messages) if ex.task in CELL_REGION else ex.messages, out,
                               prefix=f"{rid}_")
        rows.append({"id": f"{rid}:{ex.task}", "messages_json": json.dumps(msgs, ensure_ascii=False),
                     "base_dir": str(out.resolve())})
    return rows


def rehearsal_dataset(tasks: str | Sequence[str], n: int, seed: int, out_dir: Path) -> Any:
    """``rehearsal_rows`` as a ``datasets.Dataset`` (the columns ``train.sft.load_sft_dataset`` gives)."""
    from datasets import Dataset

    return Dataset.from_list(rehearsal_rows(tasks, n, seed, out_dir))
