"""GRPO glue: dataset rows, splits, init from an SFT adapter, the real entry point with tiny budgets, resume, curves."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("trl")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from seekerlite.train.grpo import (  # noqa: E402
    GRPORunConfig, build_parser, build_rows, config_from_args, curves_from_history, load_samples, main_grpo,
    mc_vs_oe_table, plot_grpo_curves, prepare_init_model,
)

TINY_RUN = ["--toy-clips", "3", "--num-generations", "2", "--per-device-train-batch-size", "2",
            "--max-completion-length", "96", "--max-turns", "2", "--overview-frames", "2", "--eval-samples", "2",
            "--save-steps", "2", "--lora-r", "4"]


def test_rows_are_trl_vlm_rows_that_reset_the_env(toy_dataset):
    from seekerlite.env import EnvConfig, VideoSeekerEnv

    samples, base = toy_dataset
    rows = build_rows(samples[:2], base, EnvConfig(overview_frames=3))
    for row, s in zip(rows, samples):
        placeholders = [p for m in row["prompt"] for p in m["content"] if p["type"] == "image"]
        assert len(placeholders) == len(row["images"]) == 1 + 3  # marked frame + overview
        assert all("image" not in p for p in placeholders)  # TRL fills the images in
        env = VideoSeekerEnv()
        assert env.reset(**row) is None and env.sample.id == s.id  # TRL's reset(**row): extra columns ignored
        assert row["answer"] == s.answer and row["options"] == s.options


def test_split_is_by_clip_and_form(tmp_path):
    cfg = GRPORunConfig(output_dir=str(tmp_path), toy_clips=4, form="mc")
    train, held, _ = load_samples(cfg)
    assert train and held and all(s.is_mc for s in train)
    assert not {s.video_path for s in train} & {s.video_path for s in held}
    oe_train, _, _ = load_samples(GRPORunConfig(output_dir=str(tmp_path), toy_clips=4, form="oe"))
    assert {s.id.rsplit("-", 1)[0] for s in oe_train} == {s.id.rsplit("-", 1)[0] for s in train}  # same questions


def test_defaults_run_a_group_per_step():
    cfg = GRPORunConfig()
    assert cfg.per_device_train_batch_size % cfg.num_generations == 0 and cfg.num_generations >= 2
    assert cfg.rewards.weights == [0.8, 0.15, 0.05]


def test_cli_flags_map_to_config():
    args = build_parser().parse_args(["--max-steps", "7", "--lora-r", "none", "--out", "x", "--call-penalty", "0.1",
                                      "--judge", "rule", "--beta", "0"])
    cfg = config_from_args(args)
    assert (cfg.max_steps, cfg.lora_r, cfg.output_dir, cfg.rewards.call_penalty, cfg.beta) == (7, None, "x", 0.1, 0.0)
    assert cfg.num_generations == GRPORunConfig().num_generations  # flags not given keep defaults


def test_curves_from_history(tmp_path):
    hist = [{"step": i, "reward": 0.1 * i, "rewards/accuracy/mean": 0.1, "rewards/format/mean": 0.5,
             "rewards/parsimony/mean": 0.2, "kl": 0.01 * i, "episode/tool_calls": 1.0, "episode/frames": 4.0,
             "completions/mean_length": 50.0, "loss": 0.0} for i in range(1, 4)] + [{"train_runtime": 1.0, "step": 3}]
    steps, series = curves_from_history(hist)
    assert steps == [1.0, 2.0, 3.0] and series["total reward"] == pytest.approx([0.1, 0.2, 0.3])
    assert {"accuracy", "format", "parsimony", "KL to start", "tool calls / episode", "frames / episode"} <= set(series)
    assert plot_grpo_curves(hist, tmp_path / "c.png").stat().st_size > 1000
    table = mc_vs_oe_table({"start": {"oe": {"accuracy": 0.1, "total": 0.2, "tool_calls": 1, "frames": 4}, "mc": {"accuracy": 0.3}}})
    assert "| start | 0.100 | 0.300 |" in table


def test_init_from_sft_adapter_is_merged(tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    from seekerlite.models import TINY_MODEL_ID, load_student

    student = load_student(TINY_MODEL_ID, lora=None, load_in_4bit=False)
    peft = get_peft_model(student.model, LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    peft.save_pretrained(tmp_path / "sft")
    student.processor.save_pretrained(tmp_path / "sft")
    merged_ref = {k: v.clone() for k, v in peft.merge_and_unload().state_dict().items()}
    path = prepare_init_model(GRPORunConfig(init_from=str(tmp_path / "sft"), output_dir=str(tmp_path / "run")))
    assert Path(path, "config.json").exists() and Path(path) == (tmp_path / "run" / "init_merged").resolve()
    merged = load_student(path, lora=None, load_in_4bit=False).model.state_dict()
    k = next(k for k in merged_ref if "q_proj.weight" in k)
    assert torch.allclose(merged[k], merged_ref[k])
    with pytest.raises(FileNotFoundError):
        prepare_init_model(GRPORunConfig(init_from=str(tmp_path), output_dir=str(tmp_path / "r2")))


def test_entry_point_trains_logs_checkpoints_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    assert main_grpo(TINY_RUN + ["--max-steps", "2", "--out", str(out)]) == 0
    hist = json.loads((out / "log_history.json").read_text())
    logged = set().union(*hist)
    for key in ("rewards/accuracy/mean", "rewards/format/mean", "rewards/parsimony/mean", "reward", "kl",
                "episode/tool_calls", "episode/frames", "episode/answer_chars", "completions/mean_length"):
        assert key in logged, key
    assert (out / "checkpoint-2").is_dir() and (out / "adapter" / "adapter_config.json").exists()
    assert (out / "curves.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert {"total", "accuracy", "format", "parsimony", "tool_calls", "frames"} <= set(summary["after"]["held_out"])
    assert "held_out: total" in capsys.readouterr().out

    assert main_grpo(TINY_RUN + ["--max-steps", "3", "--out", str(out), "--resume-from-checkpoint", "latest"]) == 0
    hist = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in hist if "reward" in h] == [1, 2, 3]  # steps 1-2 restored, step 3 trained
    assert json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2
