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
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MULTI_TURN = ("colour_at", "crop_read")  # tasks with a crop_video call of their own: SFT would train their 0-1000 box
# regions (the collator trains every assistant turn), against the episodes' named cells - refused
CLIPS = 64  # training clips the examples are drawn from


def parse_tasks(spec: str | Sequence[str]) -> list[str]:
    """Task names from "a,b,c" (or a list), each checked against ``PRETRAIN_TASKS``.

    >>> parse_tasks("cell, colour_crop")
    ['cell', 'colour_crop']
    """
    from seekerlite.models.pretrain_tasks import PRETRAIN_TASKS

    names = [t.strip() for t in (spec.split(",") if isinstance(spec, str) else spec) if t.strip()]
    bad = [t for t in names if t not in PRETRAIN_TASKS or t in MULTI_TURN]
    if bad or not names:
        raise ValueError(f"rehearsal_tasks: {', '.join(bad) or 'none given'} - want single-turn pretraining tasks "
                         f"({', '.join(sorted(set(PRETRAIN_TASKS) - set(MULTI_TURN)))})")
    return names


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
        msgs = images_to_files(ex.messages, out, prefix=f"{rid}_")
        rows.append({"id": f"{rid}:{ex.task}", "messages_json": json.dumps(msgs, ensure_ascii=False),
                     "base_dir": str(out.resolve())})
    return rows


def rehearsal_dataset(tasks: str | Sequence[str], n: int, seed: int, out_dir: Path) -> Any:
    """``rehearsal_rows`` as a ``datasets.Dataset`` (the columns ``train.sft.load_sft_dataset`` gives)."""
    from datasets import Dataset

    return Dataset.from_list(rehearsal_rows(tasks, n, seed, out_dir))
