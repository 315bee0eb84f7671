"""The README's one-by-one recipe through the real command line, at tiny sizes: `pipeline run` -> `sft` -> `grpo`
-> `eval`. Environment settings given once (to the pipeline) reach every later step through the run folders'
run.json, so the step-by-step commands play the same episodes the demo plays."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from seekerlite.cli import main
from seekerlite.config import EnvConfig

pytestmark = pytest.mark.slow

ENV_FLAGS = ["--overview-frames", "2", "--frames-per-call", "2", "--min-frames-per-call", "2", "--tool-rounds", "2"]
TINY_PIPELINE = {
    "sources": [{"kind": "toyworld", "n_clips": 3, "seed": 0, "name": "toyworld"}],
    "filter": {"scorer": None},
    "curate": {"policy": "noisy-oracle:0.5", "k": 2},
}


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("recipe")
    config = root / "pipeline.json"
    config.write_text(json.dumps(TINY_PIPELINE))
    pipe, sft, grpo, ev = (root / n for n in ("pipe", "sft", "grpo", "eval"))
    assert main(["pipeline", "run", "--config", str(config), "--out", str(pipe), "--quiet", *ENV_FLAGS]) == 0
    assert main(["sft", "--data", str(pipe), "--out", str(sft), "--max-steps", "2", "--logging-steps", "1"]) == 0
    assert main(["grpo", "--model", str(sft), "--data", str(pipe), "--out", str(grpo), "--max-steps", "1",
                 "--num-generations", "2", "--batch-size", "2", "--eval-samples", "1", "--eval-rollouts", "1",
                 "--max-reply-tokens", "24", "--save-steps", "100"]) == 0
    assert main(["eval", "--model", str(grpo), "--data", "toy:1@7", "--out", str(ev), "--max-samples", "2",
                 "--n-bootstrap", "0", "--max-new-tokens", "16"]) == 0
    return {"pipeline": pipe, "sft": sft, "grpo": grpo, "eval": ev}


def test_every_step_saw_the_environment_given_to_the_pipeline(recipe):
    want = asdict(EnvConfig(overview_frames=2, frames_per_call=2, min_frames_per_call=2, max_tool_rounds=2))
    envs = {step: json.loads((folder / "run.json").read_text())["env"] for step, folder in recipe.items()}
    assert all(env == want for env in envs.values()), envs
    results = json.loads((recipe["eval"] / "results.json").read_text())
    assert results["config"]["env"] == want  # the evaluation played under the run's settings
    assert results["scoring_rule"] == "seekerlite"


def test_each_run_names_what_it_came_from(recipe):
    sft = json.loads((recipe["sft"] / "run.json").read_text())
    grpo = json.loads((recipe["grpo"] / "run.json").read_text())
    ev = json.loads((recipe["eval"] / "run.json").read_text())
    assert sft["kind"] == "sft" and sft["data"].endswith("sft.jsonl") and sft["weights"] == "."
    assert grpo["kind"] == "grpo" and grpo["parent"] == str(recipe["sft"]) and grpo["weights"] == "model"
    assert ev["kind"] == "eval" and ev["parent"] == str(recipe["grpo"])
    assert {"torch", "transformers", "trl", "python"} <= set(sft["versions"])


def test_a_later_step_refuses_settings_that_contradict_the_run(recipe, tmp_path, capsys):
    code = main(["eval", "--model", str(recipe["grpo"]), "--data", "toy:1@7", "--out", str(tmp_path / "e"),
                 "--frames-per-call", "3", "--max-samples", "1", "--n-bootstrap", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "frames_per_call" in err and "--override" in err
    assert not (tmp_path / "e" / "results.json").exists()  # refused before any work
