"""From toy clips to a dataset on disk: the frame to mark, the rendered visual prompt, videos and JSONL.

    path = generate_dataset("runs/toy", n_clips=8)   # videos/*.mp4, prompts/*.png, samples.jsonl

The mp4 written by `generate_dataset` is lossy (mp4v), so decoded frames differ slightly from `clip.frames`;
the masks and the PNG prompts are exact.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from seekerlite.marks import describe_prompt, render_visual_prompt
from seekerlite.paths import file_name, inside
from seekerlite.schema import Sample, VisualPrompt, mask_to_box, save_jsonl
from seekerlite.toyworld.questions import TOOL_TASKS, asked_families, make_questions
from seekerlite.toyworld.world import ToyClip, ToyWorldConfig, generate_clip
from seekerlite.video import write_video


TOOL_TARGET_SPEED = (10.0, 25.0)  # pixels per second: the target's speed in a world asking a tool family


def world_config(seed: int = 0, families: tuple[str, ...] | None = None) -> ToyWorldConfig:
    """The toy world that asks `families` (None = the default families), its clips seeded by `seed`.

    A world asking any of ``TOOL_TASKS`` moves its *target* slowly (``TOOL_TARGET_SPEED``; the other objects keep
    their speed, so contacts still happen): those questions are answered by a crop at a later time, and a slow
    target is usually still in the grid cell of its mark, so *where* to look can be learnt from the marked frame
    (the oracle's crop is in the mark's cell for ~60 % of tool questions, ~25 % at full speed:
    benchmarks/look_target_cell.py). Every other world is ``ToyWorldConfig(seed=seed, question_families=families)``.

    >>> world_config(1, ("recolor",)).target_speed_range, world_config(1).target_speed_range
    ((10.0, 25.0), None)
    """
    tool = families is not None and any(f in TOOL_TASKS for f in families)
    return ToyWorldConfig(seed=seed, question_families=families, target_speed_range=TOOL_TARGET_SPEED if tool else None)


def choose_prompt_frame(clip: ToyClip, object_id: str) -> int:
    """The frame to mark: largest visible area, not touching the border, before any colour change if possible."""
    m = clip.masks[object_id]
    area = m.reshape(len(m), -1).sum(1)
    border = m[:, 0].any(1) | m[:, -1].any(1) | m[:, :, 0].any(1) | m[:, :, -1].any(1)
    cc = clip.events_of(object_id, "color_change")
    before = np.arange(len(m)) < (cc[0].frame if cc else len(m))
    for ok in (before & ~border & (area > 0), ~border & (area > 0), area > 0):
        if ok.any():
            return int(np.argmax(np.where(ok, area, -1)))
    raise ValueError(f"{object_id} is never visible")


def render_prompt(clip: ToyClip, object_id: str, prompt_type: str, seed: int = 0,
                  frame_index: int | None = None) -> tuple[np.ndarray, VisualPrompt, str]:
    """Mark one object on one frame. Returns (image (H, W, 3) uint8, VisualPrompt without image_path, phrase)."""
    f = choose_prompt_frame(clip, object_id) if frame_index is None else frame_index
    mask = clip.masks[object_id][f]
    box = mask_to_box(mask)
    others = [b for o in clip.objects if o.id != object_id and (b := mask_to_box(clip.masks[o.id][f])) is not None]
    label = str(np.random.default_rng(seed).integers(1, len(others) + 2))  # set_of_mark: the target's number
    cfg = clip.config
    img = render_visual_prompt(clip.frames[f], prompt_type, box=box, mask=mask, seed=seed,
                               color=cfg.prompt_color, label=label, others=others)
    phrase = describe_prompt(prompt_type, cfg.prompt_color_name, label)
    return img, VisualPrompt(f, round(f / clip.fps, 3), prompt_type, None, box), phrase


def generate_dataset(out_dir: str | Path, n_clips: int = 8, seed: int = 0, config: ToyWorldConfig | None = None,
                     mc: bool = True, oe: bool = True) -> Path:
    """Write toy clips, their marked frames and questions; return the JSONL path.

    Layout: out_dir/videos/clip_XXXX.mp4, out_dir/prompts/clip_XXXX_<task>_<type>.png, out_dir/samples.jsonl
    (paths inside relative to out_dir). Clip k uses seed `seed * 100_000 + k`; each task of a clip gets
    its own prompt type drawn from `config.prompt_types` / `prompt_weights`, shared by its MC and OE forms.
    """
    from tqdm import tqdm

    cfg = config or ToyWorldConfig()
    asked_families(cfg.question_families)  # an unknown family is refused before anything is written
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "prompts").mkdir(parents=True, exist_ok=True)
    weights = None if cfg.prompt_weights is None else np.asarray(cfg.prompt_weights, float) / sum(cfg.prompt_weights)
    samples: list[Sample] = []
    for k in tqdm(range(n_clips), desc="toy clips", unit="clip"):
        clip = generate_clip(cfg, seed * 100_000 + k)
        rng = np.random.default_rng([seed, k])  # questions' draws, then prompt types and seeds
        video = f"videos/clip_{k:04d}.mp4"
        write_video(clip.frames, out / video, clip.fps)
        qs = make_questions(clip, clip.target_id, rng, video_path=video, mc=mc, oe=oe, families=cfg.question_families)
        by_task: dict[str, tuple[VisualPrompt, str]] = {}
        for s in qs:
            if s.task not in by_task:
                ptype = str(rng.choice(cfg.prompt_types, p=weights))
                img, vp, phrase = render_prompt(clip, clip.target_id, ptype, seed=int(rng.integers(2**31)))
                vp.image_path = f"prompts/clip_{k:04d}_{file_name(s.task)}_{file_name(ptype)}.png"
                cv2.imwrite(str(inside(out, vp.image_path)), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                by_task[s.task] = (vp, phrase)
            vp, phrase = by_task[s.task]
            s.visual_prompt = replace(vp)
            s.question = f"The marked object is {phrase}. {s.question}"
            s.provenance["clip"] = k
            s.extra["prompt_phrase"] = phrase
        samples.extend(qs)
    return save_jsonl(samples, out / "samples.jsonl")
