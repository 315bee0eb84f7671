"""Perception-pretraining examples: toy-world frames and crops, each with one question and a short answer.

    clip = generate_clip(ToyWorldConfig(), pretrain_seed("train", 0))
    ex = PRETRAIN_TASKS["colour"](clip, np.random.default_rng(0))   # Example(task, messages, answer) or None

Every example is a chat in the layout the episodes use (``protocol.build_first_turn``'s texts, ``env.crop_video``'s
tool-result text, ``<answer>...</answer>`` replies), so the pretrained base sees at pretraining what it sees in an
episode; images are what the environment hands the processor (a 320x240 frame, or a crop fitted by
``images.fit_for_processor`` to ``EnvConfig.max_pixels``). The tasks:

    colour_crop colour of the marked object on an object-centred crop of the marked frame (the first stage)
    colour      colour of the marked object (marked frame, or an object-centred crop of it)
    shape       shape of the marked object (same images); shape_crop: on crops only
    cell        which 3x3 grid cell (``regions.CELL_NAMES``) holds the marked object (the full marked frame)
    cell_alone  the same with the other objects painted over (the cell stage's first step)
    colour_at   colour of the *target* at a given time, after one crop_video call that returns crops of it there
                (the marked frame alone is not enough after a colour change)
    crop_read   read a cell-region crop (what crop_video(region=cell) returns): the colour of the <shape> in it, or
                the shape of the <colour> object in it
    colour_mc   colour of the marked object as a multiple-choice letter (the MC form of the episodes)
    letter      read the options: the think names one option (given, not predicted), the answer is its letter -
                the lookup a real pretrained model brings and the tiny one must learn (colours, edges, shapes)
    letter_text the same without the image: ~10x cheaper a step, so the lookup gets the examples it needs

The marked object is any visible object (not only the clip's target, whose look-alike would make the frame's
majority colour a shortcut), on a random visible frame or on ``choose_prompt_frame``'s, with a random mark type.

Seeds: the toy-world specs evaluation uses (``data.load_samples("toy:N@S")``) render clip k of world S from seed
``S * 100_000 + k`` with k < ``data.MAX_TOY_CLIPS`` (10 000, ``EVAL_CLIPS_PER_WORLD`` here), so every seed whose remainder modulo 100 000 is >= 10 000 is
disjoint from every evaluation world. Pretraining draws its training clips from remainders 60 000-99 999 and its
held-out clips from remainders 50 000-59 999 (``pretrain_seed``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from seekerlite.config import EnvConfig
from seekerlite.grammar import answer_reply
from seekerlite.images import fit_for_processor
from seekerlite.protocol import timestamp_text
from seekerlite.regions import CELL_NAMES, cell_box, cell_of_box, to_pixels
from seekerlite.schema import OPTION_LETTERS, PROMPT_TYPES, mask_to_box
from seekerlite.toyworld.dataset import choose_prompt_frame, render_prompt
from seekerlite.toyworld.world import DEFAULT_COLORS, EDGES, SHAPES, ToyClip

SPLITS = {"held_out": (50_000, 10_000), "train": (60_000, 40_000)}  # split -> (first remainder, clips per 100 000)
EVAL_CLIPS_PER_WORLD = 10_000  # = data.MAX_TOY_CLIPS (a test keeps them equal; data is not importable here)
MIN_AREA = 60  # pixels: an object smaller than this on a frame is not asked about there
_ENV = EnvConfig()


def pretrain_seed(split: str, k: int) -> int:
    """The world seed of pretraining clip ``k`` of ``split`` ("train" or "held_out"), never an evaluation seed.

    >>> pretrain_seed("train", 0), pretrain_seed("train", 40_000), pretrain_seed("held_out", 3)
    (60000, 160000, 50003)
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    first, per = SPLITS[split]
    seed = 100_000 * (k // per) + first + k % per
    assert seed % 100_000 >= EVAL_CLIPS_PER_WORLD  # outside every toy spec's seeds
    return seed


@dataclass
class Example:
    """One pretraining example: a chat whose last assistant turn is ``grammar.answer_reply(answer, seen)``."""

    task: str
    messages: list[dict[str, Any]]  # HF chat format; image parts hold PIL images
    answer: str  # the final answer (the loss covers it and the phrase the think says was seen)
    view: str = "full"  # what the question's image is: "full" (a whole frame) or "crop" (a zoomed region)
    seen: str | None = None  # what the think says was seen; None = the answer itself (open questions)
    seen_given: bool = False  # the think's phrase is given, not predicted: only the answer is trained


TaskFn = Callable[[ToyClip, np.random.Generator], Example | None]
PRETRAIN_TASKS: dict[str, TaskFn] = {}
"""Task name -> builder; a builder returns None when this clip (at the drawn frame/object) has no clear answer."""


def task(name: str) -> Callable[[TaskFn], TaskFn]:
    """Decorator registering a pretraining task."""
    def register(fn: TaskFn) -> TaskFn:
        PRETRAIN_TASKS[name] = fn
        return fn
    return register


# ----------------------------------------------------------------------------- helpers
def _box(clip: ToyClip, object_id: str, f: int) -> list[int] | None:
    m = clip.masks[object_id][f]
    return mask_to_box(m) if m.sum() >= MIN_AREA else None


def _mark(clip: ToyClip, rng: np.random.Generator, target_only: bool = False
          ) -> tuple[np.ndarray, str, str, int, list[int]] | None:
    """Mark one visible object on one frame: (image, phrase, object id, frame, box) or None."""
    use_target = target_only or rng.random() < 0.3
    oid = clip.target_id if use_target else clip.objects[int(rng.integers(len(clip.objects)))].id
    if use_target and rng.random() < 0.5:
        f = choose_prompt_frame(clip, oid)  # the frame evaluation marks
    else:
        area = clip.masks[oid].reshape(clip.num_frames, -1).sum(1)
        ok = np.nonzero(area >= MIN_AREA)[0]
        if not len(ok):
            return None
        f = int(rng.choice(ok))
    box = _box(clip, oid, f)
    if box is None:
        return None
    ptype = str(rng.choice(PROMPT_TYPES))
    img, _, phrase = render_prompt(clip, oid, ptype, seed=int(rng.integers(2**31)), frame_index=f)
    return img, phrase, oid, f, box


def _centred_crop(img: np.ndarray, box: list[float], rng: np.random.Generator, pad: tuple[int, int, int] | None = None
                  ) -> tuple[Image.Image, list[int]]:
    """A square crop (80-160 px, jittered) around a pixel box, and its pixel box (within the frame).

    With `pad` (a background colour) the crop stays centred on the object near a border too, the frame extended
    with that colour; without it the crop is shifted inside the frame, as ``crop_video`` cuts a region."""
    H, W = img.shape[:2]
    side = int(rng.integers(80, 161))
    cx = (box[0] + box[2]) / 2 + rng.uniform(-0.1, 0.1) * side
    cy = (box[1] + box[3]) / 2 + rng.uniform(-0.1, 0.1) * side
    if pad is not None:
        x0, y0 = round(cx - side / 2), round(cy - side / 2)
        canvas = np.empty((H + 2 * side, W + 2 * side, 3), np.uint8)
        canvas[:] = pad
        canvas[side:side + H, side:side + W] = img
        crop = Image.fromarray(np.ascontiguousarray(canvas[y0 + side:y0 + 2 * side, x0 + side:x0 + 2 * side]))
        px = [max(0, x0), max(0, y0), min(W, x0 + side), min(H, y0 + side)]
        return fit_for_processor(crop, _ENV.max_pixels), px
    x0 = int(np.clip(round(cx - side / 2), 0, max(0, W - side)))
    y0 = int(np.clip(round(cy - side / 2), 0, max(0, H - side)))
    px = [x0, y0, min(W, x0 + side), min(H, y0 + side)]
    crop = Image.fromarray(np.ascontiguousarray(img[px[1]:px[3], px[0]:px[2]]))
    return fit_for_processor(crop, _ENV.max_pixels), px


def _to_1000(px: list[int], W: int, H: int) -> list[int]:
    return [round(px[0] * 1000 / W), round(px[1] * 1000 / H), round(px[2] * 1000 / W), round(px[3] * 1000 / H)]


def _question(text: str, options: list[str] | None = None) -> str:
    """``protocol.question_text`` for a question and optional options."""
    if options is None:
        return f"Question: {text}\nAnswer with a short phrase."
    lines = [f"Question: {text}"] + [f"{OPTION_LETTERS[i]}. {o}" for i, o in enumerate(options)]
    return "\n".join(lines + ["Answer with the option's letter."])


def _user(clip: ToyClip, image: Any, f: int, question: str, region: list[int] | None = None) -> dict[str, Any]:
    """The opening user turn: the marked frame (or a region of it) and the question (no overview)."""
    where = f", region {region}" if region is not None else ""
    return {"role": "user", "content": [
        {"type": "text", "text": f"The video lasts {clip.duration:.1f} seconds. The marked instance, at "
                                 f"{timestamp_text(f / clip.fps)}{where}:"},
        {"type": "image", "image": image}, {"type": "text", "text": question}]}


def _reply(answer: str, seen: str | None = None) -> dict[str, Any]:
    """The episodes' final reply (``grammar.answer_reply``): what was seen in the think, then the answer."""
    return {"role": "assistant", "content": answer_reply(answer, seen)}


def _marked_view(clip: ToyClip, rng: np.random.Generator, p_crop: float = 0.5
                 ) -> tuple[Any, str, str, int, list[int] | None] | None:
    """(image, phrase, object id, frame, region or None): the marked frame, or with `p_crop` a crop of it."""
    got = _mark(clip, rng)
    if got is None:
        return None
    img, phrase, oid, f, box = got
    if rng.random() < p_crop:
        crop, px = _centred_crop(img, box, rng, pad=clip.config.background)
        return crop, phrase, oid, f, _to_1000(px, img.shape[1], img.shape[0])
    return Image.fromarray(img), phrase, oid, f, None


# ----------------------------------------------------------------------------- the tasks
def _attribute(name: str, what: str, clip: ToyClip, rng: np.random.Generator, p_crop: float = 0.5
               ) -> Example | None:
    """"What `what` is the marked object?" on the marked frame, or with `p_crop` an object-centred crop of it."""
    got = _marked_view(clip, rng, p_crop=p_crop)
    if got is None:
        return None
    image, phrase, oid, f, region = got
    obj = clip.obj(oid)
    answer = obj.colors[f] if what == "colour" else obj.shape
    q = _question(f"The marked object is {phrase}. What {what} is the marked object?")
    return Example(name, [_user(clip, image, f, q, region), _reply(answer)], answer,
                   "full" if region is None else "crop")


@task("colour")
def _colour(clip: ToyClip, rng: np.random.Generator) -> Example | None:
    return _attribute("colour", "colour", clip, rng)


@task("colour_crop")
def _colour_crop(clip: ToyClip, rng: np.random.Generator) -> Example | None:
    """The colour task on object-centred crops only: the curriculum's first step (a full frame's object is 1-2 of
    12 visual tokens; with half the examples full frames from the start, a random-init student stays at chance)."""
    return _attribute("colour_crop", "colour", clip, rng, p_crop=1.0)


@task("shape")
def _shape(clip: ToyClip, rng: np.random.Generator) -> Example | None:
    return _attribute("shape", "shape", clip, rng)


@task("shape_crop")
def _shape_crop(clip: ToyClip, rng: np.random.Generator) -> Example | None:
    """The shape task on object-centred crops only (the shape stage's first step, as colour_crop is colour's)."""
    return _attribute("shape_crop", "shape", clip, rng, p_crop=1.0)


def _cell_example(name: str, clip: ToyClip, rng: np.random.Generator, alone: bool) -> Example | None:
    got = _mark(clip, rng)
    if got is None:
        return None
    img, phrase, oid, f, box = got
    H, W = img.shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    if min(abs(cx - W * k / 3) for k in (1, 2)) < 8 or min(abs(cy - H * k / 3) for k in (1, 2)) < 8:
        return None  # on a border between two cells: no clear answer
    if alone:  # the other objects painted over with the background: only the marked one is left to find
        others = np.zeros((H, W), bool)
        for o in clip.objects:
            if o.id != oid:
                others |= clip.masks[o.id][f].astype(bool)
        img = img.copy()
        img[others & ~clip.masks[oid][f].astype(bool)] = clip.config.background
    cell = cell_of_box(box, W, H)
    q = _question(f"The marked object is {phrase}. Which cell of the 3x3 grid holds the marked object "
                  f"({', '.join(CELL_NAMES)})?")
    return Example(name, [_user(clip, Image.fromarray(img), f, q), _reply(cell)], cell)


@task("cell")
def _cell(clip: ToyClip, rng: np.random.Generator) -> Example | None:
    return _cell_example("cell", clip, rng, alone=False)


@task("cell_alone")
def _cell_alone(clip: ToyClip, rng: np.random.Generator) -> Example | None:
    """The cell task with the marked object alone on its frame: reading *where* before finding *which* (the cell
    stage's first step, as colour_crop is colour's)."""
    return _cell_example("cell_alone", clip, rng, alone=True)


def _tool_turns(args: dict[str, Any], text: str, frames: list[tuple[float, Any]]) -> list[dict[str, Any]]:
    """An assistant crop_video call and its tool result (``env.crop_video``'s text layout)."""
    call = {"role": "assistant", "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "crop_video", "arguments": args}}]}
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    for t, img in frames:
        content += [{"type": "text", "text": timestamp_text(t)}, {"type": "image", "image": img}]
    return [call, {"role": "tool", "content": content}]


@task("colour_at")
def _colour_at(clip: ToyClip, rng: np.random.Generator) -> Example | None:
    got = _mark(clip, rng, target_only=True)
    if got is None:
        return None
    img, phrase, oid, f, _ = got
    ob = clip.obj(oid)
    visible = [g for g in range(clip.num_frames) if _box(clip, oid, g) is not None]
    changes = clip.events_of(oid, "color_change")
    if changes and rng.random() < 0.6:  # mostly after the change: the marked frame shows the old colour
        later = [g for g in visible if g >= changes[0].frame + 2]
        visible = later or visible
    if not visible:
        return None
    g = int(rng.choice(visible))
    n = int(rng.integers(1, 3))
    frames_idx = sorted({max(0, g - 5 * (n - 1)), g})  # 1 or 2 frames, the asked one last
    H, W = clip.frames.shape[1:3]
    _, region = _centred_crop(clip.frames[g], _box(clip, oid, g), rng)  # one region, centred where it is asked
    crop_frames = [(k / clip.fps, fit_for_processor(Image.fromarray(np.ascontiguousarray(
        clip.frames[k][region[1]:region[3], region[0]:region[2]])), _ENV.max_pixels)) for k in frames_idx]
    colour = ob.colors[g]
    t0, t1 = frames_idx[0] / clip.fps, (frames_idx[-1] + 1) / clip.fps
    r1000 = _to_1000(region, W, H)
    args = {"start_time": round(t0, 1), "end_time": round(t1, 1), "region": r1000}
    text = f"{len(crop_frames)} frames from {t0:.1f} to {t1:.1f} seconds, region {r1000} (pixels {region}):"
    q = _question(f"The marked object is {phrase}. What colour is the marked object at {timestamp_text(g / clip.fps)}?")
    msgs = [_user(clip, Image.fromarray(img), f, q), *_tool_turns(args, text, crop_frames), _reply(colour)]
    return Example("colour_at", msgs, colour, "crop")


@task("crop_read")
def _crop_read(clip: ToyClip, rng: np.random.Generator) -> Example | None:
    g = int(rng.integers(clip.num_frames))
    H, W = clip.frames.shape[1:3]
    present = [(o, b) for o in clip.objects if (b := _box(clip, o.id, g)) is not None]
    if not present:
        return None
    ob, b = present[int(rng.integers(len(present)))]
    cell = cell_of_box(b, W, H)
    region = [round(v) for v in to_pixels(cell_box(cell), W, H)]
    inside = []
    for o, _ in present:
        m = clip.masks[o.id][g]
        share = m[region[1]:region[3], region[0]:region[2]].sum() / max(1, m.sum())
        if share > 0.6:
            inside.append(o)
        elif share > 0.05:
            return None  # a half-cut object would make the answer unclear
    if ob not in inside:
        return None
    if rng.random() < 0.5:
        same = {o.colors[g] for o in inside if o.shape == ob.shape}
        if len(same) > 1:
            return None
        q, answer = f"What colour is the {ob.shape} in the crop?", ob.colors[g]
    else:
        same = {o.shape for o in inside if o.colors[g] == ob.colors[g]}
        if len(same) > 1:
            return None
        q, answer = f"What shape is the {ob.colors[g]} object in the crop?", ob.shape
    crop = fit_for_processor(Image.fromarray(np.ascontiguousarray(
        clip.frames[g][region[1]:region[3], region[0]:region[2]])), _ENV.max_pixels)
    t = g / clip.fps
    end = min(clip.duration, t + 0.1)
    text = f"1 frames from {t:.1f} to {end:.1f} seconds, region {cell_box(cell)} (pixels {region}):"
    user = {"role": "user", "content": [{"type": "text", "text": f"The video lasts {clip.duration:.1f} seconds. "
                                         + _question(q) + f"\nLook at the {cell} cell at {timestamp_text(t)}."}]}
    args = {"start_time": round(t, 1), "end_time": round(end, 1), "region": cell_box(cell)}
    return Example("crop_read", [user, *_tool_turns(args, text, [(t, crop)]), _reply(answer)], answer, "crop")


@task("colour_mc")
def _colour_mc(clip: ToyClip, rng: np.random.Generator) -> Example | None:
    got = _marked_view(clip, rng, p_crop=0.3)
    if got is None:
        return None
    image, phrase, oid, f, region = got
    colour = clip.obj(oid).colors[f]
    names = list(clip.config.colors)
    wrong = [c for c in names if c != colour]
    opts = [colour] + [wrong[i] for i in rng.choice(len(wrong), 3, replace=False)]
    opts = [opts[i] for i in rng.permutation(4)]
    letter = OPTION_LETTERS[opts.index(colour)]
    q = _question(f"The marked object is {phrase}. What colour is the marked object?", opts)
    return Example("colour_mc", [_user(clip, image, f, q, region), _reply(letter, colour)], letter,
                   "full" if region is None else "crop", colour)


LETTER_VOCABULARIES = (tuple(DEFAULT_COLORS), tuple(f"the {e} edge" for e in EDGES), SHAPES)


@task("letter")
def _letter(clip: ToyClip, rng: np.random.Generator) -> Example | None:
    got = _mark(clip, rng)
    if got is None:
        return None
    img, phrase, _oid, f, _ = got
    words = list(LETTER_VOCABULARIES[int(rng.integers(len(LETTER_VOCABULARIES)))])
    opts = [words[i] for i in rng.choice(len(words), min(4, len(words)), replace=False)]
    opts = sorted(opts) if rng.random() < 0.5 else opts  # the toy world shuffles its options; half sorted adds a simpler layout
    seen = opts[int(rng.integers(len(opts)))]
    letter = OPTION_LETTERS[opts.index(seen)]
    q = _question(f"The marked object is {phrase}. Which option did you see?", opts)
    return Example("letter", [_user(clip, Image.fromarray(img), f, q), _reply(letter, seen)], letter, "full", seen,
                   seen_given=True)


@task("letter_text")
def _letter_text(clip: ToyClip, rng: np.random.Generator) -> Example | None:
    ex = _letter(clip, rng)
    if ex is None:
        return None
    msgs = [{**m, "content": [c for c in m["content"] if c["type"] != "image"]} if m["role"] == "user" else m
            for m in ex.messages]
    return replace(ex, task="letter_text", messages=msgs, view="text")


_PHRASE = re.compile(r"The marked object is [^.]*\. ")
_INTRO = re.compile(r"^The video lasts [0-9.]+ seconds\. ")


def shorten(example: Example) -> Example:
    """The same example with a short prompt: no intro text before the marked frame, no mark phrase, no answer-form
    line. Early in the curriculum it lets the answer's attention find the image tokens among few others (the
    episodes' layout is ~4x longer); later stages mix both forms, and the held-out set uses the episodes' layout."""
    msgs = []
    for m in example.messages:
        if m["role"] != "user" or not isinstance(m["content"], list):
            msgs.append(m)
            continue
        parts = []
        for c in m["content"]:
            if c["type"] == "text":
                text = _INTRO.sub("", c["text"])
                if text.startswith("The marked instance"):
                    continue
                text = _PHRASE.sub("", text).replace("\nAnswer with a short phrase.", "")
                c = {**c, "text": text.replace("\nAnswer with the option's letter.", "")}
            parts.append(c)
        msgs.append({**m, "content": parts})
    return Example(example.task, msgs, example.answer, example.view, example.seen, example.seen_given)
