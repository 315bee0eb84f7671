"""The toy world's tool families: unanswerable from the first turn, answerable with the oracle's crop (the evidence
model of policies.scripted), and the oracle's crops name the grid cell that holds the target."""

import sys
from pathlib import Path

import numpy as np
import pytest

from seekerlite.config import EnvConfig
from seekerlite.policies import OraclePolicy, run_episodes
from seekerlite.regions import parse_cell
from seekerlite.toyworld import TOOL_TASKS, generate_clip, make_questions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from tool_value import measure, per_family, tool_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tool_world(tmp_path_factory.mktemp("tv"), n_clips=10, seed=6, families=TOOL_TASKS)


def test_oracle_tools_beat_no_tools_on_the_tool_families(world):
    samples, base = world
    assert {s.task for s in samples} == set(TOOL_TASKS) and all(s.is_mc for s in samples)
    table = per_family(samples, measure(samples, base))
    pooled = {w: np.mean([table[f][w][0] for f in TOOL_TASKS]) for w in ("no tools", "oracle tools", "random tools")}
    assert pooled["no tools"] < 0.45 and pooled["oracle tools"] > 0.9, table
    assert pooled["oracle tools"] - pooled["no tools"] > 0.4 and pooled["random tools"] < pooled["oracle tools"]
    assert all(table[f]["region_hit"] in (None, 1.0) or table[f]["region_hit"] > 0.8 for f in TOOL_TASKS)


def test_oracle_names_cells_and_its_crops_hold_the_target(world):
    samples, base = world
    zoom = [s for s in samples if s.task in ("recolor", "contact")]
    trajs = run_episodes(OraclePolicy(p_view_prompt=0.0), zoom, EnvConfig(), base_dir=str(base), progress=False)
    for s, t in zip(zoom, trajs):
        (rec,) = t.tool_log
        assert rec.ok and " " + parse_cell(rec.arguments["region"]) == rec.arguments["region"]  # regions.cell_argument
        assert s.span[0] - 1.0 <= rec.arguments["start_time"] <= s.span[1]
        assert t.correct and '"region": "' in t.turns[0].text


def test_tool_family_answers_match_the_clip():
    for seed in range(10):
        clip = generate_clip(seed=seed)
        qs = {q.task: q for q in make_questions(clip, clip.target_id, np.random.default_rng(0), families=TOOL_TASKS,
                                                mc=False)}
        tgt, cc, ex = clip.obj(clip.target_id), clip.events_of(clip.target_id, "color_change"), \
            clip.events_of(clip.target_id, "exit")
        assert ("recolor" in qs) == bool(cc) and ("exit_edge" in qs) == bool(ex)
        if cc:
            assert qs["recolor"].answer == tgt.colors[-1] != tgt.colors[0]
        if ex:
            assert qs["exit_edge"].answer == f"the {ex[0].value} edge"
        if "contact" in qs:
            hit = clip.events_of(clip.target_id, "collision")[0]
            assert qs["contact"].answer == clip.obj(hit.value).colors[hit.frame]
            assert qs["contact"].extra["evidence"]["with"] == hit.value
