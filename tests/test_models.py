"""The tiny Qwen3-VL student: deterministic build, hub-like loading, tokens, template, parsing, LoRA loading."""

import json
import threading

import pytest
import torch
from PIL import Image

from seekerlite.models import (
    TINY, TINY_MODEL_ID, LoraSettings, StudentConfig, build_tiny_model, choose_backend, load_student, load_trained,
    lora_target_regex, main_build_tiny, qwen3_vl_2b_config, tiny_config, tiny_model_dir, trained_weights,
)
from seekerlite.models.tiny import SPECIAL_TOKENS, TEXT_TAGS

TOOLS = [{"type": "function", "function": {
    "name": "crop_video", "description": "Frames from [start_time, end_time] seconds.",
    "parameters": {"type": "object", "properties": {"start_time": {"type": "number"}, "end_time": {"type": "number"}},
                   "required": ["start_time", "end_time"]}}}]
TOOL_CALL = '<tool_call>{"name": "crop_video", "arguments": {"start_time": 1.0, "end_time": 2.0}}</tool_call><|im_end|>'


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    """A private cache folder (for $SEEKERLITE_CACHE) holding the seed-0 tiny model."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEEKERLITE_CACHE", str(cache))
        assert build_tiny_model(seed=0) == tiny_model_dir(0) and tiny_model_dir(0).parent == cache
    return cache


@pytest.fixture(scope="module")
def tiny_dir(tiny_cache):
    return next(p for p in tiny_cache.glob("tiny-qwen3-vl-*-seed0-*") if "-pretrained-" not in p.name)


@pytest.fixture(scope="module")
def loaded(tiny_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoProcessor.from_pretrained(tiny_dir), AutoModelForImageTextToText.from_pretrained(tiny_dir)


def _prompt(processor):
    image = Image.new("RGB", (320, 240), (200, 40, 40))  # -> 12 image tokens at the tiny pixel budget
    messages = [{"role": "system", "content": "You watch videos."},
                {"role": "user", "content": [{"type": "image", "image": image},
                                             {"type": "text", "text": "What color is the marked person?"}]}]
    return processor.apply_chat_template(messages, tools=TOOLS, add_generation_prompt=True, tokenize=True,
                                         return_dict=True, return_tensors="pt")


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def test_build_is_deterministic_per_seed(tiny_dir, tmp_path, capsys):
    again = build_tiny_model(tmp_path / "again", seed=0)
    assert main_build_tiny(["--out", str(tmp_path / "other"), "--seed", "1"]) == 0
    assert "M params" in capsys.readouterr().out
    a, b, c = _weights(tiny_dir), _weights(again), _weights(tmp_path / "other")
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the seed matters
    vocab = [json.loads((d / "tokenizer.json").read_text())["model"]["vocab"] for d in (tiny_dir, again)]
    assert vocab[0] == vocab[1]


def test_parallel_builds_into_one_folder_do_not_collide(tmp_path):
    out, errors = tmp_path / "shared", []

    def build():
        try:
            build_tiny_model(out, seed=0)
        except Exception as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=build) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    assert (out / "model.safetensors").exists() and not list(tmp_path.glob(".shared.tmp-*"))


def test_loads_like_a_hub_model(tiny_dir, loaded):
    processor, model = loaded
    assert type(processor).__name__ == "Qwen3VLProcessor"
    assert type(model).__name__ == "Qwen3VLForConditionalGeneration"
    assert 1_000_000 <= model.num_parameters() <= 5_000_000
    assert model.config.text_config.vocab_size == len(processor.tokenizer)
    assert model.config.image_token_id == processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert sum(f.stat().st_size for f in tiny_dir.iterdir()) < 10e6


def test_special_tokens_and_tool_tags(loaded):
    tok = loaded[0].tokenizer
    flags = {str(t): t.special for t in tok.added_tokens_decoder.values()}
    assert {t: flags[t] for t in SPECIAL_TOKENS + TEXT_TAGS} == {t: t in SPECIAL_TOKENS for t in SPECIAL_TOKENS + TEXT_TAGS}
    assert set(SPECIAL_TOKENS) == set(tok.all_special_tokens)
    for t in SPECIAL_TOKENS + TEXT_TAGS:  # each is one token, even glued to text
        ids = tok("ab" + t + "cd", add_special_tokens=False)["input_ids"]
        assert tok.convert_tokens_to_ids(t) in ids and len(tok.convert_ids_to_tokens(ids)) <= 5
    ids = tok("<think>hi</think><tool_call>{}</tool_call><|im_end|>", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "<think>hi</think><tool_call>{}</tool_call>"
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"


def test_chat_template_renders_tools_and_images(loaded):
    from trl.chat_template_utils import qwen3_vl_chat_template

    processor = loaded[0]
    assert processor.chat_template == qwen3_vl_chat_template == processor.tokenizer.chat_template
    inputs = _prompt(processor)
    text = processor.decode(inputs["input_ids"][0])
    assert "<tools>" in text and '"name": "crop_video"' in text and text.endswith("<|im_start|>assistant\n")
    n_image_tokens = int((inputs["input_ids"] == processor.image_token_id).sum())
    assert n_image_tokens == int(inputs["image_grid_thw"].prod()) // 4 == 12  # 2x2 patches merge into one token
    assert inputs["pixel_values"].shape == (48, 3 * 2 * 16 * 16)  # (patches, C * T * P * P)


def test_generate_on_an_image_prompt(loaded):
    processor, model = loaded
    inputs = _prompt(processor)
    out = model.generate(**inputs, max_new_tokens=16, min_new_tokens=16)
    assert out.shape == (1, inputs["input_ids"].shape[1] + 16)
    assert torch.equal(out, model.generate(**inputs, max_new_tokens=16, min_new_tokens=16))  # greedy by default


def test_parse_response_reads_a_tool_call_given_the_prompt(loaded):
    from trl.chat_template_utils import add_response_schema

    processor = add_response_schema(loaded[0])
    tok = processor.tokenizer
    prompt_ids = _prompt(processor)["input_ids"][0].tolist()
    ids = tok(TOOL_CALL, add_special_tokens=False)["input_ids"]
    parsed = tok.parse_response(ids, prefix=prompt_ids)
    assert parsed["tool_calls"] == [{"type": "function", "function": {
        "name": "crop_video", "arguments": {"start_time": 1.0, "end_time": 2.0}}}]
    with pytest.raises(ValueError, match="prefix"):  # the trap: without the prompt the parser refuses
        tok.parse_response(ids)


@pytest.mark.parametrize(("cuda", "unsloth", "four_bit", "expected"), [
    (False, False, False, "full"), (False, False, True, "full"), (False, True, False, "full"),
    (False, True, True, "full"), (True, True, True, "unsloth"), (True, True, False, "unsloth"),
    (True, False, True, "bnb-4bit"), (True, False, False, "full"),
])
def test_choose_backend(cuda, unsloth, four_bit, expected):
    assert choose_backend(cuda, unsloth, four_bit) == expected


def test_load_student_with_lora_on_cpu_trains_only_the_adapter(tiny_cache, monkeypatch):
    monkeypatch.setenv("SEEKERLITE_CACHE", str(tiny_cache))
    student = load_student(StudentConfig(model_id=TINY, lora_r=4, device="cpu"))
    assert student.backend == "full" and student.device == "cpu" and student.config.lora_r == 4
    assert type(student.model).__name__.startswith("PeftModel")
    trainable = [n for n, p in student.model.named_parameters() if p.requires_grad]
    assert len(trainable) == 2 * 7 * 2  # layers x (q k v o gate up down) x (A, B)
    assert all("lora_" in n and "language_model" in n for n in trainable)
    inputs = _prompt(student.processor)
    loss = student.model(**inputs, labels=inputs["input_ids"]).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in student.model.named_parameters()
               if "lora_B" in n)
    assert student.processor.tokenizer.response_template is not None  # ready for parse_response


def test_load_student_variants(tiny_cache, monkeypatch):
    monkeypatch.setenv("SEEKERLITE_CACHE", str(tiny_cache))
    frozen = load_student(TINY, inference=True)  # policies, judges: no adapter, frozen, eval mode
    assert not any(p.requires_grad for p in frozen.model.parameters()) and not frozen.model.training
    full = load_student(TINY)  # the tiny preset: lora_r None, every weight trainable
    assert full.config.lora_r is None and full.model.training
    assert all(p.requires_grad for p in full.model.parameters())
    assert not type(full.model).__name__.startswith("PeftModel")
    legacy = load_student(TINY_MODEL_ID, inference=True)  # the older name of the tiny model still loads
    assert legacy.model_path == frozen.model_path
    both = load_student(StudentConfig(model_id=str(tiny_model_dir(0)), lora_r=4, finetune_vision_layers=True,
                                      device="cpu"))
    names = [n for n, p in both.model.named_parameters() if p.requires_grad]
    assert any("visual.blocks" in n for n in names) and any("language_model" in n for n in names)
    with pytest.raises(ValueError):
        lora_target_regex(LoraSettings(finetune_language_layers=False))
    with pytest.raises(ValueError, match="backend"):
        StudentConfig(backend="vllm")
    with pytest.raises(ValueError, match="unsloth"):  # unsloth is CUDA-only: a clear error on a CPU
        load_student(StudentConfig(backend="unsloth", device="cpu"))


def test_load_trained_reads_run_adapter_and_model_folders(tiny_cache, monkeypatch, tmp_path):
    """One loader for every trained folder: a run folder (run.json says where), an adapter, a model, an id."""
    from peft import PeftModel

    from seekerlite.config import EnvConfig
    from seekerlite.runs import RunInfo, write_run

    monkeypatch.setenv("SEEKERLITE_CACHE", str(tiny_cache))
    lora = load_student(StudentConfig(lora_r=2, device="cpu"))
    with torch.no_grad():
        for n, p in lora.model.named_parameters():
            if "lora_B" in n:
                p.add_(0.01)  # not the zero init, so that loading can be told from not loading
    lora.model.save_pretrained(tmp_path / "run" / "adapter")
    write_run(tmp_path / "run", RunInfo("sft", env=EnvConfig(), student=StudentConfig(lora_r=2), weights="adapter"))
    full = load_student(TINY, inference=True)
    full.model.save_pretrained(tmp_path / "model")
    full.processor.save_pretrained(tmp_path / "model")

    assert trained_weights(tmp_path / "run")[:2] == ("adapter", tmp_path / "run" / "adapter")
    assert trained_weights(tmp_path / "run")[2].lora_r == 2
    assert trained_weights(tmp_path / "run" / "adapter")[:2] == ("adapter", tmp_path / "run" / "adapter")
    assert trained_weights(tmp_path / "model")[:2] == ("model", tmp_path / "model")
    assert trained_weights(TINY)[0] == "id"
    assert trained_weights(tmp_path)[:2] == ("model", tmp_path / "model")  # a folder whose model/ holds them
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no trained weights"):
        trained_weights(tmp_path / "empty")

    want = {n.replace(".default", ""): p for n, p in lora.model.named_parameters() if "lora_" in n}
    for path in (tmp_path / "run", tmp_path / "run" / "adapter"):
        frozen = load_trained(path)
        assert isinstance(frozen.model, PeftModel) and not any(p.requires_grad for p in frozen.model.parameters())
        got = {n.replace(".default", ""): p for n, p in frozen.model.named_parameters() if "lora_" in n}
        assert got.keys() == want.keys() and all(torch.equal(got[n], want[n]) for n in want)
    go_on = load_trained(tmp_path / "run", inference=False)  # GRPO continuing SFT's adapter
    assert {n for n, p in go_on.model.named_parameters() if p.requires_grad} == \
        {n for n, _ in go_on.model.named_parameters() if "lora_" in n}
    model = load_trained(tmp_path / "model")
    assert not isinstance(model.model, PeftModel) and not model.model.training
    assert all(torch.equal(a, b) for a, b in zip(model.model.state_dict().values(), full.model.state_dict().values()))


def test_unknown_model_id_offline_has_a_helpful_error():
    with pytest.raises(FileNotFoundError) as info:
        load_student(StudentConfig(model_id="nobody-here/no-such-qwen", device="cpu"), local_files_only=True)
    message = str(info.value)
    assert "hf download nobody-here/no-such-qwen --local-dir" in message and f"--model {TINY}" in message


def test_configs():
    tiny = tiny_config(text={"num_hidden_layers": 3}, vision={"depth": 4, "deepstack_visual_indexes": [1, 3]})
    assert tiny.text_config.num_hidden_layers == 3 and tiny.vision_config.depth == 4
    assert tiny.text_config.hidden_size == tiny.vision_config.out_hidden_size == 128
    big = qwen3_vl_2b_config()
    t, v = big.text_config, big.vision_config
    assert (t.hidden_size, t.num_hidden_layers, t.num_attention_heads, t.num_key_value_heads) == (2048, 28, 16, 8)
    assert (v.depth, v.hidden_size, v.out_hidden_size, list(v.deepstack_visual_indexes)) == (24, 1024, 2048, [5, 11, 17])
    assert sum(t.rope_parameters["mrope_section"]) * 2 == t.head_dim
