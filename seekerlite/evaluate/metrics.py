"""Metrics of an evaluation: one record per episode, accuracy with bootstrap intervals, broken down by group.

    summary = summarize(records, n_bootstrap=1000)      # {"overall": stats, "by_prompt_type": {...}, ...}
    looks = region_looks(sample, traj.tool_log)         # did each crop's region hold the target? (region_hit)
    bootstrap_ci([1, 0, 1, 1])                          # 95% percentile-bootstrap interval of the mean
    format_stats(trajectories)                          # how many replies and episodes follow the reply grammar
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from seekerlite.grammar import reply_ok
from seekerlite.regions import box_inside, cell_of_box, cell_of_point, parse_cell

GROUPS = ("prompt_type", "task", "dimension", "form", "length")  # record fields accuracy is broken down by


@dataclass
class EpisodeRecord:
    """One scored episode: what the metrics are computed from."""

    sample_id: str
    correct: bool
    prompt_type: str = "none"  # the visual prompt's type ("unknown" for V2P records that do not name it)
    task: str = "unknown"
    dimension: str = "none"  # V2P-Bench code, "none" when the sample has none
    form: str = "mc"  # "mc" | "oe"
    length: str | None = None  # V2P-Bench duration bucket ("short" | "medium" | "long"), if known
    answer: str | None = None  # the final answer text, None when the episode gave none
    reference: str = ""  # the key (MC letter) or the OE reference
    n_tool_calls: int = 0  # valid or not
    n_tool_errors: int = 0
    n_frames: int = 0  # frames returned by crop_video
    n_turns: int = 0  # assistant turns
    finish_reason: str = "answer"  # "answer" | "no_action" | "max_turns" | "error"
    error: str | None = None
    n_region_calls: int = 0  # valid crop_video calls with a region (see region_looks)
    n_region_hits: int = 0  # ... whose region holds the target (region_hit)
    looks: list[list[str | None]] | None = None  # [chosen cell, target's true cell] per region call (viz heatmap)


def region_looks(sample: Any, tool_log: list[Any], width: int | None = None, height: int | None = None
                 ) -> list[dict[str, Any]]:
    """Per valid crop_video call with a region: whether the region holds the target at the cropped times, and
    which cell was chosen against the target's true cell.

    ``hit``: at least half of the returned frames show the target (its masklet box) with at least half of that box
    inside the region - "the chosen region holds the target". ``cell``: the cell named, or the cell of a box
    region's centre; ``true_cell``: the cell of the target's box centre at the middle returned frame where it is
    visible (None when it is visible in none). Without a masklet or frame indices there is nothing to judge: [].
    The frame size comes from the masklet's RLE (``size`` [H, W]) unless given.
    """
    m = getattr(sample, "masklet", None)
    if m is None:
        return []
    if width is None or height is None:
        rle = next((r for r in m.rles if r), None) if m.rles else None
        if rle is None:
            return []
        height, width = rle["size"]
    out = []
    for r in tool_log:
        if r.name != "crop_video" or not r.ok or r.region_px is None or not getattr(r, "frame_indices", None):
            continue
        boxes = [m.box_at(f) for f in r.frame_indices]
        held = [b is not None and box_inside(b, r.region_px) >= 0.5 for b in boxes]
        seen = [b for b in boxes if b is not None]
        region = r.arguments.get("region")
        named = parse_cell(region) if isinstance(region, str) else None
        px = r.region_px
        cell = named or cell_of_point((px[0] + px[2]) / 2, (px[1] + px[3]) / 2, width, height)
        true = cell_of_box(seen[len(seen) // 2], width, height) if seen else None
        out.append({"hit": sum(held) >= len(held) / 2, "cell": cell, "true_cell": true})
    return out


def bootstrap_ci(values: Any, n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of `values` (0/1 correctness, or any numbers).

    >>> bootstrap_ci([1, 1, 1, 1])
    (1.0, 1.0)
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0 or n_bootstrap <= 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_bootstrap, x.size))].mean(axis=1)  # (n_bootstrap,)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return (float(lo), float(hi))


def group_stats(records: list[EpisodeRecord], n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """n, accuracy with its 95% CI, answered rate, mean tool calls and frames of a list of records."""
    c = [r.correct for r in records]
    lo, hi = bootstrap_ci(c, n_bootstrap, seed)
    n = len(records)
    mean = (lambda xs: float(np.mean(xs)) if n else math.nan)
    return {"n": n, "n_correct": int(sum(c)), "accuracy": mean(c), "ci_low": lo, "ci_high": hi,
            "answered": mean([r.answer is not None for r in records]),
            "mean_tool_calls": mean([r.n_tool_calls for r in records]), "mean_frames": mean([r.n_frames for r in records]),
            "mean_tool_errors": mean([r.n_tool_errors for r in records]), **region_hit_stats(records)}


def region_hit_stats(records: list[EpisodeRecord]) -> dict[str, Any]:
    """``region_calls`` (crop_video calls with a region) and ``region_hit``: the share of them whose region held the
    target (NaN when there were none)."""
    calls = sum(r.n_region_calls for r in records)
    return {"region_calls": calls, "region_hit": sum(r.n_region_hits for r in records) / calls if calls else math.nan}


def summarize(records: list[EpisodeRecord], n_bootstrap: int = 1000, seed: int = 0,
              by: tuple[str, ...] = GROUPS) -> dict[str, Any]:
    """``{"overall": stats, "by_<group>": {value: stats}}`` (see ``group_stats``); a group whose value is None for
    every record (e.g. ``length`` outside V2P-Bench) is left out, other None values count as "none"."""
    out: dict[str, Any] = {"overall": group_stats(records, n_bootstrap, seed)}
    for g in by:
        values = [getattr(r, g) for r in records]
        if all(v is None for v in values):
            continue
        keys = sorted({"none" if v is None else str(v) for v in values})
        out[f"by_{g}"] = {k: group_stats([r for r, v in zip(records, values) if ("none" if v is None else str(v)) == k],
                                         n_bootstrap, seed) for k in keys}
    return out


def format_stats(trajectories: list[Any]) -> dict[str, float]:
    """How well-formed a policy's replies are over episodes (the grammar of ``seekerlite.grammar``).

    ``reply_rate``: share of all replies that pass ``grammar.reply_ok``; ``episode_rate``: share of episodes whose
    every reply passes and which end with an answer; ``answer_rate``: share ending with an answer;
    ``accuracy``: share answered correctly.
    """
    replies = [(t.text, k == len(tr.turns) - 1) for tr in trajectories for k, t in enumerate(tr.turns)]
    ok = [reply_ok(text, last) for text, last in replies]
    n = max(1, len(trajectories))
    return {"episodes": len(trajectories), "replies": len(replies),
            "reply_rate": sum(ok) / max(1, len(ok)),
            "episode_rate": sum(tr.finish_reason == "answer" and all(reply_ok(t.text, k == len(tr.turns) - 1)
                                                                     for k, t in enumerate(tr.turns))
                                for tr in trajectories) / n,
            "answer_rate": sum(tr.answer is not None for tr in trajectories) / n,
            "accuracy": sum(bool(tr.correct) for tr in trajectories) / n}
