"""Multi-process TRL: ``accelerate launch`` with seekerlite/configs/accelerate/cpu_2proc.yaml runs ``seekerlite sft``
and ``seekerlite grpo`` on 2 CPU processes (gloo) with the tiny student, and the curves keep the shape of a
one-process run. Tiny sizes: the two launches take most of this file's time (process start-up, not training)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seekerlite.config import EnvConfig

pytestmark = pytest.mark.slow  # two 2-process launches + 1-process references: ~90 s CPU (220 s wall at load 7 on 2 cores)
ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "seekerlite" / "configs" / "accelerate"
ENV = EnvConfig(overview_frames=2, frames_per_call=2, min_frames_per_call=2, max_tool_rounds=1)
ENV_FLAGS = ["--overview-frames", "2", "--frames-per-call", "2", "--min-frames-per-call", "2", "--tool-rounds", "1"]


def _launch(command: list[str], tmp: Path) -> subprocess.CompletedProcess:
    accelerate = Path(sys.executable).with_name("accelerate")
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    cmd = [str(accelerate), "launch", "--config_file", str(CONFIGS / "cpu_2proc.yaml"), "--num_processes", "2",
           "--main_process_port", str(29500 + os.getpid() % 1000), "-m", "seekerlite.cli", *command]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp, env=env, check=False)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-4000:])
    return r


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """An SFT chat dataset (oracle episodes) and RL samples, both from one 1-clip toy world."""
    from seekerlite.train.sft import make_toy_sft_data

    tmp = tmp_path_factory.mktemp("acc")
    sft = make_toy_sft_data(tmp / "sft_data", n_clips=1, seed=0, env=ENV)
    return tmp, sft, next((tmp / "sft_data").glob("toy-*/*.jsonl"))


def test_configs_are_valid_accelerate_configs():
    from accelerate.commands.config.config_args import load_config_from_file

    kinds = {}
    for name in ("cpu_2proc", "multi_gpu", "zero2", "zero3"):
        text = (CONFIGS / f"{name}.yaml").read_text()
        cfg = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
        kinds[name] = (cfg.distributed_type, yaml.safe_load(text).get("deepspeed_config", {}).get("zero_stage"))
    assert {k: (str(t).split(".")[-1], z) for k, (t, z) in kinds.items()} == {
        "cpu_2proc": ("MULTI_GPU", None), "multi_gpu": ("MULTI_GPU", None), "zero2": ("DEEPSPEED", 2),
        "zero3": ("DEEPSPEED", 3)}


def test_sft_on_two_processes_keeps_the_one_process_curve(data):
    from seekerlite.train.sft import main_sft

    tmp, sft, _ = data
    flags = ["--data", str(sft), "--max-steps", "4", "--batch-size", "2", "--lr", "3e-3", "--logging-steps", "1",
             "--save-steps", "100", *ENV_FLAGS]
    r = _launch(["sft", *flags, "--out", str(tmp / "sft2")], tmp)
    assert r.stdout.count('"steps": 4') == 2  # both ranks ran the 4 steps
    assert main_sft([*flags, "--out", str(tmp / "sft1")]) == 0
    two, one = (json.loads((tmp / f"sft{n}" / "loss.json").read_text())["loss"] for n in (2, 1))
    assert len(two) == len(one) == 4 and all(math.isfinite(x) and x > 0 for x in two + one)
    assert two[-1] < two[0] and one[-1] < one[0]  # both fall
    assert two[0] == pytest.approx(one[0], rel=0.05)  # the same start (the untrained model on other episodes)
    assert (two[0] - two[-1]) == pytest.approx(one[0] - one[-1], rel=0.5)  # and about the same drop


def test_grpo_on_two_processes_runs_and_logs_finite_curves(data):
    from seekerlite.train.grpo import main_grpo

    tmp, _, samples = data
    flags = ["--data", str(samples), "--num-generations", "2", "--batch-size", "2", "--max-reply-tokens", "24",
             "--eval-samples", "0", "--save-steps", "100", "--lora-r", "4", "--max-steps", "2", "--logging-steps", "1",
             *ENV_FLAGS]
    _launch(["grpo", *flags, "--out", str(tmp / "grpo2")], tmp)
    assert main_grpo([*flags, "--out", str(tmp / "grpo1")]) == 0
    curves = {}
    for n in (2, 1):
        rows = [h for h in json.loads((tmp / f"grpo{n}" / "log_history.json").read_text()) if "loss" in h]
        assert [h["step"] for h in rows] == [1, 2]
        assert all(math.isfinite(h[k]) for h in rows for k in ("loss", "reward", "kl", "entropy"))
        curves[n] = rows
    # the same policy at the start: its sampled replies have the same entropy on one or two processes
    assert curves[2][0]["entropy"] == pytest.approx(curves[1][0]["entropy"], rel=0.05)
    assert (curves[2][-1]["loss"] - curves[2][0]["loss"]) == pytest.approx(
        curves[1][-1]["loss"] - curves[1][0]["loss"], abs=0.5)
