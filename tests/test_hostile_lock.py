"""One process per pipeline run folder, tested with real processes (issue 13, class 1: two ``pipeline run``s into one
folder at the same time both exited 0 and every stage file held each record twice)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from seekerlite.pipeline.runner import PipelineConfig, SourceConfig, run_pipeline
from seekerlite.schema import to_dict

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def _config(tmp_path: Path) -> Path:
    cfg = PipelineConfig(sources=[SourceConfig("toyworld", n_clips=1, seed=5, forms=["mc"])])
    path = tmp_path / "pipe.json"
    path.write_text(json.dumps(to_dict(cfg)))
    return path


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the first run ended early: {proc.communicate()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


PAUSED_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from seekerlite.pipeline.runner import load_config, run_pipeline
    cfg, out, flag = load_config(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    def hook(stage, n):  # hold the folder mid-stage until the test says go
        if stage == "stage1_filter" and n == 1:
            (flag / "ready").touch()
            while not (flag / "go").exists():
                time.sleep(0.05)
    run_pipeline(cfg, out, hook=hook, progress=False)
""")


def test_a_second_pipeline_run_on_the_same_folder_is_refused(tmp_path):
    cfg, out, flag = _config(tmp_path), tmp_path / "run", tmp_path / "flags"
    flag.mkdir()
    first = subprocess.Popen([sys.executable, "-c", PAUSED_RUN, str(cfg), str(out), str(flag)], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(flag / "ready", first)
        second = subprocess.run([sys.executable, "-m", "seekerlite.cli", "pipeline", "run", "--config", str(cfg),
                                 "--out", str(out), "--quiet"], env=ENV, capture_output=True, text=True, timeout=300)
        restart = subprocess.run([sys.executable, "-m", "seekerlite.cli", "pipeline", "run", "--config", str(cfg),
                                  "--out", str(out), "--quiet", "--restart"], env=ENV, capture_output=True, text=True,
                                 timeout=300)
    finally:
        (flag / "go").touch()
    assert first.wait(timeout=300) == 0, first.communicate()
    for proc in (second, restart):  # refused, one line naming the folder and the holder; --restart deleted nothing
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert str(out) in lines[0] and f"pid {first.pid}" in lines[0] and "in use by another" in lines[0]
    for stage_file in sorted(out.glob("*.jsonl")):  # every record once
        ids = [json.loads(line)["id"] for line in stage_file.read_text().splitlines() if line.strip()]
        assert len(ids) == len(set(ids)), stage_file
    counts = {c["stage"]: c for c in json.loads((out / "counts.json").read_text())}
    kept = sum(1 for line in (out / "stage1_filter.jsonl").read_text().splitlines() if line.strip())
    assert counts["stage1_filter"]["kept"] == kept
    assert not (out / ".lock").exists()  # released at the end


HOLD_AND_DIE = textwrap.dedent("""
    import os, signal, sys
    from seekerlite.runlock import RunLock
    RunLock(sys.argv[1]).acquire()
    os.kill(os.getpid(), signal.SIGKILL)  # kill -9 while holding the lock
""")


def test_a_stale_lock_of_a_killed_run_is_taken_over(tmp_path):
    from seekerlite.runlock import LOCK_FILE, RunLock

    out = tmp_path / "run"
    dead = subprocess.run([sys.executable, "-c", HOLD_AND_DIE, str(out)], env=ENV, capture_output=True, timeout=120)
    assert dead.returncode == -signal.SIGKILL
    left = json.loads((out / LOCK_FILE).read_text())
    assert left["pid"] != os.getpid()
    with RunLock(out) as lock:  # the kernel dropped the dead process's flock: taken over, and said so
        assert lock.took_over is not None and lock.took_over["pid"] == left["pid"]
        assert json.loads((out / LOCK_FILE).read_text())["pid"] == os.getpid()
        with RunLock(out):  # re-entrant within a process (run_pipeline inside the CLI's lock)
            pass
        assert (out / LOCK_FILE).exists()
    assert not (out / LOCK_FILE).exists()
    counts = run_pipeline(PipelineConfig(sources=[SourceConfig("toyworld", n_clips=1, seed=5, forms=["mc"])]), out,
                          until="stage1_filter", progress=False)
    assert counts[-1].stage == "stage1_filter"


def test_a_lock_held_by_a_live_process_names_it(tmp_path):
    from seekerlite.runlock import RunLock, RunLockedError

    out, flag = tmp_path / "run", tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from seekerlite.runlock import RunLock
        with RunLock(sys.argv[1]):
            Path(sys.argv[2]).touch()
            time.sleep(60)
    """), str(out), str(flag)], env=ENV)
    try:
        _wait_for(flag, holder)
        with pytest.raises(RunLockedError, match=rf"{out} is in use by another seekerlite process \(pid {holder.pid}"):
            RunLock(out).acquire()
    finally:
        holder.kill()
        holder.wait()
    with RunLock(out) as lock:  # killed: its lock is stale now
        assert lock.took_over["pid"] == holder.pid


@pytest.mark.parametrize("command", ["sft", "grpo", "eval", "demo", "pipeline-step"])
def test_every_command_that_writes_a_run_folder_is_refused_while_another_holds_it(tmp_path, capsys, command):
    """One lock for every writer (sft, grpo, eval, demo, pipeline step): refused before any work, one error line."""
    from seekerlite.cli import main

    out, flag = tmp_path / "run", tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from seekerlite.runlock import RunLock
        with RunLock(sys.argv[1]):
            Path(sys.argv[2]).touch()
            time.sleep(120)
    """), str(out), str(flag)], env=ENV)
    try:
        _wait_for(flag, holder)
        argv = ["pipeline", "step", "stage1_filter", "--input", "toy:1", "--out", str(out)] \
            if command == "pipeline-step" else [command, "--out", str(out)]
        assert main(argv) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and f"pid {holder.pid}" in err[0] and str(out) in err[0]
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing was written
