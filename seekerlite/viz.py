"""Matplotlib figures: frames, masks, visual prompts, and trajectories.

Every function returns a ``matplotlib.figure.Figure`` (nothing is shown or saved unless you do it), so the
same code serves notebooks, the CLI's PNGs and the demo report.
"""

from __future__ import annotations

import re
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
                size: float = 3.6, suptitle: str | None = None) -> Figure:
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
            ax.set_title(str(titles[i]).replace("_", " "), fontsize=12)
    if suptitle:
        fig.suptitle(suptitle, fontsize=14)
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


TIME_LABEL = re.compile(r"^\s*<\s*\d+(?:\.\d+)?\s*seconds?\s*>\s*$")  # "<2.5 seconds>": the next image's time
ROLE_COLORS = {"user": "#1f5fa8", "assistant": "#1b7a3a", "tool": "#9a5b00", "system": "#555555"}
TRAJ_FONT = 12  # points: readable on a projector at the figure's width


def _message_parts(m: dict[str, Any]) -> tuple[str, list[tuple[Any, str]]]:
    """(text of the message, [(image, caption)]): a time label before an image becomes that image's caption."""
    from seekerlite.grammar import assistant_text

    if m["role"] == "assistant":
        return assistant_text(m), []
    if not isinstance(m.get("content"), list):
        return str(m.get("content", "")), []
    texts, images, pending = [], [], ""
    for p in m["content"]:
        if not isinstance(p, dict):
            continue
        if p.get("type") == "text":
            if TIME_LABEL.match(p["text"]):
                pending = p["text"].strip().strip("<>").replace(" seconds", " s").replace(" second", " s")
            else:
                texts.append(p["text"])
        elif p.get("type") == "image":
            images.append((p["image"], pending))
            pending = ""
    return " ".join(texts), images


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip():
            lines += textwrap.wrap(line, width, break_long_words=True, break_on_hyphens=False) or [""]
    return lines


def _message_text(m: dict[str, Any], width: int) -> str:
    """A message as wrapped text headed by its role (what `draw_trajectory` writes beside its images)."""
    text, _ = _message_parts(m)
    head = m["role"] + (f" ({m['name']})" if m.get("name") else "")
    return f"[{head}]\n" + "\n".join(_wrap(text, width))


def draw_trajectory(traj: Any, video_path: str | None = None, max_images: int = 8, width: int = 88,
                    skip_system: bool = True, font_size: float = TRAJ_FONT) -> Figure:
    """A trajectory as a figure readable on a projector: each message is a block with its role, its whole text
    (wrapped, never cut) and its images below it with their times. The marked frame is drawn large; a message
    with more than `max_images` images shows the first ones and a "+N more" tile (nothing is dropped silently).
    When `video_path` is given, a crop_video call with a region also shows the full source frame with the region
    outlined (the first image of that block)."""
    from seekerlite.video import open_video

    msgs = [m for m in traj.messages if not (skip_system and m["role"] == "system")]
    reader = open_video(video_path) if video_path else None
    crops = iter([r for r in traj.tool_log])
    blocks = []
    for m in msgs:
        text, imgs = _message_parts(m)
        items = [(im, cap, None) for im, cap in imgs]
        if m["role"] == "tool":
            rec = next(crops, None)
            if rec is not None and rec.region_px and reader is not None and rec.timestamps:
                items.insert(0, (reader.frame_at(rec.timestamps[0]).image, "source + region", rec.region_px))
        big = items[0] if items and (m["role"] == "user" or m.get("name") == "view_visual_prompt") else None
        rest = items[1:] if big is not None else items
        head = m["role"] + (f" ({m['name']})" if m.get("name") else "")
        blocks.append((head, m["role"], _wrap(text, width), big, rest))
    if reader is not None:
        reader.close()
    fig_w, line_h, thumb_h, big_h, pad = 13.0, font_size * 1.45 / 72, 1.3, 3.4, 0.25  # inches
    heights = [(len(lines) + 1) * line_h + (big_h + 0.35 if big else 0) + (thumb_h + 0.35 if rest else 0) + pad
               for _, _, lines, big, rest in blocks]
    title_h = 0.7
    fig_h = title_h + sum(heights)
    fig = plt.figure(figsize=(fig_w, fig_h))
    y = fig_h - title_h  # top of the next block, inches from the bottom
    for (head, role, lines, big, rest), h in zip(blocks, heights):
        color = ROLE_COLORS.get(role, "black")
        fig.text(0.15 / fig_w, y / fig_h, head, fontsize=font_size + 1, weight="bold", color=color, va="top")
        fig.text(0.15 / fig_w, (y - line_h) / fig_h, "\n".join(lines), fontsize=font_size, family="monospace",
                 va="top", linespacing=1.25)
        yy = y - (len(lines) + 1) * line_h - 0.15
        if big is not None:
            im, cap, _ = big
            arr = _as_array(im)
            w_in = min(fig_w - 0.4, big_h * arr.shape[1] / max(1, arr.shape[0]))
            ax = fig.add_axes([0.15 / fig_w, (yy - big_h) / fig_h, w_in / fig_w, big_h / fig_h])
            ax.imshow(arr)
            ax.set_xticks([])
            ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set(color="#d62728", lw=3)
            ax.set_title("the marked frame" + (f" ({cap})" if cap else ""), fontsize=font_size, loc="left")
            yy -= big_h + 0.35
        if rest:
            shown = rest[:max_images] if len(rest) <= max_images else rest[:max_images - 1]
            extra = len(rest) - len(shown)
            slot = (fig_w - 0.3) / max_images
            for c, (im, cap, region) in enumerate(shown + ([(None, "", None)] if extra else [])):
                ax = fig.add_axes([(0.15 + c * slot) / fig_w, (yy - thumb_h) / fig_h, (slot - 0.1) / fig_w,
                                  thumb_h / fig_h])
                ax.axis("off")
                if im is None:
                    ax.text(0.5, 0.5, f"+{extra} more", ha="center", va="center", fontsize=font_size + 2,
                            transform=ax.transAxes, bbox={"boxstyle": "round", "fc": "#eeeeee", "ec": "#999999"})
                    continue
                ax.imshow(_as_array(im))
                if region is not None:
                    ax.add_patch(Rectangle((region[0], region[1]), region[2] - region[0], region[3] - region[1],
                                           fill=False, lw=2.5, ec="yellow"))
                if cap:
                    ax.set_title(cap, fontsize=font_size - 1)
        y -= h
        fig.add_artist(plt.Line2D([0.01, 0.99], [y / fig_h + pad / 2 / fig_h] * 2, color="#cccccc", lw=1))
    verdict = {True: "correct", False: "wrong", None: "unscored"}[traj.correct]
    fig.suptitle(f"{traj.sample_id} · policy {traj.policy}: answer {traj.answer!r} ({verdict}), "
                 f"{traj.n_tool_calls} tool calls, {traj.n_frames} frames, ended by {traj.finish_reason}",
                 fontsize=font_size + 2, y=1 - 0.2 / fig_h, va="top")
    return fig


def plot_curves(history: dict[str, Sequence[float]], x: Sequence[float] | None = None, ncols: int = 3,
                title: str | None = None, xlabel: str = "optimizer step",
                ylabels: dict[str, str] | None = None) -> Figure:
    """One panel per logged series (loss, reward components, tool calls, ...), each with labelled axes.

    `ylabels` maps a series name to its y-axis label (default: the name itself)."""
    keys = list(history)
    ncols = min(ncols, max(1, len(keys)))
    nrows = (len(keys) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    for ax, k in zip(axes.flat, keys):
        ys = list(history[k])
        ax.plot(list(x) if x is not None else range(len(ys)), ys, marker="." if len(ys) < 40 else None, label=k)
        ax.set_title(k, fontsize=12)
        ax.set_xlabel(xlabel, fontsize=11)
        ax.set_ylabel((ylabels or {}).get(k, k), fontsize=11)
        ax.tick_params(labelsize=10)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=14)
    fig.tight_layout()
    return fig


def plot_look_heatmap(looks: Sequence[Sequence[str | None]], title: str | None = None) -> Figure:
    """Where the student looked: [chosen cell, target's true cell] pairs (``EpisodeRecord.looks``) as three 3x3
    grids laid out like the frame - how often each cell was chosen, where the target truly was, and for each true
    cell the share of looks that chose it (the hit rate per cell; "-" where the target never was)."""
    from seekerlite.regions import CELL_NAMES

    chosen, truth, hits = np.zeros(9), np.zeros(9), np.zeros(9)
    for cell, true in looks:
        if cell in CELL_NAMES:
            chosen[CELL_NAMES.index(cell)] += 1
        if true in CELL_NAMES:
            truth[CELL_NAMES.index(true)] += 1
            hits[CELL_NAMES.index(true)] += cell == true
    rate = np.divide(hits, truth, out=np.full(9, np.nan), where=truth > 0)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    panels = [(chosen, "cell chosen (count)", "d"), (truth, "target's true cell (count)", "d"),
              (rate, "chose the true cell (share)", ".2f")]
    for ax, (grid, name, fmt) in zip(axes, panels):
        g = grid.reshape(3, 3)
        top = float(np.nanmax(g)) if np.isfinite(g).any() else 0.0
        ax.imshow(np.nan_to_num(g), cmap="Blues", vmin=0, vmax=max(top, 1e-9))
        for (i, j), v in np.ndenumerate(g):
            txt = "-" if not np.isfinite(v) else format(int(v) if fmt == "d" else v, fmt)
            ax.text(j, i, txt, ha="center", va="center", fontsize=9,
                    color="white" if np.isfinite(v) and top > 0 and v > 0.6 * top else "black")
        ax.set_xticks(range(3), ["left", "middle", "right"], fontsize=8)
        ax.set_yticks(range(3), ["top", "middle", "bottom"], fontsize=8)
        ax.set_title(name, fontsize=9)
    fig.suptitle(title or f"Where the student looked ({len(looks)} crops with a region)", fontsize=10)
    fig.tight_layout()
    return fig
