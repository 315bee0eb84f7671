"""VideoSeekerEnv drives TRL's own multi-turn tool loop, unchanged.

A real ``GRPOTrainer(environment_factory=VideoSeekerEnv)`` on the tiny Qwen3-VL; only the sampler is scripted
(``_generate_single_turn`` returns fixed token ids: first a ``crop_video`` call, then an ``<answer>``), so
everything else is TRL's: parsing the tool call, calling our env, appending the tool message with our images,
tokenizing it, building ``tool_mask``, processing the images, scoring.
"""

from __future__ import annotations

import functools
import json
import os

import pytest
from trl_cpu import CPU_STEPS

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

TOOL_TEXT = ('<think>Look at 1-3 seconds around the marked object.</think>\n<tool_call>\n'
             '{"name": "crop_video", "arguments": {"start_time": 1, "end_time": 3.0, "region": [100, 100, 600, 700]}}'
             '\n</tool_call>')
ANSWER_TEXT = "<think>It turns blue.</think><answer>B</answer>"


@pytest.fixture(scope="module")
def trainer_and_batch(toy_dataset, tmp_path_factory):
    from trl import GRPOConfig, GRPOTrainer

    from seekerlite.config import EnvConfig, StudentConfig
    from seekerlite.env import VideoSeekerEnv
    from seekerlite.models import load_student
    from seekerlite.train.grpo import build_rows, rows_to_dataset

    samples, base = toy_dataset
    env_cfg = EnvConfig(overview_frames=2, frames_per_call=4, max_tool_rounds=3)
    ds = rows_to_dataset(build_rows(samples[:1], base, env_cfg))
    student = load_student(StudentConfig(device="cpu"))  # the tiny model, every weight trainable (lora_r=None)
    assert student.model.training and all(p.requires_grad for p in student.model.parameters())
    args = GRPOConfig(output_dir=str(tmp_path_factory.mktemp("grpo")), per_device_train_batch_size=2,
                      num_generations=2, max_completion_length=400,
                      max_tool_calling_iterations=env_cfg.max_tool_rounds, max_steps=1,
                      report_to=[], use_cpu=True, save_strategy="no", logging_steps=1, learning_rate=1e-3)
    calls: list[dict] = []

    def reward_len(completions, **kwargs):  # a trivial reward: the loop, not the reward, is under test
        return [float(len(c)) for c in completions]

    trainer = GRPOTrainer(model=student.model, processing_class=student.processor, reward_funcs=[reward_len],
                          args=args, train_dataset=ds,
                          environment_factory=functools.partial(VideoSeekerEnv, env_cfg))
    tok = student.processor.tokenizer
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    scripted = {"tool": tok.encode(TOOL_TEXT, add_special_tokens=False) + [im_end],
                "answer": tok.encode(ANSWER_TEXT, add_special_tokens=False) + [im_end]}

    def fake_generate(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        first = not calls
        calls.append({"prompt_ids": [list(p) for p in prompt_ids], "images": images,
                      "fields": dict(multimodal_fields), "has_tool_images": has_tool_images})
        return [list(scripted["tool" if first else "answer"]) for _ in prompt_ids], None

    trainer._generate_single_turn = fake_generate  # instance attribute: TRL calls self._generate_single_turn
    batch = [ds[0], ds[0]]  # one prompt, num_generations = 2 rollouts
    return trainer, batch, calls, scripted, samples[0]


def test_tool_loop_runs_our_env(trainer_and_batch):
    from PIL import Image

    from seekerlite.env import VideoSeekerEnv

    trainer, batch, calls, scripted, sample = trainer_and_batch
    out = trainer._generate_and_score_completions(batch)

    # TRL reset every env with the row (reset(**row) ignores the extra columns) and called crop_video once each,
    # with the arguments typed by the tool schema: start_time 1 -> 1.0 (number), region a list of ints
    assert len(trainer.environments) == 2
    for env in trainer.environments:
        assert isinstance(env, VideoSeekerEnv) and env.sample.id == sample.id
        (rec,) = env.log
        assert rec.name == "crop_video" and rec.ok
        assert rec.arguments["start_time"] == 1 and rec.arguments["end_time"] == 3.0
        assert rec.arguments["region"] == [100, 100, 600, 700]
        assert env.frames_used == len(rec.timestamps) == 4  # 2 s at 1 fps, raised to min_frames_per_call = 4

    # the tool message carries OUR PIL images, each preceded by its "<t.t seconds>" label
    assert len(calls) == 2 and calls[1]["has_tool_images"]
    frames = trainer.environments[0].frames_used
    tool_imgs = [im for im in calls[1]["images"][0] if im is not None][-frames:]
    assert all(isinstance(im, Image.Image) for im in tool_imgs) and len(tool_imgs) == frames

    # the post-tool prompt = prompt + our tool-call ids + the tool suffix (rendered by the chat template)
    tok = trainer.processing_class.tokenizer
    prompt_len = len(calls[0]["prompt_ids"][0])
    second = calls[1]["prompt_ids"][0]
    assert second[prompt_len:prompt_len + len(scripted["tool"])] == scripted["tool"]
    suffix = tok.decode(second[prompt_len + len(scripted["tool"]):])
    stamps = trainer.environments[0].log[0].timestamps
    assert "<tool_response>" in suffix and all(f"<{t:.1f} seconds>" in suffix for t in stamps)
    assert suffix.count("<|image_pad|>") >= frames  # one run of image pads per returned frame

    # images were handed to the processor: pixel rows for the prompt images + the tool frames
    n_prompt_images = len(batch[0]["images"])
    assert out["image_grid_thw"].shape[0] == 2 * (n_prompt_images + frames)
    assert out["num_images"] == [n_prompt_images + frames] * 2

    # tool_mask: 1 over the model's tokens, 0 over the tool response
    mask = out["tool_mask"][0].tolist()
    ids = out["completion_ids"][0].tolist()
    n_tool, n_ans = len(scripted["tool"]), len(scripted["answer"])
    n_resp = len(second) - prompt_len - n_tool
    assert mask[:n_tool] == [1] * n_tool
    assert mask[n_tool:n_tool + n_resp] == [0] * n_resp
    assert mask[n_tool + n_resp:n_tool + n_resp + n_ans] == [1] * n_ans
    assert ids[:n_tool] == scripted["tool"] and ids[n_tool + n_resp:n_tool + n_resp + n_ans] == scripted["answer"]
    masked_text = tok.decode(ids[n_tool:n_tool + n_resp])
    assert "<tool_response>" in masked_text and "seconds>" in masked_text


def test_reward_sees_messages_and_envs(trainer_and_batch):
    """The reward functions receive the multi-turn completion as messages (assistant, tool, assistant)."""
    from PIL import Image

    trainer, batch, calls, scripted, sample = trainer_and_batch
    seen = {}

    def spy(prompts, completions, **kwargs):
        seen.update(completions=completions, kwargs=kwargs)
        return [0.0] * len(completions)

    spy.__name__ = "spy"
    trainer.reward_funcs = [spy]
    calls.clear()
    trainer._generate_and_score_completions(batch)
    comp = seen["completions"][0]
    assert [m["role"] for m in comp] == ["assistant", "tool", "assistant"]
    assert comp[0]["tool_calls"][0]["function"]["name"] == "crop_video"
    assert "<answer>B</answer>" in comp[2]["content"]
    parts = comp[1]["content"]
    texts = [p["text"] for p in parts if p["type"] == "text"]
    assert any(t.startswith("<") and t.endswith(" seconds>") for t in texts)
    assert any(isinstance(p.get("image"), Image.Image) for p in parts if p["type"] == "image")
    assert json.loads(seen["kwargs"]["sample"][0])["id"] == sample.id  # dataset columns arrive as kwargs
    assert len(seen["kwargs"]["environments"]) == 2

    # seekerlite's rewards read TRL's message format: the scripted rollout is well formed, made 1 call, 4 frames
    from seekerlite.grammar import count_tool_use, format_problems
    from seekerlite.train.rewards import format_reward

    assert format_problems(comp) == [] and format_reward(seen["completions"]) == [1.0, 1.0]
    assert count_tool_use(comp) == (1, 4)


@CPU_STEPS  # trl 1.15 (.ci/pinned): Triton-only log-prob kernel
def test_one_training_step(trainer_and_batch):
    """One real optimisation step through TRL with the scripted sampler: loss is finite, metrics are logged."""
    trainer, batch, calls, scripted, sample = trainer_and_batch

    def reward_len(completions, **kwargs):
        return [float(i) for i in range(len(completions))]  # different rewards -> non-zero advantages

    trainer.reward_funcs = [reward_len]
    calls.clear()
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    hist = trainer.state.log_history
    assert any("loss" in h for h in hist)
    assert any("tools/call_frequency" in h and h["tools/call_frequency"] == 1.0 for h in hist)
    changed = sum(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters() if p.requires_grad)
    assert changed > 0
