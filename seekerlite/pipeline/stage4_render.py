"""Stage 4, visual-prompt rendering: pick the frame where the instance is most visible, draw a prompt type drawn
from a configurable distribution on it, and save it as the sample's F_vp.

    best = choose_frame(masklet, width=768, height=576, others=[other_masklet])   # a FrameScore
    for oc in render_samples(samples, base_dir="runs/x", out_dir="runs/x", config=RenderConfig()): ...

A frame's score is ``size * border * (1 - occlusion)``:
    size        the instance's area (mask pixels, else box area) over its largest area in the video
    border      1, or ``cut_penalty`` when its box touches the frame's edge (the instance is cut off)
    occlusion   the largest fraction of its box covered by another instance's box (other masklets of the video)

``frame_choice``: "best" always takes the best frame; "keep_or_best" keeps the frame the sample already names
(the question's author may have chosen it so the frame does not give the answer away, e.g. before a colour
change) unless it scores below ``keep_ratio`` x the best; "keep" keeps it whenever the instance is visible there.

The mark's type: ``prompt_type_choice`` "draw" draws it from ``prompt_types`` (variety for training data); "keep"
keeps the type the sample names (``visual_prompt.prompt_type``, "rectangle" when only a box is given). Either way a
question never names a different mark than the one drawn: the words naming the mark are found (the toy world's
``extra["prompt_phrase"]``, else any mark type's phrase with the object's noun and a colour: "the cup in the red
box", "the dog circled in red", "the person labelled 2") and rewritten for the drawn mark ("the cup the red arrow
points to"); a question that names a mark in words stage 4 cannot rewrite ("the red-boxed cup") keeps its own type.
Words that name no mark ("the marked cup") suit every type and stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import re

from seekerlite.marks import MARKS, describe_prompt, render_visual_prompt
from seekerlite.paths import file_name, inside
from seekerlite.pipeline.store import Outcome, drop
from seekerlite.schema import (
    PROMPT_TYPES,
    Box,
    Masklet,
    Sample,
    VisualPrompt,
    resolve_path,
    stable_seed,
)

MASK_TYPES = ("mask_contour", "mask_overlay")  # types that need a real mask (drawn from the box otherwise)
NAMED_COLORS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0), "white": (255, 255, 255), "yellow": (255, 230, 0), "cyan": (0, 230, 255),
    "magenta": (255, 0, 255), "green": (0, 200, 0), "blue": (30, 90, 255), "orange": (255, 140, 0)}


@dataclass
class RenderConfig:
    """Stage 4: which prompt types, how the frame is chosen, what colour the mark is."""

    prompt_types: dict[str, float] = field(default_factory=lambda: {t: 1.0 for t in PROMPT_TYPES})  # type -> weight
    prompt_type_choice: str = "draw"  # "draw": from prompt_types | "keep": the sample's own visual_prompt.prompt_type
    frame_choice: str = "keep_or_best"  # "best" | "keep_or_best" | "keep"
    keep_ratio: float = 0.5  # keep_or_best: keep the sample's frame when its score >= keep_ratio x the best score
    border_margin: float = 2.0  # pixels: a box this close to the frame's edge is cut by the border
    cut_penalty: float = 0.3  # score factor of a frame where the instance is cut by the border
    color: str = "red"  # colour of the mark, a name in NAMED_COLORS (questions that name the mark are rewritten)
    source_colors: dict[str, str] = field(default_factory=dict)  # provenance["source"] -> colour name, e.g. {"toyworld": "white"}
    seed: int = 0  # with the sample id, seeds the type drawn and the mark's random parts


@dataclass
class FrameScore:
    """How good a frame is for marking the instance."""

    frame: int
    size: float  # area / largest area of the instance in the video, 0..1
    cut: bool  # the box touches the frame's border
    occlusion: float  # largest fraction of the box covered by another instance's box, 0..1
    score: float  # size * (cut_penalty if cut else 1) * (1 - occlusion)


def _area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _covered(b: Box, o: Box) -> float:
    """Fraction of box b covered by box o."""
    inter = _area([max(b[0], o[0]), max(b[1], o[1]), min(b[2], o[2]), min(b[3], o[3])])
    return inter / _area(b) if _area(b) > 0 else 0.0


def score_frames(masklet: Masklet, width: int, height: int, others: Iterable[Masklet] = (), *,
                 border_margin: float = 2.0, cut_penalty: float = 0.3) -> list[FrameScore]:
    """A FrameScore for every frame where the instance is visible (see module docstring)."""
    others = list(others)
    areas = {}
    for f, b, rle in zip(masklet.frame_indices, masklet.boxes, masklet.rles or [None] * len(masklet.boxes)):
        if b is not None:
            areas[f] = float(_mask_area(rle)) if rle is not None else _area(b)
    top = max(areas.values(), default=0.0)
    out = []
    for f, a in areas.items():
        b = masklet.box_at(f)
        cut = b[0] <= border_margin or b[1] <= border_margin or b[2] >= width - border_margin or b[3] >= height - border_margin
        occ = max((_covered(b, ob) for o in others if (ob := o.box_at(f)) is not None), default=0.0)
        size = a / top if top > 0 else 0.0
        out.append(FrameScore(f, round(size, 4), cut, round(occ, 4), round(size * (cut_penalty if cut else 1.0) * (1 - occ), 4)))
    return out


def _mask_area(rle: dict[str, Any]) -> int:
    from pycocotools import mask as mask_utils

    counts = rle["counts"]
    return int(mask_utils.area({"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}))


def choose_frame(masklet: Masklet, width: int, height: int, others: Iterable[Masklet] = (), **kwargs: Any) -> FrameScore:
    """The best frame to mark: highest score, the earliest on a tie. Raises ValueError if never visible.

    >>> m = Masklet("a", [0, 1, 2], [[0, 10, 20, 40], [30, 10, 50, 40], [30, 10, 60, 40]])
    >>> choose_frame(m, 100, 100).frame    # frame 0 touches the left edge; frame 2 is the largest
    2
    """
    scores = score_frames(masklet, width, height, others, **kwargs)
    if not scores:
        raise ValueError(f"masklet {masklet.instance_id!r} is never visible")
    return max(scores, key=lambda s: (s.score, -s.frame))


def draw_prompt_type(weights: dict[str, float], rng: np.random.Generator, has_mask: bool = True) -> str:
    """A prompt type drawn with `weights` (mask types left out when there is no mask)."""
    unknown = set(weights) - set(PROMPT_TYPES)
    if unknown:
        raise ValueError(f"unknown prompt types {sorted(unknown)}; expected some of {PROMPT_TYPES}")
    items = [(t, float(w)) for t, w in weights.items() if w > 0 and (has_mask or t not in MASK_TYPES)]
    if not items:
        items = [("rectangle", 1.0)]
    p = np.array([w for _, w in items])
    return items[int(rng.choice(len(items), p=p / p.sum()))][0]


MARK_WORDS = re.compile(r"\b(box|boxed|rectangle|circled|ellipse|triangle|arrow|dot|scribble|outlined|outline|"
                        r"highlighted|labelled|labeled|tag|tagged)\b", re.IGNORECASE)  # words that name a kind of mark


def _phrase_pattern(template: str) -> re.Pattern[str]:
    """A mark type's phrase template as a regex: any one-word noun for "object", any named colour, any label."""
    parts = re.split(r"(object|\{color\}|\{label\})", template)
    alts = {"object": r"(?P<noun>[A-Za-z][A-Za-z-]*)", "{color}": "(?P<color>" + "|".join(NAMED_COLORS) + ")",
            "{label}": r"(?P<label>\d+)"}
    return re.compile(r"\b" + "".join(alts.get(p, re.escape(p)) for p in parts) + r"\b", re.IGNORECASE)


PHRASE_PATTERNS = {t: _phrase_pattern(m.phrase) for t, m in MARKS.items()}


def find_mark_words(question: str) -> tuple[str, str] | None:
    """(the words naming the mark, the object's noun) when the question uses one of the marks' phrases.

    >>> find_mark_words("What does the dog in the red box do?")
    ('the dog in the red box', 'dog')
    >>> find_mark_words("Where does the marked person go?") is None
    True
    """
    for pattern in PHRASE_PATTERNS.values():
        m = pattern.search(question)
        if m:
            return m.group(0), m.group("noun")
    return None


def mark_phrase(prompt_type: str, color_name: str, label: str, noun: str = "object") -> str:
    """How a question names the object marked with `prompt_type` ("the cup circled in red")."""
    phrase = describe_prompt(prompt_type, color_name, label)
    return phrase.replace("the object", f"the {noun}", 1) if noun != "object" else phrase


def _given_type(s: Sample, has_mask: bool) -> str | None:
    """The sample's own prompt type when it can be drawn here (mask types need a mask), else None."""
    t = s.visual_prompt.prompt_type if s.visual_prompt is not None else None
    return t if t in PROMPT_TYPES and (has_mask or t not in MASK_TYPES) else None


def render_samples(samples: Iterable[Sample], base_dir: Any = None, out_dir: Any = None,
                   config: RenderConfig | None = None, *, skip: Iterable[str] = ()) -> Iterator[Outcome]:
    """Stage 4 over an iterable of samples: choose the frame, draw the type, save ``out_dir/prompts/<id>.png`` (the id
    escaped by ``paths.file_name``).

    The saved path is relative to `out_dir` (the run folder, against which the written JSONL resolves).
    Other masklets of the same video (other samples' instances) count as occluders and get set_of_mark tags.
    """
    from PIL import Image

    from seekerlite.video import open_video

    cfg = config or RenderConfig()
    if cfg.frame_choice not in ("best", "keep_or_best", "keep"):
        raise ValueError(f"frame_choice must be 'best', 'keep_or_best' or 'keep', got {cfg.frame_choice!r}")
    if cfg.prompt_type_choice not in ("draw", "keep"):
        raise ValueError(f"prompt_type_choice must be 'draw' or 'keep', got {cfg.prompt_type_choice!r}")
    out_dir = Path(out_dir if out_dir is not None else base_dir or ".")
    (out_dir / "prompts").mkdir(parents=True, exist_ok=True)
    samples = list(samples)
    by_video: dict[str, dict[str, Masklet]] = {}
    for s in samples:  # every instance of each video, from the whole input (so resuming changes nothing)
        if s.masklet is not None:
            by_video.setdefault(s.video_path, {}).setdefault(s.masklet.instance_id, s.masklet)
    reader, reader_path = None, None
    skip = set(skip)
    try:
        for s in samples:
            if s.id in skip:
                continue
            m = s.masklet
            if m is None:
                if s.visual_prompt is not None and s.visual_prompt.image_path:
                    yield Outcome(s.id, replace(s, provenance={**s.provenance, "stage4": {"frame_choice": "pre-marked image kept"}}))
                else:
                    yield drop(s.id, "nothing_to_mark: no masklet and no marked image")
                continue
            path = resolve_path(s.video_path, base_dir)
            if reader_path != path:
                if reader is not None:
                    reader.close()
                reader, reader_path = open_video(path), path
            others = [o for iid, o in by_video.get(s.video_path, {}).items() if iid != m.instance_id]
            kw = dict(border_margin=cfg.border_margin, cut_penalty=cfg.cut_penalty)
            scores = {fs.frame: fs for fs in score_frames(m, reader.width, reader.height, others, **kw)}
            if not scores:
                yield drop(s.id, "never_visible: the masklet has no visible frame")
                continue
            best = max(scores.values(), key=lambda fs: (fs.score, -fs.frame))
            given = s.visual_prompt.frame_index if s.visual_prompt is not None else None
            if cfg.frame_choice != "best" and given in scores and (
                    cfg.frame_choice == "keep" or scores[given].score >= cfg.keep_ratio * best.score):
                chosen, how = scores[given], "kept"
            else:
                chosen, how = best, "best"
            f = chosen.frame
            rng = np.random.default_rng(stable_seed(cfg.seed, s.id, "prompt"))
            mask = m.mask_at(f)
            has_mask = mask is not None and bool(mask.any())
            ptype = draw_prompt_type(cfg.prompt_types, rng, has_mask=has_mask)  # drawn always: seeds stay in step
            old = s.extra.get("prompt_phrase")
            words = (old, None) if isinstance(old, str) and old in s.question else find_mark_words(s.question)
            given = _given_type(s, has_mask)
            if given is not None and (cfg.prompt_type_choice == "keep"
                                      or (words is None and MARK_WORDS.search(s.question))):
                ptype = given  # kept on request, or the question names the mark in words we cannot rewrite
            color_name = cfg.source_colors.get(str(s.provenance.get("source")), cfg.color)
            if color_name not in NAMED_COLORS:
                raise ValueError(f"unknown colour {color_name!r}; expected one of {sorted(NAMED_COLORS)}")
            other_boxes = [b for o in others if (b := o.box_at(f)) is not None]
            label = str(int(rng.integers(1, len(other_boxes) + 2)))  # set_of_mark: the target's number
            box = m.box_at(f)
            img = render_visual_prompt(reader.get_frame(f).image, ptype, box=box, mask=mask,
                                       seed=stable_seed(cfg.seed, s.id, "render"), color=NAMED_COLORS[color_name],
                                       label=label, others=other_boxes)
            rel = f"prompts/{file_name(s.id)}.png"  # one file per id: "x/y" and "x_y" never share one
            Image.fromarray(img).save(inside(out_dir, rel))
            question, extra = s.question, dict(s.extra)
            if words is not None:  # the question names the mark: name the one drawn
                phrase = mark_phrase(ptype, color_name, label, words[1] or "object")
                question = question.replace(words[0], phrase)
                if words[0][:1].isupper():
                    question = question.replace(phrase, phrase[:1].upper() + phrase[1:], 1)
                extra["prompt_phrase"] = phrase
            vp = VisualPrompt(f, round(reader.time_of(f), 3), ptype, rel, box)  # its presentation time
            info = {"frame": f, "frame_choice": how, "score": chosen.score, "best_frame": best.frame,
                    "best_score": best.score, "prompt_type": ptype,
                    "mark_words": "rewritten" if words is not None else ("kept the type" if ptype == given else "none")}
            yield Outcome(s.id, replace(s, question=question, visual_prompt=vp, extra=extra,
                                        provenance={**s.provenance, "stage4": info}))
    finally:
        if reader is not None:
            reader.close()
