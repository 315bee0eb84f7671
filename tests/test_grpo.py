"""GRPO glue: dataset rows, splits, starting from an SFT run (its adapter goes on training), the real entry point with
tiny budgets, resume, curves."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("trl")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from seekerlite.config import EnvConfig, StudentConfig  # noqa: E402
from seekerlite.runs import RunMismatchError, read_run  # noqa: E402
from seekerlite.train.curves import curves_from_history, plot_grpo_curves  # noqa: E402
from seekerlite.train.grpo import (  # noqa: E402
    GRPORunConfig, build_rows, config_from_argv, load_policy, load_samples, main_grpo, settle_with_runs,
)
from seekerlite.train.mc_vs_oe import mc_vs_oe_table  # noqa: E402

TINY_RUN = ["--toy-clips", "3", "--num-generations", "2", "--batch-size", "2", "--max-reply-tokens", "32",
            "--tool-rounds", "1", "--overview-frames", "2", "--eval-samples", "2", "--save-steps", "2"]
SFT_ENV = EnvConfig(overview_frames=2, frames_per_call=2, min_frames_per_call=2, max_tool_rounds=1)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: the tiny model gains little from two, and on a busy machine two are several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sft_runs(toy_dataset, tmp_path_factory):
    """Two one-step SFT runs on oracle episodes: {"lora": (folder, summary), "full": (folder, summary)}."""
    from seekerlite.policies import OraclePolicy, run_episodes
    from seekerlite.train.sft import SFTRunConfig, train_sft
    from seekerlite.trajectory import save_chat_dataset

    samples, base = toy_dataset
    trajs = run_episodes(OraclePolicy(seed=0), samples[:2], SFT_ENV, base_dir=str(base), progress=False)
    data = save_chat_dataset(trajs, tmp_path_factory.mktemp("sft_data"))
    runs = {}
    for name, lora_r in (("lora", 2), ("full", None)):
        out = tmp_path_factory.mktemp(f"sft_{name}")
        cfg = SFTRunConfig(data=str(data), output_dir=str(out), student=StudentConfig(lora_r=lora_r), env=SFT_ENV,
                           max_steps=1, save_steps=100, logging_steps=1, learning_rate=5e-3, warmup_steps=0)
        runs[name] = out, train_sft(cfg)
    return runs


def test_rows_are_trl_vlm_rows_that_reset_the_env(toy_dataset):
    from seekerlite.env import VideoSeekerEnv

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
    assert cfg.student.model_id == "tiny" and cfg.student.lora_r is None  # the tiny model: every weight trained


def test_cli_flags_map_to_config():
    cfg, explicit, extra = config_from_argv(["--max-steps", "7", "--lora-r", "none", "--out", "x",
                                             "--call-penalty", "0.1", "--judge", "rule", "--beta", "0"])
    assert (cfg.max_steps, cfg.student.lora_r, cfg.output_dir, cfg.rewards.call_penalty, cfg.beta) == (7, None, "x", 0.1, 0.0)
    assert explicit == {"max_steps", "student.lora_r", "output_dir", "rewards.call_penalty", "rewards.judge", "beta"}
    assert extra == {"experiment": "train", "plot": None, "override": False}
    assert cfg.num_generations == GRPORunConfig().num_generations  # flags not given keep defaults


def test_curves_from_history(tmp_path):
    hist = [{"step": i, "reward": 0.1 * i, "rewards/accuracy/mean": 0.1, "rewards/format/mean": 0.5,
             "rewards/parsimony/mean": 0.2, "kl": 0.01 * i, "episode/tool_calls": 1.0, "episode/frames": 4.0,
             "completions/mean_length": 50.0, "loss": 0.0} for i in range(1, 4)] + [{"train_runtime": 1.0, "step": 3}]
    steps, series = curves_from_history(hist)
    assert steps == [1.0, 2.0, 3.0] and series["total reward"] == pytest.approx([0.1, 0.2, 0.3])
    assert {"accuracy reward", "format reward", "parsimony reward", "drift from the starting model (KL)",
            "tool calls per episode", "frames seen per episode"} <= set(series)
    assert plot_grpo_curves(hist, tmp_path / "c.png").stat().st_size > 1000
    table = mc_vs_oe_table({"start": {"oe": {"accuracy": 0.1, "total": 0.2, "tool_calls": 1, "frames": 4}, "mc": {"accuracy": 0.3}}})
    assert "| start | 0.100 | 0.300 |" in table


def _trained(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_start_from_an_sft_lora_run_keeps_training_its_adapter(sft_runs, tmp_path):
    """``--model <SFT LoRA run>``: the run's env and LoRA settings are taken, its adapter is loaded trainable (no
    merge), and at step 0 its LoRA weights are exactly the SFT adapter's."""
    import torch
    from peft import PeftModel

    folder, summary = sft_runs["lora"]
    cfg, explicit, _ = config_from_argv(["--model", str(folder), "--out", str(tmp_path)])
    cfg = settle_with_runs(cfg, explicit)
    assert cfg.env == SFT_ENV and cfg.student.lora_r == 2 and cfg.student.model_id == str(folder)
    policy = load_policy(cfg).model
    assert isinstance(policy, PeftModel)
    start, sft = _trained(policy), _trained(summary["trainer"].model)
    assert start and all("lora_" in n for n in start) and start.keys() == sft.keys()
    assert all(torch.equal(start[n], sft[n]) for n in sft)
    assert any(p.abs().sum() > 0 for n, p in start.items() if "lora_B" in n)  # SFT moved B off its zero init
    with pytest.raises(RunMismatchError, match="student.lora_r"):  # a different adapter rank is refused
        settle_with_runs(*config_from_argv(["--model", str(folder), "--lora-r", "8"])[:2])


def test_start_from_a_full_sft_run_trains_every_weight(sft_runs, tmp_path):
    import torch
    from peft import PeftModel

    folder, summary = sft_runs["full"]
    cfg, explicit, _ = config_from_argv(["--init-from", str(folder), "--out", str(tmp_path)])
    cfg = settle_with_runs(cfg, explicit)
    assert cfg.env == SFT_ENV and cfg.student.lora_r is None
    policy = load_policy(cfg).model
    assert not isinstance(policy, PeftModel) and policy.training
    assert all(p.requires_grad for p in policy.parameters())
    start, sft = _trained(policy), _trained(summary["trainer"].model)
    assert start.keys() == sft.keys() and all(torch.equal(start[n], sft[n]) for n in sft)


def test_a_folder_without_weights_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trained weights"):
        load_policy(GRPORunConfig(student=StudentConfig(model_id=str(tmp_path)), output_dir=str(tmp_path / "r")))


def test_entry_point_from_an_sft_run_records_its_parent(sft_runs, tmp_path):
    folder, _ = sft_runs["lora"]
    out = tmp_path / "grpo"
    assert main_grpo(["--model", str(folder), "--toy-clips", "2", "--num-generations", "2", "--batch-size", "2",
                      "--max-reply-tokens", "24", "--eval-samples", "0", "--max-steps", "1",
                      "--save-steps", "100", "--out", str(out)]) == 0
    info = read_run(out)
    assert (info.kind, info.parent, info.weights, info.student.lora_r) == ("grpo", str(folder), "adapter", 2)
    assert info.env == SFT_ENV and (out / "adapter" / "adapter_config.json").exists()


def test_entry_point_trains_logs_checkpoints_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    assert main_grpo(TINY_RUN + ["--lora-r", "4", "--max-steps", "2", "--out", str(out)]) == 0
    hist = json.loads((out / "log_history.json").read_text())
    logged = set().union(*hist)
    for key in ("rewards/accuracy/mean", "rewards/format/mean", "rewards/parsimony/mean", "reward", "kl",
                "episode/tool_calls", "episode/frames", "episode/answer_chars", "completions/mean_length"):
        assert key in logged, key
    assert (out / "checkpoint-2").is_dir() and (out / "adapter" / "adapter_config.json").exists()
    assert (out / "curves.png").stat().st_size > 1000
    info = read_run(out)
    assert (info.kind, info.weights, info.parent, info.env.max_tool_rounds) == ("grpo", "adapter", None, 1)
    summary = json.loads((out / "summary.json").read_text())
    assert {"total", "accuracy", "format", "parsimony", "tool_calls", "frames"} <= set(summary["after"]["held_out"])
    assert "held_out: total" in capsys.readouterr().out

    assert main_grpo(TINY_RUN + ["--lora-r", "4", "--max-steps", "3", "--out", str(out), "--resume"]) == 0
    hist = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in hist if "reward" in h] == [1, 2, 3]  # steps 1-2 restored, step 3 trained
    assert json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2
