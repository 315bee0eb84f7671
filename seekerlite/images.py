"""Frame images: scaling to a pixel budget, fitting the vision processor's limits, writing frames as an mp4.

    resize_to_budget(img, 336 * 336)          # keep the aspect ratio, height x width <= the budget, never upscale
    fit_for_processor(img, 336 * 336)         # the same, and always an image Qwen-VL's processor accepts
    write_video(frames, "clip.mp4", fps=10)   # (T, H, W, 3) uint8 RGB -> mp4

Qwen-VL's image processor refuses an image whose aspect ratio exceeds 200 (``smart_resize``), and rounds each side
to a multiple of 28-32 pixels. ``fit_for_processor`` pads (black, centred) the short side of a very thin image up
to ``MAX_ASPECT`` and each side up to ``MIN_SIDE``, so a legal crop of an extreme video (a 4000 x 8 strip) still
gives one the model can see; it never makes an image larger than the budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import numpy as np

MAX_ASPECT = 100.0  # longest / shortest side of an image given to the model (Qwen-VL refuses more than 200)
MIN_SIDE = 32  # pixels: the shortest side of an image given to the model (Qwen3-VL's patch x merge size)

Img = TypeVar("Img")


def resize_to_budget(image: Img, max_pixels: int, multiple: int = 1) -> Img:
    """Scale an image down, keeping its aspect ratio, so that height x width <= `max_pixels`. Never upscales.

    Args:
        image: (H, W[, C]) numpy array or a PIL image; the same type comes back.
        max_pixels: Pixel budget (e.g. 336 * 336).
        multiple: Round each side down to a multiple of this (28 suits Qwen-VL patches); a side shorter than
            `multiple` is left as is.

    >>> resize_to_budget(np.zeros((480, 640, 3), np.uint8), 100 * 100).shape
    (86, 115, 3)
    """
    from PIL import Image

    is_pil = isinstance(image, Image.Image)
    h, w = (image.height, image.width) if is_pil else np.asarray(image).shape[:2]
    if max_pixels < max(multiple, 1) ** 2:
        raise ValueError(f"max_pixels={max_pixels} is below one {multiple}x{multiple} cell")
    scale = min(1.0, math.sqrt(max_pixels / (h * w)))
    nh, nw = max(1, int(h * scale + 1e-6)), max(1, int(w * scale + 1e-6))  # +1e-6: float error
    if multiple > 1:
        nh, nw = (s if s < multiple else s // multiple * multiple for s in (nh, nw))
    while nh * nw > max_pixels:  # float rounding, or a side kept below `multiple`
        nh, nw = (nh - multiple, nw) if nh >= nw and nh > multiple else (nh, max(1, nw - max(multiple, 1)))
    if (nh, nw) == (h, w):
        return image
    if is_pil:
        return image.resize((nw, nh), Image.Resampling.BOX)  # type: ignore[union-attr, return-value]
    import cv2

    return cv2.resize(np.asarray(image), (nw, nh), interpolation=cv2.INTER_AREA)  # type: ignore[return-value]


def write_video(frames: np.ndarray | Sequence[np.ndarray], path: str | Path, fps: float) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames to an mp4 (MPEG-4 Part 2, OpenCV's 'mp4v'; PyAV if OpenCV fails).

    The codec is lossy: about 3 grey levels of mean absolute error on smooth synthetic frames (measured in
    tests/test_video.py). Width and height must be even (4:2:0 chroma; OpenCV would silently crop them).
    """
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8 or len(arr) == 0:
        raise ValueError(f"frames must be (T, H, W, 3) uint8 RGB with T >= 1, got {arr.shape} {arr.dtype}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if arr.shape[1] % 2 or arr.shape[2] % 2:
        raise ValueError(f"width and height must be even for an mp4, got {arr.shape[2]}x{arr.shape[1]}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _, h, w, _ = arr.shape
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    if writer.isOpened():
        for fr in arr:
            writer.write(cv2.cvtColor(fr, cv2.COLOR_RGB2BGR))  # OpenCV wants BGR
        writer.release()
        if path.is_file() and path.stat().st_size > 0:
            return path
    writer.release()
    import av  # OpenCV built without an mp4 writer: encode the same codec with PyAV

    with av.open(str(path), "w") as box:
        stream = box.add_stream("mpeg4", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.bit_rate = int(8 * w * h * fps)  # bits per second: ~8 bits per pixel, near-lossless at these sizes
        for fr in arr:
            box.mux(stream.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")))
        box.mux(stream.encode())
    return path


def _pad(image: Img, height: int, width: int) -> Img:
    """`image` centred on a black canvas of at least height x width (the same type back)."""
    from PIL import Image

    is_pil = isinstance(image, Image.Image)
    arr = np.asarray(image.convert("RGB") if is_pil else image)
    h, w = arr.shape[:2]
    H, W = max(h, height), max(w, width)
    if (H, W) == (h, w):
        return image
    canvas = np.zeros((H, W, *arr.shape[2:]), arr.dtype)
    top, left = (H - h) // 2, (W - w) // 2
    canvas[top:top + h, left:left + w] = arr
    return Image.fromarray(canvas) if is_pil else canvas  # type: ignore[return-value]


def fit_for_processor(image: Img, max_pixels: int, min_side: int = MIN_SIDE, max_aspect: float = MAX_ASPECT) -> Img:
    """`image` scaled to `max_pixels` (``resize_to_budget``), its aspect ratio capped at `max_aspect` and each side
    at least `min_side` pixels by black padding, so that every image the tools return satisfies the processor.

    >>> fit_for_processor(np.zeros((8, 4000, 3), np.uint8), 336 * 336).shape    # a 500:1 strip
    (33, 3340, 3)
    >>> fit_for_processor(np.zeros((2, 3, 3), np.uint8), 336 * 336).shape       # a tiny crop
    (32, 32, 3)
    """
    from PIL import Image

    is_pil = isinstance(image, Image.Image)
    h, w = (image.height, image.width) if is_pil else np.asarray(image).shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"an image needs at least one pixel, got {w}x{h}")
    min_side = max(1, min(min_side, math.isqrt(max_pixels)))
    cap = max(1.0, min(max_aspect, max_pixels / min_side ** 2))  # longest/shortest the budget allows
    longest = math.sqrt(max_pixels * cap)  # pixels: the longest side an image within the cap and budget can have
    if max(h, w) > longest:  # shrink first, so padding never allocates more than the budget allows
        image = _resize(image, max(1, int(h * longest / max(h, w))), max(1, int(w * longest / max(h, w))))
        h, w = (image.height, image.width) if is_pil else np.asarray(image).shape[:2]
    if max(h, w) / min(h, w) > cap:
        need = math.ceil(max(h, w) / cap)
        image = _pad(image, need if h < w else h, need if w <= h else w)
    image = resize_to_budget(image, max_pixels)
    h, w = (image.height, image.width) if is_pil else np.asarray(image).shape[:2]
    return _pad(image, min_side, min_side) if min(h, w) < min_side else image


def _resize(image: Img, height: int, width: int) -> Img:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.resize((width, height), Image.Resampling.BOX)  # type: ignore[return-value]
    import cv2

    return cv2.resize(np.asarray(image), (width, height), interpolation=cv2.INTER_AREA)  # type: ignore[return-value]


def tile_grid(images: Sequence[object], labels: Sequence[str] | None = None, cols: int | None = None,
              label_height: int = 14) -> object:
    """Tile images (PIL, same size or not) row by row into one RGB PIL image, each cell under a text label strip.

    The paper's tools return a crop's frames as one labelled grid image (a verl tool response carries images,
    not videos); ``EnvConfig.frames_as = "grid"`` uses this. Cells take the size of the largest image (smaller ones
    are centred on black); `cols` defaults to ceil(sqrt(n)). Scale the result with ``fit_for_processor``.

    >>> from PIL import Image
    >>> tile_grid([Image.new("RGB", (40, 30))] * 3, ["<0.0 seconds>", "<1.0 seconds>", "<2.0 seconds>"]).size
    (80, 88)
    """
    from PIL import Image, ImageDraw

    imgs = [im.convert("RGB") for im in images]  # type: ignore[attr-defined]
    if not imgs:
        raise ValueError("tile_grid needs at least one image")
    if labels is not None and len(labels) != len(imgs):
        raise ValueError(f"tile_grid: {len(labels)} labels for {len(imgs)} images")
    cols = max(1, min(cols or math.ceil(math.sqrt(len(imgs))), len(imgs)))
    rows = math.ceil(len(imgs) / cols)
    strip = label_height if labels is not None else 0
    cw, ch = max(im.width for im in imgs), max(im.height for im in imgs)
    grid = Image.new("RGB", (cols * cw, rows * (ch + strip)))
    draw = ImageDraw.Draw(grid)
    for k, im in enumerate(imgs):
        x, y = (k % cols) * cw, (k // cols) * (ch + strip)
        grid.paste(im, (x + (cw - im.width) // 2, y + strip + (ch - im.height) // 2))
        if labels is not None:
            draw.text((x + 2, y + 1), labels[k], fill=(255, 255, 255))
    return grid
