"""The QLoRA path on a CPU: the tiny student in NF4 (bitsandbytes), one SFT and one GRPO step through the trainers'
own code (``--backend bnb-4bit``), and a GRPO step with the real Qwen3-VL processor's pixel limits (~100 tokens
per frame) in which every tool result reaches the model and the budget predicts the lengths TRL saw. Also: the
settings real checkpoints get (checkpointing, pad suppression) and unsloth's import order and mode switches,
with a fake ``unsloth``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("bitsandbytes")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from seekerlite.config import EnvConfig, StudentConfig


from trl_cpu import CPU_STEPS  # noqa: E402

NF4 = StudentConfig(backend="bnb-4bit", load_in_4bit=True, lora_r=8, device="cpu")
ENV = EnvConfig(overview_frames=2, frames_per_call=4, min_frames_per_call=4, max_tool_rounds=3,
                max_pixels=336 * 336, overview_max_pixels=224 * 224)
CROP = '<think>Look closer.</think>\n<tool_call>\n{{"name": "crop_video", "arguments": {{"start_time": {a}, "end_time": {b}}}}}\n</tool_call>'
VIEW = '<think>The mark again.</think>\n<tool_call>\n{"name": "view_visual_prompt", "arguments": {}}\n</tool_call>'
ANSWER = "<think>Done.</think><answer>B</answer>"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_nf4_student_loads_on_the_requested_cpu():
    import bitsandbytes as bnb

    from seekerlite.models import load_student

    st = load_student(NF4)
    linear4 = [m for m in st.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert st.backend == "bnb-4bit" and st.device == "cpu" and linear4
    assert {p.device.type for p in st.model.parameters()} == {"cpu"}
    trainable = [n for n, p in st.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


@CPU_STEPS
def test_one_sft_step_in_nf4(tmp_path):
    from seekerlite.train.sft import SFTRunConfig, make_toy_sft_data, train_sft

    env = replace(ENV, max_pixels=128 * 128, overview_max_pixels=128 * 128, max_tool_rounds=1)
    data = make_toy_sft_data(tmp_path / "data", n_clips=1, seed=0, env=env)
    cfg = SFTRunConfig(student=NF4, env=env, data=str(data), output_dir=str(tmp_path / "sft"), max_steps=1,
                       per_device_train_batch_size=1, save_steps=10_000, gradient_checkpointing=True,
                       logging_steps=1)
    summary = train_sft(cfg)
    assert summary["steps"] == 1 and summary["backend"] == "bnb-4bit" and summary["loss_first"] is not None
    assert (Path(summary["adapter_dir"]) / "adapter_config.json").is_file()
    # merging loads the base unquantized in the compute dtype (float32 on a CPU), never the NF4 base
    import bitsandbytes as bnb

    from seekerlite.models.loading import merge_adapter

    merged = merge_adapter(summary["adapter_dir"], NF4)
    assert not any(isinstance(m, bnb.nn.Linear4bit) for m in merged.modules())
    assert {p.dtype for p in merged.parameters()} == {torch.float32} and not hasattr(merged, "peft_config")


@pytest.fixture(scope="module")
def scripted_grpo(toy_dataset, tmp_path_factory):
    """One GRPO step of the NF4 tiny student with Qwen3-VL's shipped image-processor limits; the sampler replays
    a crop, a crop, a view and an answer (everything else is TRL's tool loop and our env)."""
    from test_budget import real_qwen3_vl_image_processor

    from seekerlite.models import load_student
    from seekerlite.train.grpo import GRPORunConfig, build_rows, make_trainer

    samples, base = toy_dataset
    student = load_student(NF4)
    student.processor.image_processor = real_qwen3_vl_image_processor()
    cfg = GRPORunConfig(student=NF4, env=ENV, per_device_train_batch_size=2, num_generations=2, max_steps=1,
                        output_dir=str(tmp_path_factory.mktemp("grpo")), save_steps=10_000, beta=0.0,
                        max_reply_tokens=64, gradient_checkpointing=True)
    rows = build_rows(samples[:1], base, ENV)
    trainer = make_trainer(cfg, student, rows)
    tok = student.processor.tokenizer
    end = [tok.convert_tokens_to_ids("<|im_end|>")]
    replies = [tok.encode(t, add_special_tokens=False) + end
               for t in (CROP.format(a=1.0, b=3.0), CROP.format(a=0.0, b=2.0), VIEW, ANSWER)]
    turn = {"n": 0}

    def fake_generate(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        ids = replies[min(turn["n"], 3)]
        turn["n"] += 1
        return [list(ids) for _ in prompt_ids], None

    trainer._generate_single_turn = fake_generate
    out = trainer._generate_and_score_completions([rows_ds(trainer)[0]] * 2)
    return trainer, out, replies, cfg, student


def rows_ds(trainer):
    return trainer.train_dataset


def test_every_tool_result_reached_the_model_and_the_budget_predicted_it(scripted_grpo, toy_dataset):
    from seekerlite.budget import TextCosts, VisionRule, count_dropped, episode_budget
    from seekerlite.train.grpo import episode_budget_of

    trainer, out, replies, cfg, student = scripted_grpo
    budget = episode_budget_of(cfg, student.processor)
    assert trainer.args.max_completion_length == budget.completion_tokens
    assert 100 <= budget.tokens_per_frame <= 110  # the real limits, lowered to the env's 336^2 by fit_processor
    tok = student.processor.tokenizer
    pad = tok.convert_tokens_to_ids("<|image_pad|>")
    w, h = trainer.environments[0].video_info.width, trainer.environments[0].video_info.height
    rule = VisionRule.from_processor(student.processor)
    per_frame = rule.frame_tokens(ENV.max_pixels, (w, h))
    text = TextCosts.from_processor(student.processor)
    exact = episode_budget(ENV, rule, text, reply_tokens=max(map(len, replies)) - 1, frame_size=(w, h))
    for i, env in enumerate(trainer.environments):
        assert [r.name for r in env.log] == ["crop_video", "crop_video", "view_visual_prompt"] and all(r.ok for r in env.log)
        ids, mask = out["completion_ids"][i].tolist(), out["tool_mask"][i].tolist()
        n = int(out["completion_mask"][i].sum())
        ids, mask = ids[:n], mask[:n]
        # every served frame's visual tokens are in the completion: 4 + 4 crop frames + the marked frame
        assert ids.count(pad) == sum(len(r.timestamps) for r in env.log[:2]) * per_frame + rule.frame_tokens(
            ENV.max_pixels, (w, h))
        assert ids[-len(replies[3]):] == replies[3]  # the answer after the last tool result
        # tool-result runs (tool_mask 0): each within the budget's largest result, short only by header text
        runs, cur = [], 0
        for m in mask + [1]:
            if m == 0:
                cur += 1
            elif cur:
                runs.append(cur)
                cur = 0
        assert len(runs) == 3 and max(runs) <= exact.tool_result_tokens
        crop_pred = text.tool_wrap + text.crop_header + 4 * exact.frame_tokens
        assert 0 <= crop_pred - runs[0] <= text.crop_header  # only the header's worst-case text is slack
        assert n <= exact.completion_tokens <= budget.completion_tokens
    assert count_dropped(trainer.environments, [[{"role": "tool"}] * 3] * 2) == [0, 0]


def test_a_too_short_explicit_length_is_refused(scripted_grpo):
    from seekerlite.train.grpo import grpo_config

    _, _, _, cfg, student = scripted_grpo
    with pytest.raises(ValueError, match="too small for one tool round"):
        grpo_config(replace(cfg, max_completion_length=384), student.processor)


def test_a_length_that_cuts_a_tool_result_is_logged(scripted_grpo, toy_dataset):
    """Long enough for one round, too short for three: TRL drops the later tool results without a word; our
    reward wrapper sees the environment served them and logs ``episode/tool_results_dropped``."""
    from seekerlite.budget import dropped_tool_results
    from seekerlite.train.grpo import build_rows, episode_budget_of, make_trainer

    _, _, replies, cfg, student = scripted_grpo
    b = episode_budget_of(cfg, student.processor)
    samples, base = toy_dataset
    rows = build_rows(samples[:1], base, ENV)
    trainer = make_trainer(replace(cfg, max_completion_length=b.min_completion_tokens), student, rows)
    assert trainer.args.max_completion_length == b.min_completion_tokens
    turn = {"n": 0}

    def fake_generate(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        ids = replies[min(turn["n"], 3)]
        turn["n"] += 1
        return [list(ids) for _ in prompt_ids], None

    trainer._generate_single_turn = fake_generate
    before = dropped_tool_results()["tool_results_dropped"]
    trainer._generate_and_score_completions([trainer.train_dataset[0]] * 2)
    (mean_dropped,) = trainer._metrics["train"]["episode/tool_results_dropped"]  # TRL's per-step mean
    served = [len(env.log) for env in trainer.environments]
    assert all(n >= 2 for n in served)  # the env ran the second crop; TRL then rolled its result back
    counted = dropped_tool_results()["tool_results_dropped"] - before
    assert mean_dropped >= 1 and counted == mean_dropped * len(served)


def test_real_checkpoint_settings_and_pad_suppression(scripted_grpo):
    from seekerlite.models.compat import vision_pad_ids
    from seekerlite.policies import HFPolicy
    from seekerlite.train.grpo import GRPORunConfig
    from seekerlite.train.sft import SFTRunConfig

    trainer, _, _, _, student = scripted_grpo
    pads = set(vision_pad_ids(student.processor))
    assert len(pads) == 2 and pads <= set(trainer.generation_kwargs["suppress_tokens"])
    assert set(HFPolicy(student.model, student.processor).gen_kwargs["suppress_tokens"]) == pads
    for model, micro in [("Qwen/Qwen3-VL-2B-Instruct", 4), ("Qwen/Qwen3-VL-4B-Instruct", 2), ("Qwen/Qwen3-VL-8B-Instruct", 1)]:
        g, s = GRPORunConfig.for_model(model), SFTRunConfig.for_model(model)
        assert g.gradient_checkpointing and s.gradient_checkpointing
        assert g.per_device_train_batch_size == micro and micro * g.gradient_accumulation_steps == g.num_generations
        assert g.max_completion_length is None and s.max_length is None  # derived from the budget at run time
    assert not GRPORunConfig.for_model("tiny").gradient_checkpointing


FAKE_UNSLOTH = '''
import json, os, sys
with open(os.environ["FAKE_UNSLOTH_LOG"], "a") as f:
    f.write(json.dumps({"imported_before": sorted(m for m in ("transformers", "trl", "peft") if m in sys.modules)}) + "\\n")
raise RuntimeError("fake unsloth: the run stops here")  # what came before is what this test checks
'''


def test_unsloth_is_imported_before_transformers(tmp_path):
    pkg = tmp_path / "fake" / "unsloth"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(FAKE_UNSLOTH)
    log = tmp_path / "log.jsonl"
    code = textwrap.dedent(f"""
        from seekerlite.config import StudentConfig
        from seekerlite.train.grpo import GRPORunConfig, train_grpo
        cfg = GRPORunConfig(student=StudentConfig(backend="unsloth", device="cuda"), toy_clips=1,
                            output_dir={str(tmp_path / "run")!r}, eval_samples=0)
        try:
            train_grpo(cfg)
        except RuntimeError as e:
            assert "fake unsloth" in str(e), e
        """)
    env = dict(os.environ, PYTHONPATH=f"{tmp_path / 'fake'}:{os.environ.get('PYTHONPATH', '')}",
               FAKE_UNSLOTH_LOG=str(log), OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)
    (first,) = [json.loads(x) for x in log.read_text().splitlines()]
    assert first["imported_before"] == []


def test_unsloth_modes_switch_around_evaluation(monkeypatch):
    from seekerlite.models.loading import inference_mode

    calls: list[str] = []
    fake = types.ModuleType("unsloth")
    fake.FastVisionModel = types.SimpleNamespace(for_inference=lambda m: calls.append("inference"),
                                                 for_training=lambda m: calls.append("training"))
    monkeypatch.setitem(sys.modules, "unsloth", fake)
    model = torch.nn.Linear(2, 2).train()
    with inference_mode(model, "unsloth"):
        calls.append("generate")
    assert calls == ["inference", "generate", "training"] and model.training
    calls.clear()
    with inference_mode(model, "full"):
        assert not model.training
    assert calls == [] and model.training


@CPU_STEPS
def test_gpu_check_dry_run_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.py's CPU mode: every phase runs through the same code and prints one JSON line."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    out = tmp_path / "check.jsonl"
    assert gpu_check.main(["--dry-run", "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["phase"] for x in lines] == ["load", "sft_step", "grpo_step", "generate"]
    grpo = lines[2]
    assert grpo["tool_results_dropped"] == 0 and grpo["plan_gib"] > 0 and lines[1]["tokens"] > 0
    assert all(x["backend"] == "bnb-4bit" and "trl" in x["versions"] for x in lines)
