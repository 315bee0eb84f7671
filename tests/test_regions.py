"""Grid cells: names, boxes, the cell holding a box, crop_video with a cell, and region_hit on real episodes."""

import pytest

from seekerlite.config import EnvConfig
from seekerlite.env import VideoSeekerEnv, _region_to_pixels
from seekerlite.evaluate.metrics import EpisodeRecord, region_looks, summarize
from seekerlite.regions import (
    CELL_NAMES,
    box_inside,
    cell_box,
    cell_holding,
    parse_cell,
    region_box,
    to_pixels,
)
from seekerlite.schema import load_jsonl
from seekerlite.toyworld import TOOL_TASKS, ToyWorldConfig, generate_dataset


def test_cells_cover_the_frame_and_overlap():
    boxes = [cell_box(c) for c in CELL_NAMES]
    assert boxes[0] == [0, 0, 417, 417] and boxes[4] == [250, 250, 750, 750] and boxes[8] == [583, 583, 1000, 1000]
    for x in range(0, 1001, 50):  # every point lies in at least one cell; padded thirds overlap their neighbours
        for y in range(0, 1001, 50):
            assert sum(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes) >= 1
    assert parse_cell("Upper-Right") == "top right" and parse_cell("centre") == "center" and parse_cell("xyz") is None
    assert region_box("bottom") == [250.0, 583.0, 750.0, 1000.0] and region_box([1, 2, 3, 4]) == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="not a grid cell"):
        cell_box("north")


def test_cell_holding_picks_the_cell_that_holds_the_box():
    w, h = 320, 240
    for name in CELL_NAMES:  # a small box at each cell's centre is held by that cell
        b = to_pixels(cell_box(name), w, h)
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        assert cell_holding([cx - 8, cy - 8, cx + 8, cy + 8], w, h) == name
    straddle = [95, 20, 125, 50]  # on the border of "top left" and "top": held whole by one of them
    assert box_inside(straddle, to_pixels(cell_box(cell_holding(straddle, w, h)), w, h)) == 1.0


def test_crop_video_accepts_a_cell(tmp_path):
    path = generate_dataset(tmp_path / "toy", n_clips=1, seed=2)
    sample = load_jsonl(path)[0]
    env = VideoSeekerEnv(EnvConfig())
    env.reset(sample=sample, base_dir=str(path.parent))
    parts = env.crop_video(0.0, 1.0, region="Top Left")
    rec = env.log[-1]
    assert rec.ok and rec.region_px == _region_to_pixels([0, 0, 417, 417], 320, 240, 20) == [0, 0, 133, 100]
    assert "region top left (pixels" in parts[0]["text"] and rec.frame_indices == [1, 4, 6, 9]
    assert parts[2]["image"].size == (133, 100)
    bad = env.crop_video(0.0, 1.0, region="north")
    assert bad[0]["text"].startswith("Error: region must be a list") and '"top left"' in bad[0]["text"]


def test_region_hit_counts_crops_that_hold_the_target(tmp_path):
    path = generate_dataset(tmp_path / "toy", n_clips=2, seed=4, config=ToyWorldConfig(question_families=TOOL_TASKS))
    s = next(x for x in load_jsonl(path) if x.task == "recolor")
    env = VideoSeekerEnv(EnvConfig(max_tool_rounds=10))
    env.reset(sample=s, base_dir=str(path.parent))
    f = s.masklet.visible_frames()[0]
    right = cell_holding(s.masklet.box_at(f), 320, 240)
    wrong = next(c for c in CELL_NAMES if box_inside(s.masklet.box_at(f), to_pixels(cell_box(c), 320, 240)) == 0)
    t = f / 10
    for cell in (right, wrong):
        env.crop_video(t, t + 0.4, region=cell)
    env.crop_video(t, t + 0.4)  # no region: not judged
    looks = region_looks(s, env.log)
    assert [x["hit"] for x in looks] == [True, False] and [x["cell"] for x in looks] == [right, wrong]
    assert looks[0]["true_cell"] is not None
    rec = EpisodeRecord(s.id, True, n_region_calls=2, n_region_hits=1)
    assert summarize([rec], n_bootstrap=0)["overall"]["region_hit"] == 0.5
    assert summarize([EpisodeRecord("x", False)], n_bootstrap=0)["overall"]["region_calls"] == 0
