"""Sharded pipeline stages (seekerlite.pipeline.shard): stage 3, SFT synthesis and RL curation run as 2 shards and
merged give the run folder a single process writes, byte for byte; bad shard requests are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from seekerlite.config import EnvConfig
from seekerlite.pipeline.cli import main_pipeline
from seekerlite.pipeline.curate import CurateConfig
from seekerlite.pipeline.runner import PipelineConfig, SourceConfig, run_pipeline
from seekerlite.pipeline.shard import merge_shards, parse_shard, run_shard, shard_of
from seekerlite.pipeline.stage3_masks import MaskConfig
from seekerlite.pipeline.store import compare_runs, read_samples

ROOT = Path(__file__).resolve().parent.parent
CFG = PipelineConfig(sources=[SourceConfig("toyworld", n_clips=2, seed=1, forms=["mc", "oe"]),
                              SourceConfig("jsonl", str(ROOT / "sample_data/annotations/vtest_samples.jsonl"),
                                           name="vtest")],
                     masks=MaskConfig(backend="opencv", max_track_frames=60),  # the real clip: over budget, dropped
                     curate=CurateConfig(policy="noisy-oracle:0.5", k=2),
                     env=EnvConfig(overview_frames=2, frames_per_call=2, min_frames_per_call=2))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("shard")
    run_pipeline(CFG, root / "one", progress=False)
    return root


def test_parse_and_assign_shards():
    assert parse_shard("0/1") == (0, 1) and parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(ValueError, match="--shard"):
            parse_shard(bad)
    ids = [f"clip{k}-q{j}" for k in range(40) for j in range(3)]
    counts = [sum(shard_of(i, 3) == s for i in ids) for s in range(3)]
    assert sum(counts) == len(ids) and min(counts) > 20  # every id in one shard, and a roughly even split
    assert [shard_of(i, 3) for i in ids] == [shard_of(i, 3) for i in ids]


def test_two_shards_merged_equal_one_run_byte_for_byte(runs, capsys):
    two = runs / "two"
    run_pipeline(CFG, two, progress=False, until="stage2_verify")
    assert main_pipeline(["shard", "stage3_masks", "--run", str(two), "--shard", "1/2", "--quiet"]) == 0  # CLI
    run_shard(two, "stage3_masks", 0, 2, progress=False)
    assert (two / "stage3_masks.shard-0-of-2.jsonl").is_file() and not (two / "stage3_masks.jsonl").exists()
    assert main_pipeline(["merge", "stage3_masks", "--run", str(two), "--shards", "2"]) == 0
    assert "| stage3_masks |" in capsys.readouterr().out
    assert not list(two.glob("stage3_masks.shard-*")) and not (two / "shards").exists()
    run_pipeline(CFG, two, progress=False, until="stage4_render")
    for stage in ("sft", "rl"):
        parts = [run_shard(two, stage, i, 2, progress=False) for i in range(2)]
        assert all(p.n_in > 0 for p in parts)  # both shards had work
        merged = merge_shards(two, stage, 2)
        assert merged.n_in == sum(p.n_in for p in parts)
    run_pipeline(CFG, two, progress=False)  # resumes: every stage is done
    one = runs / "one"
    assert compare_runs(one, two) == []
    assert len(read_samples(one / "stage3_masks.jsonl")) > 0 and (one / "stage3_masks.drops.jsonl").is_file()
    assert (one / "sft" / "sft.jsonl").read_bytes() == (two / "sft" / "sft.jsonl").read_bytes()


def test_bad_shard_requests_are_refused(runs, tmp_path):
    run = tmp_path / "r"
    with pytest.raises(FileNotFoundError, match="not a pipeline run folder"):
        run_shard(run, "stage3_masks", 0, 2)
    run_pipeline(CFG, run, progress=False, until="stage1_filter")
    with pytest.raises(ValueError, match="stage2_verify has not finished"):
        run_shard(run, "stage3_masks", 0, 2)
    with pytest.raises(ValueError, match="cannot be sharded"):
        run_shard(run, "stage2_verify", 0, 2)
    run_pipeline(CFG, run, progress=False, until="stage2_verify")
    run_shard(run, "stage3_masks", 0, 2, progress=False)
    with pytest.raises(ValueError, match=r"shards \['1/2'\] of stage3_masks have not finished"):
        merge_shards(run, "stage3_masks", 2)
    with pytest.raises(ValueError, match="already done"):
        run_shard(runs / "one", "stage3_masks", 0, 2)
    assert main_pipeline(["merge", "stage3_masks", "--run", str(run), "--shards", "3"]) == 2  # one error line
