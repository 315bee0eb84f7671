"""The embedded tiny student: a Qwen3-VL of the real architecture at toy size, built locally (no model hub).

    python -m seekerlite.models.tiny --seed 0     # build it once (also `seekerlite build-tiny-model`)
    path = ensure_tiny_model()                    # the cached folder; load it like any checkpoint

``build_tiny_model`` makes a *tiny Qwen3-VL* (~1.2 M parameters) with the real classes:
``Qwen3VLForConditionalGeneration``, a byte-level BPE tokenizer trained here on project text (Qwen's special
tokens, Qwen's pre-tokenizer regex), TRL's ``qwen3_vl.jinja`` chat template and a ``Qwen3VLProcessor`` with a
small pixel budget. It is saved with ``save_pretrained`` and loads with ``AutoProcessor`` /
``AutoModelForImageTextToText`` like any hub model. ``qwen3_vl_2b_config`` gives the real 2B architecture
(for random-weight GPU benchmarks).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

TINY_RECIPE_VERSION = 1  # bump when the recipe below changes, so old caches are not reused
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>")  # dropped by decode(skip_special_tokens=True)
TEXT_TAGS = ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>")
# Qwen2's pre-tokenizer split: words, single digits, punctuation runs, newlines, spaces.
QWEN_SPLIT_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                    r"|\s*[\r\n]+|\s+(?!\S)|\s+")
TINY_MIN_PIXELS = 64 * 64  # per image: >= 2x2 merged tokens (one token = 32x32 pixels)
TINY_MAX_PIXELS = 128 * 128  # per image: <= 16 tokens, so a dozen frames stay cheap on a CPU


def default_cache_dir() -> Path:
    """Where built models live: ``$SEEKERLITE_CACHE`` or ``~/.cache/seekerlite``."""
    return Path(os.environ.get("SEEKERLITE_CACHE") or Path.home() / ".cache" / "seekerlite")


def tiny_model_dir(seed: int = 0) -> Path:
    """The cache folder of the tiny model for ``seed``; its name changes with the recipe, the word list and
    TRL's template (so upgrading TRL never leaves a stale template that ``add_response_schema`` would not know)."""
    words = (Path(__file__).resolve().parent.parent / "assets" / "tokenizer_words.txt").read_bytes()
    digest = hashlib.sha256(read_trl_chat_template().encode() + words).hexdigest()[:8]
    return default_cache_dir() / f"tiny-qwen3-vl-v{TINY_RECIPE_VERSION}-seed{seed}-{digest}"


# ----------------------------------------------------------------------------- tokenizer corpus
_DEMO_TOOLS = [
    {"type": "function", "function": {
        "name": "view_visual_prompt", "description": "Show the frame with the marked instance again.",
        "parameters": {"type": "object", "properties": {}, "required": []}}},
    {"type": "function", "function": {
        "name": "crop_video", "description": "Return frames sampled from [start_time, end_time], optionally cut "
        "to a region given in normalized 0-1000 coordinates.",
        "parameters": {"type": "object", "properties": {
            "start_time": {"type": "number", "description": "Start of the clip in seconds."},
            "end_time": {"type": "number", "description": "End of the clip in seconds."},
            "region": {"type": "array", "items": {"type": "integer"}, "description": "[x0, y0, x1, y1]"}},
            "required": ["start_time", "end_time"]}}},
]
_THINGS = ["person", "pedestrian", "car", "red circle", "blue square", "green triangle", "dog", "bicycle", "cup"]
_QUESTIONS = ["What color is the {t} marked in the frame?", "Where does the marked {t} go after {s} seconds?",
              "How many times does the marked {t} cross the path?", "What is the marked {t} doing at the end?",
              "Which direction does the {t} inside the box move?\nA. left\nB. right\nC. up\nD. down"]
_THOUGHTS = ["The marked {t} is near the center. I should look at {s} to {e} seconds more closely.",
             "I need to check the region around the {t} between {s} and {e} seconds.",
             "The frames show the {t} moving to the right, so the answer is clear."]


def tokenizer_corpus(n_dialogues: int = 240) -> list[str]:
    """Deterministic training text for the tiny tokenizer: chat-template text, tool schemas, tool calls.

    Args:
        n_dialogues: Number of synthetic episodes to render (each ~1 kB).

    Returns:
        A list of documents; the special tokens and tags in them are cut out by ``train_tiny_tokenizer``.
    """
    import jinja2

    env = jinja2.Environment()
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}  # as transformers renders
    template = env.from_string(read_trl_chat_template())
    docs = [json.dumps(t) for t in _DEMO_TOOLS] + [f"{i} {i / 10:.1f} <{i / 2:.1f} seconds>" for i in range(200)]
    lines = (Path(__file__).resolve().parent.parent / "assets" / "tokenizer_words.txt").read_text(encoding="utf-8").splitlines()
    words = [w for w in lines if w and not w.startswith("#")]
    for rank, w in enumerate(words):  # frequent words first: repeat them more so BPE keeps them whole
        docs.append(" ".join([w, w.capitalize()] + [w] * max(1, 8 - rank // 200)))
    for i in range(n_dialogues):
        t, s = _THINGS[i % len(_THINGS)], round((i * 7 % 50) / 2, 1)
        e = round(s + 1.5 + i % 4, 1)
        region = [i * 37 % 500, i * 53 % 500, 500 + i * 11 % 500, 500 + i * 29 % 500]
        args = {"start_time": s, "end_time": e} | ({"region": region} if i % 2 else {})
        answer = "ABCD"[i % 4] if i % 3 else f"The {t} walks to the {['left', 'right'][i % 2]}."
        frames = [{"type": "text", "text": f"<{s + k / 2:.1f} seconds>"} if j == 0 else {"type": "image"}
                  for k in range(2) for j in range(2)]
        messages = [
            {"role": "system", "content": "You are a careful video assistant. Think, then call tools or answer."},
            {"role": "user", "content": [{"type": "image"},
                                         {"type": "text", "text": _QUESTIONS[i % 5].format(t=t, s=s)}]},
            {"role": "assistant", "content": "<think>" + _THOUGHTS[i % 3].format(t=t, s=s, e=e) + "</think>",
             "tool_calls": [{"type": "function", "function": {"name": "crop_video", "arguments": args}}]},
            {"role": "tool", "content": frames},
            {"role": "assistant", "content": f"<think>{_THOUGHTS[2].format(t=t)}</think>\n<answer>{answer}</answer>"},
        ]
        tools = _DEMO_TOOLS if i % 4 else None
        docs.append(template.render(messages=messages, tools=tools, add_generation_prompt=i % 5 == 0))
    return docs


def read_trl_chat_template() -> str:
    """TRL's Qwen3-VL chat template (``trl/chat_templates/qwen3_vl.jinja``), read from the installed package."""
    import trl

    return (Path(trl.__file__).parent / "chat_templates" / "qwen3_vl.jinja").read_text(encoding="utf-8")


def train_tiny_tokenizer(vocab_size: int = 2048) -> Any:
    """Train a byte-level BPE tokenizer on ``tokenizer_corpus()`` and wrap it like Qwen's.

    Special tokens get the ids right after the BPE vocabulary, in Qwen's order; the tool/think tags are
    *non-special* added tokens (kept when decoding, so a response parser can see them).

    Args:
        vocab_size: Size of the BPE vocabulary before the 13 added tokens.

    Returns:
        A ``PreTrainedTokenizerFast`` with eos ``<|im_end|>``, pad ``<|endoftext|>`` and TRL's chat template.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    docs = tokenizer_corpus()
    for t in SPECIAL_TOKENS + TEXT_TAGS:  # added tokens are whole units: keep them out of the merges
        docs = [d.replace(t, "\n") for d in docs]
    tok.train_from_iterator(docs, trainer=trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TEXT_TAGS])
    extra = [t for t in SPECIAL_TOKENS if t not in ("<|im_end|>", "<|endoftext|>")]  # listed in all_special_tokens
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   extra_special_tokens=extra, model_max_length=32768,
                                   clean_up_tokenization_spaces=False, chat_template=read_trl_chat_template())


# ----------------------------------------------------------------------------- configs
def tiny_config(*, vocab_size: int = 2061, token_ids: dict[str, int] | None = None, text: dict | None = None,
                vision: dict | None = None, **overrides: Any) -> Any:
    """A ~1.2 M-parameter ``Qwen3VLConfig``: same architecture as Qwen3-VL, toy sizes.

    Args:
        vocab_size: Text vocabulary size (the tokenizer's ``len``).
        token_ids: Ids of the tokens in ``SPECIAL_TOKENS``; default: laid out after ``vocab_size - 13``.
        text: Overrides merged into the text sub-config (e.g. ``{"num_hidden_layers": 4}``).
        vision: Overrides merged into the vision sub-config.
        **overrides: Top-level ``Qwen3VLConfig`` fields.

    Returns:
        A ``transformers.Qwen3VLConfig``.
    """
    from transformers import Qwen3VLConfig

    ids = token_ids or {t: vocab_size - 13 + i for i, t in enumerate(SPECIAL_TOKENS)}
    text_cfg = {
        "vocab_size": vocab_size, "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "max_position_embeddings": 32768,
        "rope_parameters": {"rope_type": "default", "rope_theta": 5_000_000.0,
                            "mrope_section": [6, 5, 5], "mrope_interleaved": True},  # (T, H, W) sums to head_dim/2
        "pad_token_id": ids["<|endoftext|>"], "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
    } | (text or {})
    vision_cfg = {
        "depth": 2, "hidden_size": 64, "intermediate_size": 256, "num_heads": 4, "patch_size": 16,
        "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": text_cfg["hidden_size"],
        "num_position_embeddings": 256, "deepstack_visual_indexes": [0, 1],  # 16x16 learned grid, interpolated
    } | (vision or {})
    top = {"image_token_id": ids["<|image_pad|>"], "video_token_id": ids["<|video_pad|>"],
           "vision_start_token_id": ids["<|vision_start|>"], "vision_end_token_id": ids["<|vision_end|>"],
           "tie_word_embeddings": True} | overrides
    return Qwen3VLConfig(text_config=text_cfg, vision_config=vision_cfg, **top)


def qwen3_vl_2b_config() -> Any:
    """The architecture of ``Qwen/Qwen3-VL-2B-Instruct`` (for random-weight GPU benchmarks).

    Numbers from the checkpoint's ``config.json``
    (https://huggingface.co/Qwen/Qwen3-VL-2B-Instruct/blob/main/config.json, as mirrored in public repositories):
    text 28 layers, hidden 2048, MLP 6144, 16 query / 8 kv heads of 128, vocab 151936, tied embeddings,
    interleaved M-RoPE (24, 20, 20), theta 5e6; vision 24 blocks, hidden 1024, MLP 4096, 16 heads, patch 16,
    merge 2, deepstack taps at blocks 5, 11, 17. 2.13 B parameters in all (counted on the meta device).
    """
    from transformers import Qwen3VLConfig

    text = {
        "vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 28,
        "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-6, "hidden_act": "silu", "bos_token_id": 151643, "eos_token_id": 151645,
        "rope_parameters": {"rope_type": "default", "rope_theta": 5_000_000.0,
                            "mrope_section": [24, 20, 20], "mrope_interleaved": True},
    }
    vision = {
        "depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16, "patch_size": 16,
        "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 2048, "num_position_embeddings": 2304,
        "hidden_act": "gelu_pytorch_tanh", "deepstack_visual_indexes": [5, 11, 17],
    }
    return Qwen3VLConfig(text_config=text, vision_config=vision, image_token_id=151655, video_token_id=151656,
                         vision_start_token_id=151652, vision_end_token_id=151653, tie_word_embeddings=True)


# ----------------------------------------------------------------------------- building the tiny model
def build_tiny_processor(tokenizer: Any) -> Any:
    """Wrap ``tokenizer`` in a ``Qwen3VLProcessor`` with a small pixel budget (patch 16, merge 2)."""
    from transformers import Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    vision = {"patch_size": 16, "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5] * 3,
              "image_std": [0.5] * 3}  # Qwen3-VL's own values
    image_size = {"shortest_edge": TINY_MIN_PIXELS, "longest_edge": TINY_MAX_PIXELS}  # pixels per image
    video_size = {"shortest_edge": 4 * TINY_MIN_PIXELS, "longest_edge": 16 * TINY_MAX_PIXELS}  # pixels per clip
    image_processor = Qwen2VLImageProcessor(size=image_size, **vision)
    video_processor = Qwen3VLVideoProcessor(size=video_size, fps=1, **vision)
    return Qwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer, video_processor=video_processor,
                            chat_template=tokenizer.chat_template)


def build_tiny_model(out_dir: str | Path | None = None, seed: int = 0, force: bool = False) -> Path:
    """Build the tiny Qwen3-VL (tokenizer, processor, random weights) and save it with ``save_pretrained``.

    Deterministic: the same seed gives the same weights and vocabulary. Takes a few seconds on a CPU.
    The folder appears atomically (built next to it, then renamed), so parallel builders never see half a model.

    Args:
        out_dir: Target folder; default ``tiny_model_dir(seed)`` in the cache.
        seed: Seeds the weight initialisation.
        force: Rebuild even if the folder already holds a model.

    Returns:
        The folder, loadable with ``AutoProcessor`` / ``AutoModelForImageTextToText.from_pretrained``.
    """
    import torch
    from transformers import GenerationConfig, Qwen3VLForConditionalGeneration
    from transformers.utils import logging as hf_logging

    out = Path(out_dir) if out_dir else tiny_model_dir(seed)
    if (out / "config.json").exists() and not force:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tokenizer = train_tiny_tokenizer()
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
        config = tiny_config(vocab_size=len(tokenizer), token_ids=ids)
        with torch.random.fork_rng(devices=[]):  # leave the caller's RNG untouched
            torch.manual_seed(seed)
            model = Qwen3VLForConditionalGeneration(config).eval()
        model.generation_config = GenerationConfig(  # greedy by default: reproducible demos and tests
            bos_token_id=ids["<|endoftext|>"], pad_token_id=ids["<|endoftext|>"],
            eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]], do_sample=False)
        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Writing model shards" bar for a 5 MB file
        try:
            model.save_pretrained(tmp)
            build_tiny_processor(tokenizer).save_pretrained(tmp)
        finally:
            if bars_were_on:
                hf_logging.enable_progress_bar()
        (tmp / "seekerlite_build.json").write_text(json.dumps(
            {"recipe": TINY_RECIPE_VERSION, "seed": seed, "params": model.num_parameters()}, indent=1))
        if force and out.exists():
            shutil.rmtree(out, ignore_errors=True)
        publish_folder(tmp, out, "config.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def publish_folder(tmp: Path, out: Path, marker: str) -> None:
    """Move a finished temporary folder to `out` atomically. When another worker got there first (the rename
    fails) its folder is as good, provided it holds `marker`; otherwise the error is raised."""
    try:
        os.rename(tmp, out)
    except OSError:
        if not (out / marker).exists():
            raise


def ensure_tiny_model(seed: int = 0) -> Path:
    """The cached tiny model's folder, building it on first use (safe with parallel test workers)."""
    return build_tiny_model(seed=seed)


# ----------------------------------------------------------------------------- command line
def main_build_tiny(argv: list[str] | None = None) -> int:
    """``seekerlite build-tiny-model [--base pretrained|random] [--out DIR] [--seed N] [--force]``: build and describe
    the tiny model; ``--pretrain [--ship]`` re-derives the perception-pretrained weights (``models.pretrain``)."""
    from seekerlite.cliargs import add_config_arguments, config_from_args
    from seekerlite.models.pretrain import PretrainConfig

    parser = argparse.ArgumentParser(prog="seekerlite build-tiny-model", description=main_build_tiny.__doc__)
    parser.add_argument("--out", type=Path, default=None,
                        help="target folder (default: the cache; with --pretrain: runs/pretrain-tiny)")
    parser.add_argument("--seed", type=int, default=0, help="weight-initialisation seed (and pretraining seed)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the folder exists")
    parser.add_argument("--base", choices=("pretrained", "random"), default=None,
                        help="which tiny model to build: the random initialisation of --seed (model id 'tiny' or "
                             "'tiny-random'; the default) or the shipped perception-pretrained weights "
                             "('tiny-pretrained')")
    parser.add_argument("--pretrain", action="store_true",
                        help="run the perception-pretraining curriculum from the random model (~20 min, 2 cores)")
    parser.add_argument("--ship", action="store_true",
                        help="with --pretrain: copy the weights and their log into seekerlite/models/weights/")
    add_config_arguments(parser, PretrainConfig, exclude=("seed",), title="pretraining (with --pretrain)")
    args = parser.parse_args(argv)
    if args.pretrain:
        import sys

        from seekerlite.models.pretrain import pretrain
        from seekerlite.models.pretrain_weights import ship

        cfg, _ = config_from_args(PretrainConfig, args)
        out = args.out or Path("runs/pretrain-tiny")
        log = pretrain(cfg, out)
        print(f"pretrained in {log['wall_seconds'] / 60:.1f} min; held-out accuracy: "
              + ", ".join(f"{t} {a:.3f}" for t, a in log["final_accuracy"].items()) + f"; folder {out}")
        if args.ship:
            info = ship(out, command="seekerlite build-tiny-model " + " ".join(sys.argv[1:] if argv is None else argv))
            print(f"shipped {info['bytes'] / 1e6:.1f} MB, sha256 {info['sha256'][:12]}...")
        return 0
    if args.base == "pretrained":
        from seekerlite.models.pretrain_weights import ensure_pretrained_tiny_model

        path = ensure_pretrained_tiny_model()
        if args.out is not None:
            shutil.copytree(path, args.out, dirs_exist_ok=True)
            path = args.out
    else:
        path = build_tiny_model(args.out, seed=args.seed, force=args.force)
    info = json.loads((path / "seekerlite_build.json").read_text())
    size_mb = sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 1e6
    kind = "perception-pretrained" if "pretrained" in info else "random-init"
    print(f"tiny Qwen3-VL, {kind} ({info['params'] / 1e6:.2f} M params, {size_mb:.1f} MB) at {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main_build_tiny())
