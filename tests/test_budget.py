"""Token budgets: the processor's own resize rule, the chat template's wrappers, refusals with numbers, and the
count of tool results TRL drops silently; precision and checkpointing settings as pure functions."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from seekerlite.budget import (
    TextCosts,
    VisionRule,
    completion_length,
    count_dropped,
    episode_budget,
    fit_processor,
    sft_length,
)
from seekerlite.config import EnvConfig

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def processor():
    from transformers import AutoProcessor

    from seekerlite.models.tiny import ensure_tiny_model

    return AutoProcessor.from_pretrained(ensure_tiny_model())


def real_qwen3_vl_image_processor():
    """Qwen/Qwen3-VL-2B-Instruct's preprocessor_config.json, built locally (no hub)."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import (
        Qwen2VLImageProcessor,
    )

    return Qwen2VLImageProcessor(size={"shortest_edge": 65536, "longest_edge": 16777216}, patch_size=16,
                                 temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3)


def observed_tokens(image_processor, h: int, w: int) -> int:
    from PIL import Image

    grid = image_processor(images=[Image.new("RGB", (w, h))], return_tensors="pt")["image_grid_thw"][0]
    return int(grid.prod()) // image_processor.merge_size ** 2


def test_vision_rule_matches_the_processor_on_random_sizes(processor):
    rule = VisionRule.from_processor(processor)
    assert (rule.patch_size, rule.merge_size, rule.factor) == (16, 2, 32)
    rng = random.Random(0)
    for _ in range(12):
        h, w = rng.randint(20, 700), rng.randint(20, 700)
        assert rule.tokens(h, w) == observed_tokens(processor.image_processor, h, w), (h, w)


def test_real_qwen3_vl_limits_give_about_100_tokens_per_336_frame():
    ip = real_qwen3_vl_image_processor()
    shipped = VisionRule.from_processor(ip)
    assert shipped.frame_tokens(336 * 336, (336, 336)) == observed_tokens(ip, 336, 336) == 100
    assert shipped.frame_tokens(336 * 336) >= 140  # a thin crop rounds up past the budget at the shipped limit
    fit_processor(ip, EnvConfig(max_pixels=336 * 336))
    fitted = VisionRule.from_processor(ip)
    assert fitted.max_pixels == 336 * 336
    worst = fitted.frame_tokens(336 * 336)
    assert 100 <= worst <= 336 * 336 // 32 ** 2  # never more than the budget's worth of 32x32 cells
    for h, w in [(336, 336), (48, 2352), (200, 560), (33, 3340)]:  # the worst case bounds every shape
        assert observed_tokens(ip, h, w) <= worst, (h, w)


def test_fit_processor_never_raises_a_limit(processor):
    before = VisionRule.from_processor(processor)
    fit_processor(processor, EnvConfig(max_pixels=1024 * 1024))
    assert VisionRule.from_processor(processor) == before  # the tiny model's 128x128 stays


def test_evaluation_policies_see_frames_at_the_limit_training_used(monkeypatch):
    from types import SimpleNamespace

    from seekerlite.models import loading
    from seekerlite.policies import make_policy

    class Proc:  # a processor with the real checkpoint's image limits (no weights needed)
        image_processor = real_qwen3_vl_image_processor()
        tokenizer = SimpleNamespace(pad_token_id=0, eos_token_id=0, convert_tokens_to_ids=lambda t: None)

    monkeypatch.setattr(loading, "load_trained", lambda *a, **k: SimpleNamespace(model=None, processor=Proc()))
    monkeypatch.setattr("seekerlite.policies.hf.HFPolicy.__init__", lambda self, m, p, **k: setattr(self, "processor", p))
    policy, _ = make_policy("some/run", EnvConfig(max_pixels=336 * 336))
    assert VisionRule.from_processor(policy.processor.image_processor).max_pixels == 336 * 336


def test_text_costs_measured_with_the_template(processor):
    measured, estimated = TextCosts.from_processor(processor), TextCosts.estimate()
    assert measured.image_wrap == 2 and measured.tool_wrap > 5 and measured.system > 200
    # TRL's tool suffix for a one-text-part tool message = our tool_wrap
    tok = processor.tokenizer
    msgs = [{"role": "user", "content": "dummy"}, {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "crop_video", "arguments": {}}}]}]
    tool = [{"role": "tool", "name": "crop_video", "content": [{"type": "text", "text": ""}]}]
    a = tok.apply_chat_template(msgs, tokenize=False)
    b = tok.apply_chat_template(msgs + tool, tokenize=False, add_generation_prompt=True)
    assert len(tok.encode(b[len(a):], add_special_tokens=False)) == measured.tool_wrap
    assert estimated.system > 0 and estimated.crop_header > 10


def test_budget_grows_with_frames_and_rounds():
    small = episode_budget(EnvConfig(frames_per_call=4, max_tool_rounds=1))
    more_frames = episode_budget(EnvConfig(frames_per_call=8, max_tool_rounds=1))
    more_rounds = episode_budget(EnvConfig(frames_per_call=4, max_tool_rounds=3))
    assert more_frames.completion_tokens - small.completion_tokens == 4 * small.frame_tokens
    assert more_rounds.completion_tokens > small.completion_tokens
    capped = episode_budget(EnvConfig(frames_per_call=16, max_tool_rounds=3, max_total_frames=20))
    assert capped.frames == 20  # the episode's frame cap binds, not rounds x frames per call
    none = episode_budget(EnvConfig(max_tool_rounds=0))
    assert none.tool_result_tokens == 0 and none.completion_tokens == none.reply_tokens + 1


def test_explicit_lengths_too_small_are_refused_with_the_numbers():
    b = episode_budget(EnvConfig(frames_per_call=8, max_tool_rounds=3), reply_tokens=128)
    assert completion_length(None, b) == b.completion_tokens and sft_length(None, b) == b.total_tokens
    assert completion_length(b.min_completion_tokens, b) == b.min_completion_tokens
    with pytest.raises(ValueError) as err:
        completion_length(384, b)
    msg = str(err.value)
    assert "max_completion_length=384" in msg and str(b.tool_result_tokens) in msg and str(b.completion_tokens) in msg
    with pytest.raises(ValueError, match=f"max_length=1000 .*{b.prompt_tokens}"):
        sft_length(1000, b)


def test_dropped_tool_results_are_counted():
    envs = [SimpleNamespace(log=[1, 2]), SimpleNamespace(log=[1]), SimpleNamespace(log=[])]
    tool, asst = {"role": "tool", "content": "x"}, {"role": "assistant", "content": "y"}
    assert count_dropped(envs, [[asst, tool, asst], [asst, tool, asst], [asst]]) == [1, 0, 0]


def test_precision_from_compute_capability():
    from seekerlite.models.compat import compute_dtype_name, precision_args

    for cap, want in [((7, 5), "float16"), ((7, 0), "float16"), ((6, 0), "float16"), ((8, 0), "bfloat16"),
                      ((8, 9), "bfloat16"), ((9, 0), "bfloat16"), (None, "float32")]:
        assert compute_dtype_name(cap) == want
    assert precision_args((7, 5)) == {"bf16": False, "fp16": True}  # a T4: fp16, never emulated bf16
    assert precision_args((8, 6)) == {"bf16": True, "fp16": False}
    assert precision_args((8, 6), "float16") == {"bf16": False, "fp16": True}  # an explicit dtype wins


def test_checkpointing_is_non_reentrant_in_both_trainers():
    from trl import GRPOConfig, SFTConfig

    from seekerlite.models.compat import checkpointing_args

    for cls in (SFTConfig, GRPOConfig):
        on = checkpointing_args(cls, True)
        key = next(k for k in on if not k.endswith("_kwargs"))
        assert on[key] is True and on[f"{key}_kwargs"] == {"use_reentrant": False}
        assert checkpointing_args(cls, False) == {key: False}
