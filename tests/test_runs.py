"""run.json: written and read back from anywhere inside a run, refused when torn, and the settings it records win
over defaults but never silently over what a user typed (``runs.settle``; ``seekerlite sft --data RUN``)."""

from __future__ import annotations

import json

import pytest

from seekerlite.config import EnvConfig, StudentConfig
from seekerlite.runs import RUN_FILE, RunInfo, RunMismatchError, find_run, read_run, settle, write_run
from seekerlite.schema import SchemaError

PIPE_ENV = EnvConfig(overview_frames=2, frames_per_call=2, min_frames_per_call=2, max_tool_rounds=2)


def test_write_then_read_from_the_folder_a_file_or_a_subfolder(tmp_path):
    info = RunInfo("sft", env=PIPE_ENV, student=StudentConfig(lora_r=4), seed=3, data="x/sft.jsonl",
                   weights="adapter", config={"learning_rate": 1e-3})
    path = write_run(tmp_path / "run", info)
    assert path == tmp_path / "run" / RUN_FILE and not list((tmp_path / "run").glob("*.tmp"))  # atomic write
    assert "path" not in json.loads(path.read_text())  # filled in when read, never written
    (tmp_path / "run" / "adapter").mkdir()
    (tmp_path / "run" / "loss.json").write_text("{}")
    for where in ("run", "run/loss.json", "run/adapter", "run/adapter/not-yet-written.bin"):
        back = read_run(tmp_path / where)
        assert back.path == str(tmp_path / "run"), where
        assert (back.kind, back.env, back.student, back.seed, back.data, back.weights, back.config) == \
            ("sft", PIPE_ENV, StudentConfig(lora_r=4), 3, "x/sft.jsonl", "adapter", {"learning_rate": 1e-3})
        assert back.versions["python"] and back.versions["torch"]  # filled in by write_run


def test_find_run_stops_at_levels(tmp_path):
    write_run(tmp_path, RunInfo("pipeline", env=EnvConfig()))
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_run(tmp_path / "a" / "b") == tmp_path / RUN_FILE  # 2 levels up: the default
    assert find_run(deep) is None and read_run(deep) is None  # 3 levels up: not this run's
    assert find_run(deep, levels=3) == tmp_path / RUN_FILE
    assert find_run(tmp_path / "a", levels=0) is None and find_run(tmp_path, levels=0) == tmp_path / RUN_FILE
    assert read_run(tmp_path / "a" / "file.jsonl", levels=0) is None  # a file's own folder only


@pytest.mark.parametrize("text,match", [
    ('{"kind": "sft", "env": {"overview_fr', "unreadable"),  # torn: a crash mid-write (write_run never does this)
    ("[1, 2]", "JSON object"),
    ('{"kind": "sft"}', "env"),  # a missing field
    ('{"kind": "sft", "env": {}, "lr": 1}', "lr"),  # an unknown field
    ('{"kind": "sft", "env": {"frames_per_call": "four"}}', "frames_per_call"),  # a wrong type
    ('{"kind": "sft", "env": {"frames_per_call": 0}}', "frames_per_call"),  # an invalid value
])
def test_invalid_run_json_raises_schema_error_naming_the_file(tmp_path, text, match):
    (tmp_path / RUN_FILE).write_text(text)
    with pytest.raises(SchemaError, match=match) as info:
        read_run(tmp_path / "sft.jsonl")
    assert str(tmp_path / RUN_FILE) in str(info.value)


def test_settle_takes_unset_fields_from_the_run_and_refuses_a_contradiction():
    run = EnvConfig(overview_frames=2, frames_per_call=2, min_frames_per_call=2)
    given = EnvConfig(frames_per_call=3, max_tool_rounds=5)  # as parsed: defaults plus two flags
    assert settle(run, given, set(), "env", "runs/pipe") == run  # values not set on purpose: the run's
    assert settle(run, EnvConfig(frames_per_call=2), {"frames_per_call"}, "env", "runs/pipe") == run  # same: fine
    with pytest.raises(RunMismatchError) as info:
        settle(run, given, {"frames_per_call", "max_tool_rounds"}, "env", "runs/pipe")
    message = str(info.value)
    assert "env.frames_per_call" in message and "runs/pipe" in message and "--override" in message
    assert "env.max_tool_rounds" in message  # every differing field is named at once
    assert "overview_frames" not in message  # not set: not a contradiction
    forced = settle(run, given, {"frames_per_call", "max_tool_rounds"}, "env", "runs/pipe", override=True)
    assert (forced.frames_per_call, forced.max_tool_rounds, forced.overview_frames) == (3, 5, 2)
    student = settle(StudentConfig(model_id="tiny", lora_r=4), StudentConfig(model_id="runs/sft", lora_r=4),
                     {"lora_r"}, "student", "runs/sft", ignore=("model_id",))
    assert (student.model_id, student.lora_r) == ("runs/sft", 4)  # ignored fields always come from `given`


# ---------------------------------------------------------------------------------------------- sft --data RUN

@pytest.fixture(scope="module")
def pipeline_run(toy_dataset, tmp_path_factory):
    """A pipeline-like run folder: run.json (kind "pipeline", env frames_per_call=2) and sft/sft.jsonl of two
    oracle episodes played under that env."""
    import torch

    from seekerlite.policies import OraclePolicy, run_episodes
    from seekerlite.trajectory import save_chat_dataset

    torch.set_num_threads(1)
    samples, base = toy_dataset
    out = tmp_path_factory.mktemp("pipe")
    trajs = run_episodes(OraclePolicy(seed=0), samples[:2], PIPE_ENV, base_dir=str(base), progress=False)
    save_chat_dataset(trajs, out / "sft")
    write_run(out, RunInfo("pipeline", env=PIPE_ENV, seed=0))
    return out


def _sft_args(data, out, *more):
    return ["--data", str(data), "--out", str(out), "--max-steps", "1", "--save-steps", "100", "--batch-size", "1",
            *more]


def test_sft_takes_the_env_of_its_data_run(pipeline_run, tmp_path):
    from seekerlite.train.sft import main_sft

    assert main_sft(_sft_args(pipeline_run, tmp_path / "sft")) == 0
    info = read_run(tmp_path / "sft")
    assert info.env == PIPE_ENV and info.env.frames_per_call == 2  # not the default 4
    assert info.data == str(pipeline_run / "sft" / "sft.jsonl")


def test_sft_refuses_settings_that_contradict_its_data_run(pipeline_run, tmp_path, capsys):
    from seekerlite.cli import main
    from seekerlite.train.sft import main_sft

    with pytest.raises(RunMismatchError, match="env.frames_per_call"):
        main_sft(_sft_args(pipeline_run, tmp_path / "a", "--frames-per-call", "3"))
    assert not (tmp_path / "a").exists()  # refused before anything was written
    capsys.readouterr()
    assert main(["sft", *_sft_args(pipeline_run, tmp_path / "b", "--frames-per-call", "3")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert "env.frames_per_call" in err and str(pipeline_run) in err


def test_sft_override_uses_the_given_setting(pipeline_run, tmp_path):
    from seekerlite.train.sft import main_sft

    assert main_sft(_sft_args(pipeline_run, tmp_path, "--frames-per-call", "3", "--override")) == 0
    env = read_run(tmp_path).env
    assert env.frames_per_call == 3 and env.overview_frames == 2 and env.max_tool_rounds == 2  # the rest: the run's
