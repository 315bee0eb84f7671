"""benchmarks/position_probe.py: its `solo` task's answer is the cell that holds the drawn square."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import position_probe as pp

from seekerlite.models.pretrain_tasks import PRETRAIN_TASKS
from seekerlite.regions import CELL_NAMES
from seekerlite.toyworld.world import ToyWorldConfig, generate_clip


def _red_cell(image) -> str:
    """The cell of the red square's centre, read from the pixels alone."""
    a = np.asarray(image)
    ys, xs = np.nonzero((a[..., 0] > 200) & (a[..., 1] < 80))
    row, col = int(ys.mean() * 3 // a.shape[0]), int(xs.mean() * 3 // a.shape[1])
    return CELL_NAMES[3 * row + col]


def test_solo_answers_the_cell_of_the_square_and_is_not_registered_on_import():
    assert "solo" not in PRETRAIN_TASKS
    clip = generate_clip(ToyWorldConfig(), 0)
    rng, seen = np.random.default_rng(0), set()
    for _ in range(40):
        ex = pp.solo(clip, rng)
        if ex is None:
            continue
        image = next(p["image"] for p in ex.messages[0]["content"] if p["type"] == "image")
        assert ex.answer == _red_cell(image)
        assert ex.answer in ex.messages[-1]["content"]
        seen.add(ex.answer)
    assert len(seen) >= 5
