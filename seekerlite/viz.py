"""Matplotlib figures: frames, masks, visual prompts, and trajectories.

Every function returns a ``matplotlib.figure.Figure`` (nothing is shown or saved unless you do it), so the
same code serves notebooks, the CLI's PNGs and the demo report.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

MASK_COLORS = [(70, 240, 240), (245, 130, 48), (60, 180, 75), (0, 130, 200), (145, 30, 180), (230, 25, 75)]  # cyan first: no toy object is cyan


def _as_array(img: Any) -> np.ndarray:
    return np.asarray(img.convert("RGB")) if isinstance(img, Image.Image) else np.asarray(img)


def show_images(images: Sequence[Any], titles: Sequence[str] | None = None, ncols: int = 4,
                size: float = 3.0, suptitle: str | None = None) -> Figure:
    """A grid of images (PIL or (H, W, 3) uint8 arrays) with optional titles."""
    n = max(1, len(images))
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * 0.8 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.flat[i]
        ax.imshow(_as_array(img))
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def overlay_masks(image: np.ndarray, masks: Sequence[np.ndarray | None], alpha: float = 0.45) -> np.ndarray:
    """(H, W, 3) uint8 image with each boolean mask blended in its own colour (a new array)."""
    out = _as_array(image).astype(np.float32).copy()
    for i, m in enumerate(masks):
        if m is None:
            continue
        c = np.array(MASK_COLORS[i % len(MASK_COLORS)], np.float32)
        out[m] = (1 - alpha) * out[m] + alpha * c
    return out.clip(0, 255).astype(np.uint8)


def show_masklets(frames: Sequence[Any], masks_per_frame: Sequence[Sequence[np.ndarray | None]],
                  boxes_per_frame: Sequence[Sequence[Sequence[float] | None]] | None = None,
                  titles: Sequence[str] | None = None, ncols: int = 4) -> Figure:
    """Frames with their masks overlaid (and boxes outlined, when given)."""
    shown = [overlay_masks(f, ms) for f, ms in zip(frames, masks_per_frame)]
    fig = show_images(shown, titles, ncols=ncols)
    if boxes_per_frame is not None:
        for ax, boxes in zip(fig.axes, boxes_per_frame):
            for i, b in enumerate(boxes):
                if b is not None:
                    c = np.array(MASK_COLORS[i % len(MASK_COLORS)]) / 255
                    ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, lw=1.5, ec=c))
    return fig


def show_prompt_gallery(image: np.ndarray, box: Sequence[float] | None, mask: np.ndarray | None = None,
                        prompt_types: Sequence[str] | None = None, seed: int = 0, ncols: int = 3) -> Figure:
    """Every visual-prompt type rendered on the same instance."""
    from seekerlite.marks import render_visual_prompt
    from seekerlite.schema import PROMPT_TYPES

    types = list(prompt_types or PROMPT_TYPES)
    if mask is None:
        types = [t for t in types if t not in ("mask_contour", "mask_overlay")]
    imgs = [render_visual_prompt(image, t, box=list(box) if box is not None else None, mask=mask, seed=seed) for t in types]
    return show_images(imgs, types, ncols=ncols)


def _message_text(m: dict[str, Any], width: int) -> str:
    from seekerlite.grammar import assistant_text

    if m["role"] == "assistant":
        txt = assistant_text(m)
    elif isinstance(m.get("content"), list):
        txt = " ".join(p["text"] for p in m["content"] if p.get("type") == "text")
    else:
        txt = str(m.get("content", ""))
    head = m["role"] + (f" ({m['name']})" if m.get("name") else "")
    body = "\n".join(textwrap.fill(line, width) for line in txt.splitlines() if line.strip())
    return f"[{head}]\n{body}"


def draw_trajectory(traj: Any, video_path: str | None = None, max_images: int = 6, width: int = 60,
                    skip_system: bool = True) -> Figure:
    """A trajectory as a figure: one row per message, its text on the left and thumbnails of its images on the
    right. When `video_path` is given, a crop_video call with a region also shows the full source frame with
    the region outlined (first thumbnail of that row)."""
    from seekerlite.video import open_video

    msgs = [m for m in traj.messages if not (skip_system and m["role"] == "system")]
    reader = open_video(video_path) if video_path else None
    crops = iter([r for r in traj.tool_log])
    rows = []
    for m in msgs:
        imgs = [p["image"] for p in m["content"] if isinstance(p, dict) and p.get("type") == "image"] \
            if isinstance(m.get("content"), list) else []
        source = None
        if m["role"] == "tool":
            rec = next(crops, None)
            if rec is not None and rec.region_px and reader is not None and rec.timestamps:
                source = (reader.frame_at(rec.timestamps[0]).image, rec.region_px)
        rows.append((m, imgs, source))
    ncols = max_images + 1
    fig = plt.figure(figsize=(2.0 * ncols + 3, 1.9 * len(rows) + 0.6))
    gs = fig.add_gridspec(len(rows), ncols, width_ratios=[3.2] + [1] * max_images)
    for r, (m, imgs, source) in enumerate(rows):
        ax = fig.add_subplot(gs[r, 0])
        ax.axis("off")
        ax.text(0, 1, _message_text(m, width), va="top", ha="left", fontsize=7, family="monospace",
                transform=ax.transAxes, clip_on=True)
        thumbs: list[tuple[Any, Any]] = [(source[0], source[1])] if source else []
        thumbs += [(im, None) for im in imgs]
        for c, (im, region) in enumerate(thumbs[:max_images]):
            a = fig.add_subplot(gs[r, c + 1])
            a.imshow(_as_array(im))
            a.axis("off")
            if region is not None:
                a.add_patch(Rectangle((region[0], region[1]), region[2] - region[0], region[3] - region[1],
                                      fill=False, lw=2, ec="yellow"))
                a.set_title("source + region", fontsize=7)
    verdict = {True: "correct", False: "wrong", None: "unscored"}[traj.correct]
    fig.suptitle(f"{traj.sample_id} [{traj.policy}]: answer={traj.answer!r} ({verdict}), "
                 f"{traj.n_tool_calls} tool calls, {traj.n_frames} frames, end: {traj.finish_reason}", fontsize=10)
    if reader is not None:
        reader.close()
    return fig


def plot_curves(history: dict[str, Sequence[float]], x: Sequence[float] | None = None, ncols: int = 3,
                title: str | None = None) -> Figure:
    """One small panel per logged series (loss, reward components, tool calls, ...)."""
    keys = list(history)
    ncols = min(ncols, max(1, len(keys)))
    nrows = (len(keys) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 2.8 * nrows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    for ax, k in zip(axes.flat, keys):
        ys = list(history[k])
        ax.plot(list(x) if x is not None else range(len(ys)), ys, marker="." if len(ys) < 40 else None)
        ax.set_title(k, fontsize=9)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
