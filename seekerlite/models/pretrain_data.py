"""The data side of perception pretraining: examples drawn per curriculum stage, collated into batches the way
the tiny processor would (``PretrainCollator``), streamed from one background worker, and the fixed held-out set.

    stream = PretrainStream(PretrainConfig(), processor)      # an IterableDataset of collated training batches
    held = held_out_set(processor, ["colour", "cell"], per_task=64)
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from seekerlite.grammar import ANSWER_OPEN, SEEN_TEXT, THINK_OPEN, answer_reply
from seekerlite.models.pretrain_tasks import (
    PRETRAIN_TASKS,
    Example,
    pretrain_seed,
    shorten,
)

if TYPE_CHECKING:
    from seekerlite.models.pretrain import PretrainConfig

IGNORE_INDEX = -100


# ----------------------------------------------------------------------------- batches
class PretrainCollator:
    """Examples -> a padded batch (input_ids, attention_mask, pixel_values, image_grid_thw, labels, tasks).

    Labels are the answer tokens only: the tokens overlapping the phrase the final reply's think says was seen and
    the answer inside its ``<answer>...</answer>`` (``grammar.answer_reply``). Tokenized texts are cached by their rendered string (``max_cache`` entries).
    """

    def __init__(self, processor: Any, max_cache: int = 20_000) -> None:
        self.processor, self.tokenizer = processor, processor.tokenizer
        self.image_processor = processor.image_processor
        self.pad_id = self.tokenizer.pad_token_id
        self.image_pad = self.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        self.merge = int(getattr(self.image_processor, "merge_size", 2)) ** 2
        self.mm_types = "mm_token_type_ids" in getattr(processor, "model_input_names", [])  # transformers >= 5.2x
        self._cache: dict[str, tuple[list[int], list[bool]]] = {}
        self.max_cache = max_cache

    def encode_text(self, example: Example) -> tuple[list[int], list[bool]]:
        """(ids with one image placeholder per image, answer mask) of one example's rendered chat."""
        msgs = [{**m, "content": [{k: v for k, v in c.items() if k != "image"} for c in m["content"]]}
                if isinstance(m["content"], list) else m for m in example.messages]
        text = self.tokenizer.apply_chat_template(msgs, tokenize=False)
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        seen = example.seen if example.seen is not None else example.answer
        reply = answer_reply(example.answer, seen)
        at = text.rindex(reply)
        spans = [(at + len(THINK_OPEN) + len(SEEN_TEXT), len(seen)),  # the phrase seen, then the answer
                 (at + reply.rindex(ANSWER_OPEN) + len(ANSWER_OPEN), len(example.answer))][example.seen_given:]
        enc = self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
        mask = [any(a < s + n and b > s for s, n in spans) for a, b in enc["offset_mapping"]]
        if not any(mask):
            raise ValueError(f"{example.task}: the answer {example.answer!r} has no token of its own")
        if len(self._cache) < self.max_cache:
            self._cache[text] = (enc["input_ids"], mask)
        return enc["input_ids"], mask

    def __call__(self, examples: list[Example]) -> dict[str, Any]:
        import torch

        images = [c["image"] for e in examples for m in e.messages if isinstance(m["content"], list)
                  for c in m["content"] if c.get("type") == "image"]
        vision = self.image_processor(images=images, return_tensors="pt") if images else {}
        counts = (vision["image_grid_thw"].prod(-1) // self.merge).tolist() if images else []  # tokens per image
        rows, masks, k = [], [], 0
        for e in examples:
            ids, mask = self.encode_text(e)
            out_ids, out_mask = [], []
            for tok, m in zip(ids, mask, strict=True):
                n = counts[k] if tok == self.image_pad else 1
                k += tok == self.image_pad
                out_ids += [tok] * n
                out_mask += [m] * n
            rows.append(out_ids)
            masks.append(out_mask)
        if k != len(counts):
            raise ValueError(f"{k} image placeholders for {len(counts)} images")
        T = max(map(len, rows))
        input_ids = torch.full((len(rows), T), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), T), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((len(rows), T), dtype=torch.long)
        for i, (ids, mask) in enumerate(zip(rows, masks, strict=True)):
            t = torch.tensor(ids)
            input_ids[i, :len(ids)], attention[i, :len(ids)] = t, 1
            labels[i, :len(ids)] = t.masked_fill(~torch.tensor(mask), IGNORE_INDEX)
        batch = {"input_ids": input_ids, "attention_mask": attention, "labels": labels, **vision,
                 "tasks": [e.task for e in examples], "views": [e.view for e in examples]}  # no images: text only
        if self.mm_types:  # what the processor adds: 1 on image tokens, 0 elsewhere (M-RoPE reads it)
            batch["mm_token_type_ids"] = (input_ids == self.image_pad).long()
        return batch


def draw_example(clips: list[Any], tasks: list[str], rng: np.random.Generator, short_share: float = 0.0) -> Example:
    """One example of a task drawn from `tasks`, on a clip drawn from `clips` (retried until one has an answer);
    with probability `short_share` in its short-prompt form (``pretrain_tasks.shorten``)."""
    for _ in range(200):
        ex = PRETRAIN_TASKS[tasks[int(rng.integers(len(tasks)))]](clips[int(rng.integers(len(clips)))], rng)
        if ex is not None:
            return shorten(ex) if short_share and rng.random() < short_share else ex
    raise RuntimeError(f"no example of {tasks} in 200 draws")


def stage_tasks(stages: list[tuple[list[str], int]], step: int) -> tuple[int, list[str], list[str]]:
    """(stage index, tasks it adds, tasks of earlier stages) at `step`.

    >>> stage_tasks([(["colour"], 10), (["shape", "cell"], 5)], 12)
    (1, ['shape', 'cell'], ['colour'])
    """
    start, seen = 0, []
    for i, (tasks, steps) in enumerate(stages):
        if step < start + steps:
            return i, tasks, seen
        start += steps
        seen = seen + tasks
    raise ValueError(f"step {step} is past the curriculum's {start} steps")


def _iterable_base() -> type:
    from torch.utils.data import IterableDataset

    return IterableDataset


class PretrainStream(_iterable_base()):  # type: ignore[misc]
    """The training batches, in a fixed order for a seed (an ``IterableDataset`` for a one-worker ``DataLoader``)."""

    def __init__(self, cfg: PretrainConfig, processor: Any) -> None:
        self.cfg, self.collate = cfg, PretrainCollator(processor)

    def __iter__(self):
        import torch

        from seekerlite.toyworld import ToyWorldConfig, generate_clip

        torch.set_num_threads(1)
        cfg, stages, shares = self.cfg, self.cfg.parsed_stages(), self.cfg.stage_shares()
        world = ToyWorldConfig()
        n_clip = cfg.seed * 1_000_000  # each pretraining seed reads its own clips
        clips = []
        for _ in range(cfg.clip_pool):
            clips.append(generate_clip(world, pretrain_seed("train", n_clip)))
            n_clip += 1
        total = sum(s for _, s in stages)
        for step in range(total):
            rng = np.random.default_rng([cfg.seed, step])
            stage, new, old = stage_tasks(stages, step)
            short = cfg.short_share_first if stage == 0 else cfg.short_share
            batch = [draw_example(clips, new if not old or rng.random() < shares[stage] else old, rng, short)
                     for _ in range(cfg.per_device_train_batch_size)]
            yield self.collate(batch)
            if (step + 1) % cfg.clip_every == 0:
                clips[n_clip % cfg.clip_pool] = generate_clip(world, pretrain_seed("train", n_clip))
                n_clip += 1


def held_out_set(processor: Any, tasks: list[str], per_task: int, batch_size: int = 32,
                 short: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Collated held-out batches: `per_task` examples of each task on held-out clips (fixed for all seeds), in the
    episodes' layout; the tasks in `short` also in their short-prompt form (as task ``"<task>@short"``)."""
    from seekerlite.toyworld import ToyWorldConfig, generate_clip

    collate, world = PretrainCollator(processor), ToyWorldConfig()
    out = []
    for ti, name in enumerate(tasks):
        rng = np.random.default_rng([12345, ti])
        n = min(per_task, max(4, per_task // 8))
        clips = [generate_clip(world, pretrain_seed("held_out", ti * 1000 + k)) for k in range(n)]
        examples = [_held_example(clips, i, name, rng) for i in range(per_task)]
        if name in short:
            examples += [replace(shorten(e), task=f"{name}@short") for e in examples]
        for i in range(0, len(examples), batch_size):
            b = collate(examples[i:i + batch_size])
            b["answers"] = [e.answer for e in examples[i:i + batch_size]]
            out.append(b)
    return out


def _held_example(clips: list[Any], i: int, name: str, rng: np.random.Generator) -> Example:
    """Example i of a held-out task: from clip i mod len(clips) when it has one (spreads over all clips)."""
    return draw_example([clips[i % len(clips)]], [name], rng) if i % 4 else draw_example(clips, [name], rng)
