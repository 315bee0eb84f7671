"""Every command, fed what a careless or hostile user gives it, ends in one ``error: ...`` line that names the file
(or the flag), exit code 2, no traceback; ``--debug`` shows the traceback (issue 13, class 5: an output path that is
a file, a read-only folder, a full disk, a config whose top level is not an object or that is a folder, a frame
past the end, a box covering the whole frame, chat records of the wrong shape, unreadable folders all ended in
tracebacks; some messages named no file)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from seekerlite.cli import main

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    """A folder of hostile inputs (names used by CASES)."""
    from seekerlite.images import write_video

    d = tmp_path_factory.mktemp("hostile_cli")
    (d / "folder").mkdir()
    (d / "a_file").write_text("x")
    (d / "list.json").write_text("[1, 2]")
    (d / "bad.json").write_text("{sources: 1")
    (d / "neg.json").write_text('{"sources": [{"kind": "toyworld", "n_clips": -3}]}')
    (d / "deep.json").write_text('{"sources": ' + "[" * 5000 + "]" * 5000 + "}")
    (d / "latin1.json").write_bytes('{"_comment": "caf\u00e9"}'.encode("latin-1"))
    (d / "empty.jsonl").write_text("")
    (d / "chat.jsonl").write_text('{"messages": "hi"}\n')
    (d / "text.mp4").write_text("not a video")
    frames = np.zeros((12, 48, 64, 3), np.uint8)
    for t in range(12):
        frames[t, 10:30, 10 + t:30 + t] = (200, 40, 40)  # a red square moving right
    write_video(frames, d / "clip.mp4", fps=10)
    past_end = {"id": "p", "video_path": "clip.mp4", "question": "Which colour is the marked square?", "answer": "A",
                "options": ["red", "blue"], "visual_prompt": {"frame_index": 50, "prompt_type": "rectangle",
                                                               "box": [10, 10, 30, 30]}}
    (d / "past_end.jsonl").write_text(json.dumps(past_end) + "\n")
    return d


# (id, argv with {d} for the folder above, what the error line must contain besides "error: ")
CASES = [
    ("pipeline-config-is-a-folder", "pipeline run --config {d}/folder --out {d}/r1", "{d}/folder: is a folder"),
    ("pipeline-config-not-an-object", "pipeline run --config {d}/list.json --out {d}/r1", "{d}/list.json: "),
    ("pipeline-config-bad-json", "pipeline run --config {d}/bad.json --out {d}/r1", "{d}/bad.json: invalid JSON"),
    ("pipeline-config-n_clips-negative", "pipeline run --config {d}/neg.json --out {d}/r1", "sources[0].n_clips"),
    ("pipeline-config-too-deep", "pipeline run --config {d}/deep.json --out {d}/r1", "{d}/deep.json: "),
    ("pipeline-config-not-utf8", "pipeline run --config {d}/latin1.json --out {d}/r1", "{d}/latin1.json: invalid UTF-8"),
    ("pipeline-config-missing", "pipeline run --config {d}/nope.json --out {d}/r1", "{d}/nope.json"),
    ("pipeline-until-stage9", "pipeline run --out {d}/r1 --until stage9", "unknown stage 'stage9'"),
    ("pipeline-out-is-a-file", "pipeline run --out {d}/a_file --until candidates", "{d}/a_file"),
    ("pipeline-out-under-a-file", "pipeline run --out {d}/a_file/run --until candidates", "{d}/a_file"),
    ("pipeline-step-unknown-stage", "pipeline step stage9 --input toy:1 --out {d}/r2", "unknown stage 'stage9'"),
    ("pipeline-step-empty-input", "pipeline step stage1_filter --input {d}/empty.jsonl --out {d}/r2",
     "{d}/empty.jsonl: holds no samples"),
    ("pipeline-step-toy-0", "pipeline step stage1_filter --input toy:0 --out {d}/r2", "'toy:0'"),
    ("track-frame-past-the-end", "track --video {d}/clip.mp4 --frame 99 --box 10,10,30,30 --out {d}/t.json",
     "{d}/clip.mp4: frame 99 is outside"),
    ("track-negative-frame", "track --video {d}/clip.mp4 --frame -1 --box 10,10,30,30 --out {d}/t.json",
     "{d}/clip.mp4: frame -1"),
    ("track-box-whole-frame", "track --video {d}/clip.mp4 --frame 0 --box 0,0,64,48 --out {d}/t.json",
     "{d}/clip.mp4: box [0.0, 0.0, 64.0, 48.0] covers 100%"),
    ("track-box-tiny", "track --video {d}/clip.mp4 --frame 0 --box 10,10,12,13 --out {d}/t.json",
     "{d}/clip.mp4: box [10.0, 10.0, 12.0, 13.0] is 2x3 pixels"),
    ("track-box-inverted", "track --video {d}/clip.mp4 --frame 0 --box 30,30,10,10 --out {d}/t.json",
     "{d}/clip.mp4: --box [30.0, 30.0, 10.0, 10.0] is empty or inverted"),
    ("track-box-outside", "track --video {d}/clip.mp4 --frame 0 --box 100,100,140,140 --out {d}/t.json",
     "{d}/clip.mp4: --box [100.0, 100.0, 140.0, 140.0] reaches outside the 64x48 frame"),
    ("track-box-nan", "track --video {d}/clip.mp4 --frame 0 --box nan,0,10,10 --out {d}/t.json", "finite"),
    ("track-not-a-video", "track --video {d}/text.mp4 --frame 0 --box 10,10,30,30 --out {d}/t.json", "{d}/text.mp4: "),
    ("track-out-is-a-folder", "track --video {d}/clip.mp4 --frame 0 --box 10,10,30,30 --out {d}/folder",
     "{d}/folder: is a folder"),
    ("track-full-disk", "track --video {d}/clip.mp4 --frame 0 --box 10,10,30,30 --out /dev/full",
     "/dev/full: No space left on device"),
    ("sft-empty-data", "sft --data {d}/empty.jsonl --out {d}/s1", "{d}/empty.jsonl"),
    ("sft-chat-of-the-wrong-shape", "sft --data {d}/chat.jsonl --out {d}/s1", "{d}/chat.jsonl:1: not a chat record"),
    ("sft-out-is-a-file", "sft --out {d}/a_file", "{d}/a_file"),
    ("sft-toy-clips-negative", "sft --toy-clips -3 --out {d}/s2", "SFTRunConfig: field 'toy_clips': -3"),
    ("sft-batch-size-0", "sft --batch-size 0 --out {d}/s3", "field 'per_device_train_batch_size': 0 (want >= 1)"),
    ("sft-negative-lr", "sft --lr -1 --out {d}/s3", "field 'learning_rate': -1.0"),
    ("sft-max-steps-0", "sft --max-steps 0 --out {d}/s3", "max_steps=0"),
    ("grpo-max-steps-0", "grpo --max-steps 0 --out {d}/g3", "field 'max_steps': 0 (want >= 1)"),
    ("grpo-partial-groups", "grpo --num-generations 3 --out {d}/g3", "multiple of num_generations (3)"),
    ("grpo-prompt-frame-past-the-end", "grpo --data {d}/past_end.jsonl --batch-size 4 --out {d}/g4",
     "field 'visual_prompt.frame_index': frame 50 is outside {d}/clip.mp4"),
    ("grpo-empty-data", "grpo --data {d}/empty.jsonl --out {d}/g1", "{d}/empty.jsonl: holds no samples"),
    ("grpo-toy-clips-0", "grpo --toy-clips 0 --out {d}/g2", "GRPORunConfig: field 'toy_clips': 0"),
    ("grpo-out-is-a-file", "grpo --out {d}/a_file", "{d}/a_file"),
    ("eval-missing-data", "eval --data {d}/nope.jsonl --out {d}/e1", "{d}/nope.jsonl"),
    ("eval-toy-0", "eval --data toy:0 --out {d}/e1", "'toy:0'"),
    ("eval-out-is-a-file", "eval --out {d}/a_file", "{d}/a_file"),
    ("demo-out-is-a-file", "demo --out {d}/a_file", "{d}/a_file"),
    ("probe-not-a-video", "probe {d}/text.mp4", "{d}/text.mp4: "),
    ("probe-a-folder", "probe {d}/folder", "{d}/folder"),
    ("episode-empty-sample-file", "episode --sample {d}/empty.jsonl --out {d}/ep", "{d}/empty.jsonl"),
    ("episode-index-out-of-range", "episode --sample {d}/chat.jsonl --out {d}/ep", "{d}/chat.jsonl:1"),
    ("prompts-frame-past-the-end", "prompts --video {d}/clip.mp4 --frame 50 --box 1,1,30,30 --out {d}/p",
     "{d}/clip.mp4: --frame 50"),
    ("toyworld-no-clips", "toyworld --out {d}/tw --n-clips 0", "--n-clips"),
]


@pytest.mark.parametrize("argv,expect", [(a, e) for _, a, e in CASES], ids=[c[0] for c in CASES])
def test_a_hostile_command_line_ends_in_one_error_line_naming_the_file(d, capsys, argv, expect):
    try:
        rc = main(argv.format(d=d).split())
    except SystemExit as e:  # argparse refused a flag's value: its usage line, then one error line
        rc = e.code
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and err[0].startswith("usage: ") and err[-1].startswith("seekerlite "), err
        assert "error: " in err[-1] and expect.format(d=d) in err[-1], err
        return
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, err
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    assert expect.format(d=d) in err[0], err[0]


def test_debug_shows_the_traceback_instead(d):
    """``--debug`` re-raises, also from the commands that catch their own errors (pipeline, track)."""
    from seekerlite.paths import DEBUG_ENV
    from seekerlite.tracking import TrackError

    with pytest.raises(ValueError, match="is a folder"):
        main(["--debug", "pipeline", "run", "--config", str(d / "folder"), "--out", str(d / "r1")])
    with pytest.raises(TrackError, match="covers"):
        main(["--debug", "track", "--video", str(d / "clip.mp4"), "--frame", "0", "--box", "0,0,64,48", "--out",
              str(d / "t.json")])
    assert DEBUG_ENV not in os.environ  # restored


def test_the_installed_entry_point_prints_one_line(d):
    """The real process: stderr is one line, nothing else (no log noise, no traceback)."""
    proc = subprocess.run([sys.executable, "-m", "seekerlite.cli", "pipeline", "run", "--config", str(d / "list.json"),
                           "--out", str(d / "r1")], env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr


def test_a_damaged_run_folder_is_named_with_the_restart_hint(tmp_path, capsys):
    """A torn run.json after a crash and a corrupt line inside a stage file (not its last line): the file, the line
    and ``--restart`` are named."""
    from seekerlite.pipeline.runner import PipelineConfig, SourceConfig, run_pipeline
    from seekerlite.schema import to_dict

    cfg = PipelineConfig(sources=[SourceConfig("toyworld", n_clips=1, seed=2, forms=["mc"])])
    (tmp_path / "pipe.json").write_text(json.dumps(to_dict(cfg)))
    out = tmp_path / "run"
    run_pipeline(cfg, out, until="stage1_filter", progress=False)
    capsys.readouterr()
    args = ["pipeline", "run", "--config", str(tmp_path / "pipe.json"), "--out", str(out), "--quiet", "--until",
            "stage1_filter"]
    lines = (out / "candidates.jsonl").read_text().splitlines(keepends=True)
    assert len(lines) >= 3
    (out / "candidates.jsonl").write_text("".join(lines[:1] + ['{"id": "torn\n'] + lines[1:]))
    (out / "candidates.done.json").unlink()  # as if the crash hit before the stage finished
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{out / 'candidates.jsonl'}:2: " in err[0] and "--restart" in err[0], err
    (out / "run.json").write_text('{"kind": "pipel')  # torn by a crash
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out / "run.json") in err[0] and "--restart" in err[0], err
    assert main(args + ["--restart"]) == 0  # the hint works


# ---------------------------------------------------------------------------------------------- permissions

def _unprivileged() -> list[str]:
    """A command prefix that runs a process without root's power to read and write anywhere: root keeps its uid
    (the interpreter may live in a folder only root can enter) but loses CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH /
    CAP_FOWNER, so file modes apply to it as to anyone. Not root: nothing to drop."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux) to drop the capabilities that ignore file modes")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


PERMISSION_CASES = [
    ("pipeline-out-in-a-read-only-folder", "pipeline run --out {ro}/run --until candidates", "{ro}/run: Permission denied"),
    ("track-out-in-a-read-only-folder", "track --video {top}/clip.mp4 --frame 0 --box 10,10,30,30 --out {ro}/t.json",
     "{ro}: Permission denied"),
    ("pipeline-step-input-in-an-unreadable-folder", "pipeline step stage1_filter --input {hidden}/s.jsonl --out {w}/r",
     "{hidden}/s.jsonl: Permission denied"),
    ("sft-out-in-a-read-only-folder", "sft --out {ro}/sft", "{ro}/sft: Permission denied"),
]


@pytest.mark.parametrize("argv,expect", [(a, e) for _, a, e in PERMISSION_CASES], ids=[c[0] for c in PERMISSION_CASES])
def test_permission_errors_end_in_one_line(d, argv, expect):
    """Run without the privileges that ignore file modes (root would write anywhere: see ``_unprivileged``)."""
    drop = _unprivileged()
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        os.chmod(top, 0o777)
        ro, hidden, w = top / "ro", top / "hidden", top / "w"
        for p in (ro, hidden, w):
            p.mkdir()
        (hidden / "s.jsonl").write_text("{}\n")
        os.chmod(ro, 0o555)
        os.chmod(hidden, 0o000)
        os.chmod(w, 0o777)
        shutil.copy(d / "clip.mp4", top / "clip.mp4")  # `d` may be private to this user
        home = top / "home"
        home.mkdir(mode=0o777)
        os.chmod(home, 0o777)
        cmd = argv.format(top=top, ro=ro, hidden=hidden, w=w).split()
        try:
            proc = subprocess.run([*drop, sys.executable, "-m", "seekerlite.cli", *cmd], capture_output=True,
                                  text=True, timeout=300, env={**ENV, "MPLCONFIGDIR": str(home)})
        finally:
            os.chmod(hidden, 0o755)
            os.chmod(ro, 0o755)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    assert expect.format(top=top, ro=ro, hidden=hidden, w=w) in lines[0], lines[0]
