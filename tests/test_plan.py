"""The planner's arithmetic against measurements: parameters counted on the meta device, activations autograd
really keeps (measured with saved-tensor hooks on a small Qwen3-VL on the CPU, within 5%), checkpointing's
kept inputs (exact), prompt tokens of a real episode, and the command line."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from seekerlite.config import EnvConfig
from seekerlite.plan import (
    LORA_TARGETS,
    activation_bytes,
    checkpoint_bytes,
    main_plan,
    make_plan,
    model_spec,
    spec_from_config,
)

TOLERANCE = 0.05  # measured: estimate / measured = 0.9993 at 256 and 512 tokens (torch 2.14, transformers 5.24)


def small_config():
    from seekerlite.models.tiny import tiny_config

    return tiny_config(text={"hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 2,
                             "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
                             "rope_parameters": {"rope_type": "default", "rope_theta": 5e6,
                                                 "mrope_section": [12, 10, 10], "mrope_interleaved": True}})


def saved_bytes(checkpointing: bool, tokens: int) -> tuple[int, int]:
    """(bytes of every distinct non-weight storage autograd saves in one forward, the part saved while a decoder
    layer runs) for a small Qwen3-VL with LoRA r=8 on every language linear, float32."""
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen3VLForConditionalGeneration

    torch.manual_seed(0)
    model = Qwen3VLForConditionalGeneration(small_config())
    regex = r".*language_model\.layers\.\d+\..*\.(?:{})".format("|".join(LORA_TARGETS))
    model = get_peft_model(model, LoraConfig(r=8, target_modules=regex))
    if checkpointing:
        model.base_model.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    state: dict = {"on": False, "all": {}, "layers": {}}
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}  # linears save their weight: not activations

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in weights:
            state["all"][ptr] = t.untyped_storage().nbytes()
            if state["on"]:
                state["layers"][ptr] = t.untyped_storage().nbytes()
        return t

    for layer in model.base_model.model.model.language_model.layers:
        layer.register_forward_pre_hook(lambda m, a: state.__setitem__("on", True))
        layer.register_forward_hook(lambda m, a, o: state.__setitem__("on", False))
    ids = torch.randint(0, 2000, (1, tokens), generator=torch.Generator().manual_seed(0))
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    return sum(state["all"].values()), sum(state["layers"].values())


@pytest.fixture(scope="module")
def spec():
    return spec_from_config(small_config(), "small", lora_r=8)


@pytest.mark.parametrize("tokens", [256, 512])
def test_activation_estimate_matches_measured(spec, tokens):
    torch.set_num_threads(1)
    measured = saved_bytes(False, tokens)[1]
    estimate = activation_bytes(spec, tokens, dtype_bytes=4, checkpointing=False)
    assert abs(estimate / measured - 1) < TOLERANCE, (estimate, measured)


def test_checkpointing_keeps_only_each_layers_input(spec):
    """Checkpointing's saving = every saved byte with it, minus what is saved outside the layers without it (where
    the layer hooks run, inside or outside torch.utils.checkpoint, differs between transformers versions)."""
    every_off, layers_off = saved_bytes(False, 256)
    every_on, _ = saved_bytes(True, 256)
    kept = every_on - (every_off - layers_off)
    assert abs(kept / checkpoint_bytes(spec, 256, dtype_bytes=4) - 1) < TOLERANCE, kept


def test_meta_counts_match_the_released_sizes():
    two = model_spec("Qwen/Qwen3-VL-2B-Instruct")
    assert abs(two.params / 2.13e9 - 1) < 0.02  # the checkpoint's 2.13 B (tied embeddings counted once)
    assert model_spec("8b").params > model_spec("4b").params > two.params


def test_prompt_tokens_bound_a_real_opening(toy_dataset):
    from transformers import AutoProcessor

    from seekerlite.budget import TextCosts, VisionRule, episode_budget
    from seekerlite.env import VideoSeekerEnv, opening_messages, tool_schemas
    from seekerlite.models.tiny import ensure_tiny_model

    processor = AutoProcessor.from_pretrained(ensure_tiny_model())
    samples, base = toy_dataset
    env_cfg = EnvConfig(overview_frames=4)
    env = VideoSeekerEnv(env_cfg)
    env.reset(sample=samples[0], base_dir=base)
    ids = processor.apply_chat_template([opening_messages(env)], tools=tool_schemas(), add_generation_prompt=True,
                                        tokenize=True, return_dict=True, return_tensors="pt")["input_ids"]
    size = (env.video_info.width, env.video_info.height)
    text = TextCosts.from_processor(processor)
    b = episode_budget(env_cfg, VisionRule.from_processor(processor), text, frame_size=size)
    assert b.prompt_tokens - text.question <= ids.shape[1] <= b.prompt_tokens


def test_plan_for_a_16_gb_card_and_its_command_line(capsys):
    env = EnvConfig(frames_per_call=16, max_tool_rounds=3)
    plan = make_plan("2b", env, gpu_gb=16)
    ckpt = next(k for k in plan.phases if k.startswith("GRPO step") and k.endswith(", checkpointing"))
    off = next(k for k in plan.phases if k.startswith("GRPO step") and "no checkpointing" in k)
    assert plan.peak(ckpt) < 16e9 / 2 ** 30 < plan.peak(off)  # checkpointing is what makes 16 frames fit
    assert plan.fits and plan.settings["grad_ckpt"] is True
    assert main_plan(["--model", "2b", "--frames-per-call", "8", "--tool-rounds", "3", "--gpu-gb", "16"]) == 0
    out = capsys.readouterr().out
    assert "tokens per episode" in out and "--grad-ckpt" in out and "kv cache" in out
    assert main_plan(["--model", "8b", "--frames-per-call", "64", "--tool-rounds", "5", "--gpu-gb", "8"]) == 1
