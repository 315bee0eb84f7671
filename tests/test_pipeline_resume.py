"""The pipeline end to end on a small config: an interrupted run resumes to the same files as an uninterrupted
one (no duplicate, no lost record), torn lines are repaired, counts add up, the run folder records its settings
in run.json, and the CLI drives it."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from conftest import SAMPLE_DATA

from seekerlite.pipeline.cli import main_pipeline
from seekerlite.pipeline.curate import CurateConfig
from seekerlite.pipeline.store import STAGES, StageFiles, _repair_tail, compare_runs
from seekerlite.pipeline.runner import (
    PipelineConfig,
    SourceConfig,
    format_counts,
    load_config,
    plot_funnel,
    read_counts,
    run_pipeline,
)
from seekerlite.pipeline.stage1_filter import FilterConfig
from seekerlite.pipeline.stage3_masks import MaskConfig
from seekerlite.runs import read_run
from seekerlite.schema import Sample, VisualPrompt, load_jsonl, save_jsonl, to_dict
from seekerlite.trajectory import load_chat_dataset

VTEST = str(SAMPLE_DATA / "videos" / "vtest.mp4")
BOX = [562.0, 236.0, 602.0, 333.0]


class Interrupt(Exception):
    pass


def stop_at(stage: str, n: int):
    def hook(s: str, k: int) -> None:
        if s == stage and k >= n:
            raise Interrupt(f"{s} after {k}")
    return hook


@pytest.fixture(scope="module")
def small_config(tmp_path_factory) -> tuple[PipelineConfig, Path]:
    """2 toy clips + 4 bad candidates on the real clip (dropped by stages 1 and 2, so nothing is tracked)."""
    d = tmp_path_factory.mktemp("cfg")
    vp = VisualPrompt(40, 4.0, "rectangle", None, BOX)
    bad = [Sample("bad-ref", VTEST, "What happens in the video?", "People walk.", visual_prompt=vp),
           Sample("bad-short", VTEST, "Marked man?", "Yes.", visual_prompt=vp),
           Sample("bad-video", str(d / "nope.mp4"), "What does the marked man hold?", "Paper.", visual_prompt=vp),
           Sample("bad-span", VTEST, "What does the marked man hold?", "Paper.", visual_prompt=vp, span=[20.0, 30.0])]
    save_jsonl(bad, d / "bad.jsonl")
    cfg = PipelineConfig(sources=[SourceConfig("toyworld", n_clips=2, seed=1, forms=["mc"]),
                                  SourceConfig("jsonl", str(d / "bad.jsonl"))],
                         filter=FilterConfig(), masks=MaskConfig(backend="opencv"),
                         curate=CurateConfig(policy="noisy-oracle:0.5", k=3, mc_to_oe=True, oe_max_words=8))
    (d / "pipeline.json").write_text(json.dumps(to_dict(cfg)))
    return cfg, d / "pipeline.json"


@pytest.fixture(scope="module")
def reference_run(small_config, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    run_pipeline(small_config[0], out, progress=False)
    return out


def test_reference_run_counts_and_outputs(small_config, reference_run):
    info = read_run(reference_run, levels=0)  # run.json (there is no config.json any more)
    assert info.kind == "pipeline" and info.env == small_config[0].env and not (reference_run / "config.json").exists()
    assert info.config == json.loads(json.dumps(to_dict(small_config[0]))) and info.versions["python"]
    counts = {c.stage: c for c in read_counts(reference_run)}
    assert list(counts) == list(STAGES)
    assert counts["stage1_filter"].reasons == {"no_instance_reference": 1, "too_short": 1}
    assert counts["stage2_verify"].reasons == {"span_outside_video": 1, "video_unreadable": 1}
    for prev, stage in zip(STAGES[:-2], STAGES[1:-1]):  # every record that went in is counted once
        assert counts[stage].n_in == counts[prev].kept, stage
    assert counts["sft"].n_in == counts["rl"].n_in == counts["stage4_render"].kept
    assert counts["sft"].kept == counts["sft"].n_in  # the oracle is always right and well formed
    assert 0 < counts["rl"].kept < counts["rl"].n_in
    rows = load_chat_dataset(reference_run / "sft" / "sft.jsonl", load_images=False)
    assert len(rows) == counts["sft"].kept and all((reference_run / "sft" / p["image"]).is_file()
                                                   for r in rows[:3] for m in r["messages"] if isinstance(m["content"], list)
                                                   for p in m["content"] if p.get("type") == "image")
    rl = load_jsonl(reference_run / "rl.jsonl")
    assert len(rl) == counts["rl"].kept and all(0 < s.provenance["curate"]["pass_rate"] < 1 for s in rl)
    assert all(not s.is_mc and s.id == s.provenance["converted_from"] + "~oe" for s in rl)  # mc_to_oe: no OE twins here
    for s in load_jsonl(reference_run / "stage4_render.jsonl"):  # paths resolve against the run folder
        assert (reference_run / s.video_path).is_file() and (reference_run / s.visual_prompt.image_path).is_file()
    table = format_counts(read_counts(reference_run))
    assert "| stage2_verify | " in table and "video_unreadable 1" in table
    assert plot_funnel(read_counts(reference_run)) is not None


def test_interrupted_run_resumes_to_the_same_files(small_config, reference_run, tmp_path):
    out = tmp_path / "run"
    stops = [("candidates", 5), ("stage1_filter", 3), ("stage3_masks", 1), ("stage4_render", 4), ("sft", 3), ("rl", 2)]
    for stage, n in stops:
        with pytest.raises(Interrupt):
            run_pipeline(small_config[0], out, hook=stop_at(stage, n), progress=False)
        assert StageFiles(out, stage).is_done is False
    # a crash in the middle of a write leaves half a line: it is cut off and the record is redone
    with (out / "rl.jsonl").open("a") as fh:
        fh.write('{"id": "toy1-obj')
    with (out / "rl.drops.jsonl").open("a") as fh:
        fh.write('{"id": "x", "stage"')
    run_pipeline(small_config[0], out, progress=False)
    assert compare_runs(reference_run, out) == []
    ids = [s.provenance["curate"]["input_id"] for s in load_jsonl(out / "rl.jsonl")]
    assert len(ids) == len(set(ids))
    # a finished run is not redone
    before = (out / "rl.jsonl").stat().st_mtime_ns
    run_pipeline(small_config[0], out, progress=False)
    assert (out / "rl.jsonl").stat().st_mtime_ns == before


def test_repair_tail(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c"')
    _repair_tail(p)
    assert p.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    p.write_text('{"id": "a"}\n{"id": "b"\n')  # a newline made it to disk but the line is broken
    _repair_tail(p)
    assert p.read_text() == '{"id": "a"}\n'
    assert StageFiles(tmp_path, "x").processed_ids() == {"a"}


def test_another_config_is_refused(small_config, reference_run):
    other = PipelineConfig(sources=small_config[0].sources, curate=CurateConfig(k=5))
    with pytest.raises(ValueError, match="another config"):
        run_pipeline(other, reference_run, progress=False)


def test_cli_run_status_step_and_restart(small_config, tmp_path, capsys):
    _, cfg_path = small_config
    out = tmp_path / "cli_run"
    assert main_pipeline(["run", "--config", str(cfg_path), "--out", str(out), "--quiet", "--until", "stage2_verify",
                          "--frames-per-call", "2"]) == 0
    text = capsys.readouterr().out
    assert "| stage2_verify |" in text and "| sft |" not in text
    env = read_run(out).env  # the env flag overrides the config's env, and run.json records it
    assert env.frames_per_call == 2 and env.overview_frames == small_config[0].env.overview_frames
    assert main_pipeline(["run", "--config", str(cfg_path), "--out", str(out), "--quiet", "--frames-per-call", "3"]) == 2
    assert "another config" in capsys.readouterr().err  # resuming with another env is refused
    assert main_pipeline(["status", "--out", str(out)]) == 0
    assert "| stage1_filter |" in capsys.readouterr().out
    assert main_pipeline(["run", "--config", str(cfg_path), "--out", str(out), "--quiet", "--restart",
                          "--until", "stage1_filter"]) == 0
    assert not (out / "stage2_verify.jsonl").exists()
    step = tmp_path / "step"
    assert main_pipeline(["step", "stage1_filter", "--input", str(SAMPLE_DATA / "annotations" / "vtest_samples.jsonl"),
                          "--out", str(step), "--quiet"]) == 0
    kept = load_jsonl(step / "stage1_filter.jsonl")
    assert len(kept) == 6 and (step / kept[0].video_path).is_file()
    assert main_pipeline(["run", "--config", str(tmp_path / "missing.json"), "--out", str(out)]) == 2


def test_demo_config_loads_and_its_files_exist():
    cfg = load_config("demo")
    from seekerlite.pipeline.runner import find_file

    kinds = [s.kind for s in cfg.sources]
    assert kinds == ["toyworld", "jsonl", "jsonl"] and cfg.synthesize.teacher == "oracle" and cfg.curate.k == 4
    for s in cfg.sources[1:]:
        assert load_jsonl(find_file(s.path))
    assert set(cfg.render.prompt_types) == set(load_config("demo").render.prompt_types)


def test_v2p_bench_source_flows_through(tmp_path):
    """V2P-Bench-style records (already-marked jpgs, no box): nothing to track, so stage 3 lets them pass when told
    to, stage 4 keeps their marked image, and the oracle still produces SFT data."""
    v2p = Path(__file__).parent / "fixtures" / "v2p" / "dataset_info.jsonl"
    cfg = PipelineConfig(sources=[SourceConfig("jsonl", str(v2p), name="v2p")], masks=MaskConfig(require_masklet=False))
    counts = {c.stage: c for c in run_pipeline(cfg, tmp_path / "run", until="sft", progress=False)}
    n = len(load_jsonl(tmp_path / "run" / "candidates.jsonl"))
    assert n >= 2 and counts["stage4_render"].kept == counts["stage1_filter"].kept > 0
    given = {s.id: s for s in load_jsonl(tmp_path / "run" / "candidates.jsonl")}
    for s in load_jsonl(tmp_path / "run" / "stage4_render.jsonl"):
        assert s.visual_prompt == given[s.id].visual_prompt and (tmp_path / "run" / s.visual_prompt.image_path).is_file()
        assert s.provenance["stage3"]["source"] == "none (no box)"
    assert counts["sft"].kept == counts["stage4_render"].kept


KILL_AT = textwrap.dedent("""
    import os, signal, sys
    from seekerlite.pipeline.runner import load_config, run_pipeline
    cfg, out, stage, n = load_config(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    def hook(s, k):  # kill -9 right after record k of `stage` reached the disk
        if s == stage and k >= n:
            os.kill(os.getpid(), signal.SIGKILL)
    run_pipeline(cfg, out, hook=hook, progress=False)
""")


def test_kill_9_at_random_points_of_every_stage_resumes_to_the_same_files(small_config, reference_run, tmp_path):
    """A real process killed with SIGKILL once inside every stage (at a random record, seeded), each time resumed
    by the next one (which takes over the dead one's lock), ends with the files of an uninterrupted run."""
    import random
    import signal
    import subprocess
    import sys

    rng = random.Random(13)
    written = {c.stage: c.kept + c.dropped for c in read_counts(reference_run)}
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    kills = [(stage, rng.randint(1, written[stage])) for stage in STAGES if written[stage] > 1]
    assert len(kills) == len(STAGES)
    for stage, n in kills:
        proc = subprocess.run([sys.executable, "-c", KILL_AT, str(small_config[1]), str(out), stage, str(n)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == -signal.SIGKILL, (stage, n, proc.stderr[-2000:])
        assert (out / ".lock").exists() and not StageFiles(out, stage).is_done
    run_pipeline(small_config[0], out, progress=False)
    assert compare_runs(reference_run, out) == [] and not (out / ".lock").exists()
