"""GPU check: QLoRA SFT and GRPO peak memory and step time of Qwen3-VL-2B/-4B at 8/16/32 frames per call, per
backend (transformers + bitsandbytes, and unsloth where installed), with no model hub.

    bash scripts/gpu_check.sh                          # on the GPU machine (installs wheels from scripts/gpu_wheels/)
    python benchmarks/gpu_check.py --models 2b,4b --frames 8,16,32 --backends bnb-4bit,unsloth
    python benchmarks/gpu_check.py --dry-run           # CPU: the tiny model, one frame count (the test suite runs it)

The architectures are built from config with random weights (``plan.qwen3_vl_config``: the released 2B/4B
shapes) and saved once to a local folder that ``models.load_student`` loads like any checkpoint, with the tiny
model's tokenizer (its special-token ids written into the config) and Qwen3-VL's image processor (patch 16,
merge 2, the shipped pixel limits, lowered to the environment's 336^2 by ``budget.fit_processor``). Episodes are
scripted: ``max_tool_rounds`` crops of ``frames`` synthetic 336x336 frames each (within ``max_total_frames``),
then an answer. Phases, each one JSON line (``peak_gib`` = ``torch.cuda.max_memory_allocated``, next to the
planner's estimate ``plan_gib``):

- ``load``: the NF4 base + LoRA r=16 (non-reentrant checkpointing on);
- ``sft_step``: one SFTTrainer step (batch 1) on the whole episode (``train.sft.make_trainer``);
- ``grpo_step``: one GRPOTrainer step on a group of 2 rollouts through TRL's tool loop with a scripted sampler
  (``train.grpo.grpo_config``: derived max_completion_length, pad suppression, precision by capability);
- ``generate``: 32 new tokens after the full episode (the KV cache of one rollout).

Each backend runs in its own process (unsloth must be imported before transformers). Whole run: < 8 minutes on
one H100-class GPU for 2 models x 3 frame counts x 1 backend (estimate; see benchmarks/results/).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CROP = '<think>Look closer.</think>\n<tool_call>\n{{"name": "crop_video", "arguments": {{"start_time": {a}, "end_time": {b}}}}}\n</tool_call>'
ANSWER = "<think>Done.</think><answer>B</answer>"
SIDE = 336


def emit(record: dict[str, Any], out: Path | None) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    if out is not None:
        with out.open("a") as f:
            f.write(line + "\n")


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate", "unsloth"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def random_checkpoint(key: str, folder: Path) -> Path:
    """A Qwen3-VL of the `key` architecture with random bf16 weights, the tiny tokenizer and Qwen3-VL's image
    processor, saved to `folder` (reused when present)."""
    import torch
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import (
        Qwen2VLImageProcessor,
    )

    from seekerlite.models.tiny import SPECIAL_TOKENS, ensure_tiny_model
    from seekerlite.plan import qwen3_vl_config

    if (folder / "config.json").is_file():
        return folder
    processor = AutoProcessor.from_pretrained(ensure_tiny_model())
    tok = processor.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = qwen3_vl_config(key)
    config.image_token_id, config.video_token_id = ids["<|image_pad|>"], ids["<|video_pad|>"]
    config.vision_start_token_id, config.vision_end_token_id = ids["<|vision_start|>"], ids["<|vision_end|>"]
    config.text_config.pad_token_id = config.text_config.bos_token_id = ids["<|endoftext|>"]
    config.text_config.eos_token_id = ids["<|im_end|>"]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = Qwen3VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(folder)
    processor.image_processor = Qwen2VLImageProcessor(  # Qwen/Qwen3-VL-*-Instruct preprocessor_config.json
        size={"shortest_edge": 65536, "longest_edge": 16777216}, patch_size=16, temporal_patch_size=2,
        merge_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor.save_pretrained(folder)
    del model
    torch.cuda.empty_cache() if device == "cuda" else None
    return folder


def frames(n: int, t0: float, side: int) -> list[Any]:
    """`n` synthetic frames (random noise: no compression artefact makes them cheaper) with timestamp labels."""
    import numpy as np
    from PIL import Image

    from seekerlite.protocol import timestamp_text

    rng = np.random.default_rng(int(t0 * 10))
    out: list[Any] = [{"type": "text", "text": f"{n} frames from {t0:.1f} to {t0 + n:.1f} seconds:"}]
    for k in range(n):
        img = Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8))
        out += [{"type": "text", "text": timestamp_text(t0 + k)}, {"type": "image", "image": img}]
    return out


class ScriptedEnv:
    """The environment of the check: crop_video returns synthetic frames within the env's budgets."""

    config: Any = None  # set by the factory

    def __init__(self) -> None:
        self.log: list[str] = []
        self.left = self.config.max_total_frames

    def reset(self, **kwargs: Any) -> None:
        self.log, self.left = [], self.config.max_total_frames

    def crop_video(self, start_time: float, end_time: float) -> list:
        """Frames from a time window.

        Args:
            start_time: Start of the window in seconds.
            end_time: End of the window in seconds.
        """
        n = min(self.config.frames_per_call, self.left)
        self.left -= n
        self.log.append("crop_video")
        return frames(n, float(start_time), SIDE)


def episode(env: Any, processor: Any) -> tuple[list[dict[str, Any]], list[list[int]]]:
    """The scripted episode as chat messages (PIL images) and the reply token ids of each assistant turn."""
    from seekerlite.protocol import SYSTEM_PROMPT

    tok = processor.tokenizer
    end = [tok.convert_tokens_to_ids("<|im_end|>")]
    opening = [{"type": "text", "text": "The video lasts 60.0 seconds. The marked instance:"},
               *frames(1, 0.0, SIDE)[2:], *frames(env.overview_frames, 0.0, 224)[1:],
               {"type": "text", "text": "Question: What colour is the marked person's coat?\nA. red\nB. blue"}]
    msgs = [{"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
            {"role": "user", "content": opening}]
    replies, left = [], env.max_total_frames
    for r in range(env.max_tool_rounds):
        if left <= 0:
            break
        n = min(env.frames_per_call, left)
        left -= n
        text = CROP.format(a=float(10 * r), b=float(10 * r + n))
        replies.append(tok.encode(text, add_special_tokens=False) + end)
        msgs.append({"role": "assistant", "content": text.split("<tool_call>")[0], "tool_calls": [{"type": "function",
                     "function": {"name": "crop_video", "arguments": {"start_time": 10.0 * r, "end_time": 10.0 * r + n}}}]})
        msgs.append({"role": "tool", "name": "crop_video", "content": frames(n, 10.0 * r, SIDE)})
    replies.append(tok.encode(ANSWER, add_special_tokens=False) + end)
    msgs.append({"role": "assistant", "content": ANSWER})
    return msgs, replies


def measure(fn: Any, device: str) -> tuple[Any, float, float | None]:
    """(result, seconds, peak GiB) of fn(): CUDA's peak allocation, or None on a CPU."""
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    out = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2 ** 30 if device == "cuda" else None
    return out, time.perf_counter() - t, None if peak is None else round(peak, 3)


def check_model(model: str, folder: Path, backend: str, frame_counts: list[int], device: str, rounds: int,
                out: Path | None, work: Path) -> None:
    """Every phase for one model and backend at each frame count (one JSON line each)."""
    import torch
    from datasets import Dataset
    from trl import GRPOTrainer

    from seekerlite.budget import fit_processor
    from seekerlite.config import EnvConfig, StudentConfig
    from seekerlite.models.compat import vision_pad_ids
    from seekerlite.models.loading import load_student
    from seekerlite.plan import make_plan
    from seekerlite.train.grpo import GRPORunConfig, grpo_config, with_episode_stats
    from seekerlite.train.sft import SFTRunConfig
    from seekerlite.train.sft import make_trainer as make_sft_trainer
    from seekerlite.trajectory import images_to_files

    student_cfg = StudentConfig(model_id=str(folder), backend=backend, load_in_4bit=True, lora_r=16, device=device)
    base = {"model": model, "backend": backend, "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
            "date": datetime.date.today().isoformat(), "versions": versions()}
    st, secs, peak = measure(lambda: load_student(student_cfg, gradient_checkpointing=True), device)
    emit(base | {"phase": "load", "seconds": round(secs, 2), "peak_gib": peak}, out)
    for n in frame_counts:
        env = EnvConfig(overview_frames=4, frames_per_call=n, min_frames_per_call=n, max_tool_rounds=rounds,
                        max_total_frames=max(32, n), max_pixels=SIDE * SIDE, overview_max_pixels=224 * 224)
        fit_processor(st.processor, env)
        msgs, replies = episode(env, st.processor)
        plan = make_plan(model, env, gpu_gb=80, num_generations=2, reply_tokens=max(map(len, replies)))
        row = base | {"frames": n, "tool_rounds": rounds}
        # SFT: one step on the episode
        folder_n = work / f"sft-{model}-{n}"
        folder_n.mkdir(parents=True, exist_ok=True)
        ds = Dataset.from_list([{"id": "0", "messages_json": json.dumps(images_to_files(msgs, folder_n, "ep")),
                                 "base_dir": str(folder_n)}])
        sft = SFTRunConfig(student=student_cfg, env=env, output_dir=str(folder_n / "run"), max_steps=1,
                           per_device_train_batch_size=1, gradient_checkpointing=True, save_steps=10_000,
                           logging_steps=1)
        trainer = make_sft_trainer(sft, st, ds, save_strategy="no")
        tokens = int(trainer.data_collator([ds[0]])["input_ids"].shape[1])
        _, secs, peak = measure(trainer.train, device)
        emit(row | {"phase": "sft_step", "tokens": tokens, "seconds": round(secs, 2), "peak_gib": peak,
                    "plan_gib": plan.peak("SFT step, batch 1, checkpointing")}, out)
        del trainer
        # GRPO: one step, a group of 2 scripted rollouts through TRL's tool loop
        g = GRPORunConfig(student=student_cfg, env=env, output_dir=str(folder_n / "grpo"), num_generations=2,
                          per_device_train_batch_size=2, max_steps=1, beta=0.0, gradient_checkpointing=True,
                          max_reply_tokens=max(map(len, replies)), save_steps=10_000, eval_samples=0)
        ScriptedEnv.config = env
        prompt = [{**m, "content": [p if p["type"] == "text" else {"type": "image"} for p in m["content"]]}
                  for m in msgs[:2]]
        images = [p["image"] for m in msgs[:2] for p in m["content"] if p["type"] == "image"]
        rows = Dataset.from_list([{"prompt": prompt, "images": images}] * 2)
        reward = with_episode_stats(lambda completions, **kw: [1.0 - i / 2 for i in range(len(completions))])
        gt = GRPOTrainer(model=st.model, processing_class=st.processor, reward_funcs=[reward],
                         args=grpo_config(g, st.processor, st.backend, save_strategy="no", reward_weights=[1.0]),
                         train_dataset=rows,
                         environment_factory=ScriptedEnv)
        turn = {"n": 0}

        def scripted(prompt_ids, imgs, fields, num_generations, has_tool_images=False):
            ids = replies[min(turn["n"], len(replies) - 1)]
            turn["n"] += 1
            return [list(ids) for _ in prompt_ids], None

        gt._generate_single_turn = scripted
        _, secs, peak = measure(gt.train, device)
        dropped = sum(h.get("episode/tool_results_dropped", 0.0) for h in gt.state.log_history)
        emit(row | {"phase": "grpo_step", "tokens": plan.budget["total_tokens"], "seconds": round(secs, 2),
                    "peak_gib": peak, "plan_gib": plan.peak("GRPO step, micro-batch 2, checkpointing"),
                    "max_completion_length": gt.args.max_completion_length, "tool_results_dropped": dropped}, out)
        del gt
        # generation after the whole episode: the KV cache of one rollout
        inputs = st.processor.apply_chat_template([msgs[:-1]], add_generation_prompt=True, tokenize=True,
                                                  return_dict=True, return_tensors="pt").to(st.model.device)

        def gen() -> Any:
            with torch.no_grad():
                return st.model.generate(**inputs, max_new_tokens=32, min_new_tokens=32, do_sample=False,
                                         suppress_tokens=vision_pad_ids(st.processor))

        _, secs, peak = measure(gen, device)
        emit(row | {"phase": "generate", "tokens": int(inputs["input_ids"].shape[1]) + 32, "seconds": round(secs, 2),
                    "peak_gib": peak}, out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="2b,4b")
    p.add_argument("--frames", default="8,16,32", help="frames per crop_video call")
    p.add_argument("--tool-rounds", type=int, default=3)
    p.add_argument("--backends", default="bnb-4bit,unsloth", help="each runs in its own process")
    p.add_argument("--out", type=Path, default=None, help="append the JSON lines to this file too")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "seekerlite_gpu_check")
    p.add_argument("--dry-run", action="store_true", help="CPU, the tiny model, 2 frames, bnb-4bit")
    args = p.parse_args(argv)
    backends = args.backends.split(",")
    if args.dry_run:
        import torch

        from seekerlite.models.tiny import ensure_tiny_model

        torch.set_num_threads(1)
        check_model("tiny", ensure_tiny_model(), "bnb-4bit", [2], "cpu", 1, args.out, args.work)
        return 0
    if len(backends) > 1:  # one process per backend: unsloth patches transformers when imported
        import importlib.util

        for b in backends:
            if b == "unsloth" and importlib.util.find_spec("unsloth") is None:
                emit({"phase": "skip", "backend": b, "reason": "unsloth is not installed"}, args.out)
                continue
            cmd = [sys.executable, __file__, "--models", args.models, "--frames", args.frames, "--backends", b,
                   "--tool-rounds", str(args.tool_rounds), "--work", str(args.work)]
            cmd += ["--out", str(args.out)] if args.out else []
            rc = subprocess.call(cmd, env=os.environ)
            if rc:
                emit({"phase": "error", "backend": b, "returncode": rc}, args.out)
        return 0
    from seekerlite.config import StudentConfig
    from seekerlite.models.loading import import_unsloth_first

    import_unsloth_first(StudentConfig(backend=backends[0], device="cuda"))
    for m in args.models.split(","):
        folder = random_checkpoint(m, args.work / f"qwen3-vl-{m}-random")
        check_model(m, folder, backends[0], [int(x) for x in args.frames.split(",")], "cuda", args.tool_rounds,
                    args.out, args.work)
        import gc

        import torch

        gc.collect()
        torch.cuda.empty_cache()  # the model of check_model is gone: the next one starts from an empty card
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
