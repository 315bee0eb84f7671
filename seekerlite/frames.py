"""Find a box on your own video: a frame with a labelled pixel grid, box parsing and checks, a track's contact sheet.

    seekerlite frame --video my.mp4 --time 2.5 --grid --out frame.png     # read x0,y0,x1,y1 off the grid
    seekerlite frame --video my.mp4 --frame 60 --grid --box "228 90 312 285" --out check.png   # check a box

    img = grid_image(frame, step=50)                     # (H, W, 3) uint8: lines every 50 px, labelled in pixels
    box = parse_box("228 90 312 285")                    # [228.0, 90.0, 312.0, 285.0] (spaces or commas)
    check_box_in_frame(box, 480, 360, "--box")           # ValueError naming the frame size when it reaches outside
    sheet = contact_sheet(reader, masklet, n=8)          # the tracked box on 8 frames, each with its time

Boxes are ``[x0, y0, x1, y1]`` in pixels of the full frame: x grows to the right, y downwards, (0, 0) is the
top-left corner, and the box covers the pixels x0 <= x < x1, y0 <= y < y1.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from seekerlite.schema import Box, Masklet

GRID_COLOR = (255, 255, 0)  # yellow lines and labels (RGB), on a dark outline so they read on any frame
BOX_COLOR = (255, 0, 0)  # red: a box being checked, and the tracked box of a contact sheet


def parse_box(text: str) -> Box:
    """``"x0,y0,x1,y1"`` or ``"x0 y0 x1 y1"`` (or a mix, brackets allowed) -> 4 floats; ValueError otherwise.

    >>> parse_box("228 90 312 285")
    [228.0, 90.0, 312.0, 285.0]
    >>> parse_box("[10, 20, 30, 40]")
    [10.0, 20.0, 30.0, 40.0]
    """
    parts = [p for p in text.strip().strip("[]()").replace(",", " ").split() if p]
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"box {text!r}: want 4 numbers x0 y0 x1 y1 (pixels, spaces or commas)") from None
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
        raise ValueError(f"box {text!r}: want 4 finite numbers x0 y0 x1 y1 (pixels), got {len(vals)}")
    return vals


def box_arg(text: str) -> Box:
    """`parse_box` as an argparse ``type=`` (its error becomes argparse's usage message)."""
    try:
        return parse_box(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def check_box_in_frame(box: Sequence[float], width: int, height: int, where: str = "box") -> Box:
    """`box` as floats when it is non-empty and lies inside a width x height frame; ValueError naming both otherwise.

    >>> check_box_in_frame([0, 0, 480, 360], 480, 360)
    [0.0, 0.0, 480.0, 360.0]
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"{where} {list(box)} is empty or inverted: want x0 < x1 and y0 < y1 (pixels)")
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise ValueError(f"{where} {list(box)} reaches outside the {width}x{height} frame (x 0..{width}, "
                         f"y 0..{height}); `seekerlite frame --grid` shows the pixel coordinates")
    return [x0, y0, x1, y1]


def grid_step(width: int, height: int) -> int:
    """A round grid spacing giving about 8-12 lines along the longer side (10, 20, 25, 50, 100, 200 ... px)."""
    target = max(width, height) / 10
    for s in (10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if s >= target:
            return s
    return 1000 * math.ceil(target / 1000)


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, color: tuple[int, int, int]) -> None:
    """`text` at `org` (its baseline's left end) on a dark box, so it reads on any frame."""
    th = max(1, round(scale * 2))
    (tw, tht), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, th)
    x, y = org
    cv2.rectangle(img, (x - 1, y - tht - 2), (x + tw + 1, y + base), (0, 0, 0), -1)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, th, cv2.LINE_AA)


def grid_image(image: np.ndarray, step: int | None = None, box: Sequence[float] | None = None) -> np.ndarray:
    """A copy of an (H, W, 3) RGB frame with grid lines every `step` pixels labelled with their x (top edge) and
    y (left edge) coordinates, and `box` (if given) outlined in red with its corners written out."""
    img = np.ascontiguousarray(np.asarray(image, np.uint8)[..., :3]).copy()
    h, w = img.shape[:2]
    step = step or grid_step(w, h)
    scale = max(0.4, min(w, h) / 800)
    layer = img.copy()
    for x in range(step, w, step):
        cv2.line(layer, (x, 0), (x, h - 1), GRID_COLOR, 1)
    for y in range(step, h, step):
        cv2.line(layer, (0, y), (w - 1, y), GRID_COLOR, 1)
    img = cv2.addWeighted(layer, 0.55, img, 0.45, 0)
    for x in range(step, w, step):
        _text(img, str(x), (x + 2, round(14 * scale / 0.4)), scale, GRID_COLOR)
    for y in range(step, h, step):
        _text(img, str(y), (2, y - 3), scale, GRID_COLOR)
    if box is not None:
        x0, y0, x1, y1 = (round(float(v)) for v in box)
        cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), BOX_COLOR, max(2, round(min(w, h) / 180)))
        _text(img, f"{x0},{y0}", (x0 + 3, max(12, y0 - 5)), scale, BOX_COLOR)
        _text(img, f"{x1},{y1}", (max(0, x1 - 70), min(h - 4, y1 + round(16 * scale / 0.4))), scale, BOX_COLOR)
    return img


def contact_sheet(reader: Any, masklet: Masklet, n: int = 8, ncols: int = 4, thumb_width: int = 320) -> np.ndarray:
    """(H, W, 3) uint8: `n` frames spread over the video with the masklet's box drawn in red and each frame's index
    and time written on it ("lost" where the track has no box): one picture to check a track by eye."""
    total = reader.num_frames
    idx = sorted({round(i) for i in np.linspace(0, total - 1, min(n, total))})
    tiles = []
    for i in idx:
        img = np.ascontiguousarray(reader.get_frame(i).image).copy()
        h, w = img.shape[:2]
        b = masklet.box_at(i)
        if b is not None:
            x0, y0, x1, y1 = (round(float(v)) for v in b)
            cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), BOX_COLOR, max(2, round(min(w, h) / 120)))
        f = thumb_width / w
        img = cv2.resize(img, (thumb_width, max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        _text(img, f"frame {i}  {reader.time_of(i):.2f} s" + ("" if b is not None else "  lost"), (6, 22), 0.6,
              (255, 255, 255))
        tiles.append(img)
    ncols = min(ncols, len(tiles))
    th, tw = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / ncols)
    sheet = np.full((rows * (th + 4), ncols * (tw + 4), 3), 255, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, ncols)
        sheet[r * (th + 4): r * (th + 4) + t.shape[0], c * (tw + 4): c * (tw + 4) + tw] = t
    return sheet


def save_png(img: np.ndarray, path: str | Path) -> Path:
    """Write an RGB uint8 image as PNG (parent folders created); returns the path."""
    from PIL import Image

    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "is a folder; want a .png file name", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def main_frame(argv: list[str] | None = None) -> int:
    """``seekerlite frame --video V --time T|--frame N [--grid] [--box B] [--out F]``: one frame as a PNG, with a
    labelled pixel grid to read a box off, and (``--box``) the box drawn on it to check it."""
    from seekerlite.video import open_video

    p = argparse.ArgumentParser(prog="seekerlite frame", description=main_frame.__doc__)
    p.add_argument("--video", required=True, help="the video file")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--time", type=float, help="seconds from the start (the frame shown at that time)")
    when.add_argument("--frame", type=int, help="0-based frame index")
    p.add_argument("--grid", action="store_true", help="draw grid lines labelled with pixel coordinates")
    p.add_argument("--step", type=int, default=None, help="grid spacing in pixels (default: about 10 lines)")
    p.add_argument("--box", type=box_arg, default=None, help="x0 y0 x1 y1 (pixels, spaces or commas): draw it")
    p.add_argument("--out", default=None, help="PNG file to write (default: frame_<N>.png here)")
    a = p.parse_args(argv)
    if a.step is not None and a.step < 2:
        raise ValueError(f"--step must be >= 2 pixels, got {a.step}")
    with open_video(a.video) as reader:
        if a.frame is not None:
            if not 0 <= a.frame < reader.num_frames:
                raise ValueError(f"{a.video}: --frame {a.frame} is outside the video (frames 0..{reader.num_frames - 1})")
            index = a.frame
        else:
            if not 0 <= a.time <= reader.duration:
                raise ValueError(f"{a.video}: --time {a.time} is outside the video (0..{reader.duration:.2f} s)")
            index = reader.index_at(a.time)
        frame = reader.get_frame(index)
        w, h = reader.width, reader.height
    box = check_box_in_frame(a.box, w, h, "--box") if a.box is not None else None
    img = grid_image(frame.image, a.step, box) if a.grid else frame.image
    if box is not None and not a.grid:
        img = grid_image(frame.image, 10 ** 9, box)  # the box alone (a step larger than the frame: no lines)
    out = save_png(img, a.out or f"frame_{index}.png")
    print(f"frame {index} at {frame.timestamp:.2f} s ({w}x{h} px); wrote {out}")
    if box is None:
        print(f"read a box off the grid as x0 y0 x1 y1 (pixels), e.g. --frame {index} --box \"x0 y0 x1 y1\"")
    return 0
