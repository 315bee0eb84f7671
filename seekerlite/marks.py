"""Visual marks: draw a mark on one frame so that a question can say "the marked object".

    img = render_visual_prompt(frame, "arrow", box=[40, 30, 90, 80], seed=3)   # (H, W, 3) uint8 RGB, a new array
    describe_prompt("arrow")   # 'the object the red arrow points to'

Every type in `schema.PROMPT_TYPES` is drawn the same way: the mark is rasterised with OpenCV (anti-aliased)
into a single-channel *alpha layer*, then blended over a copy of the frame in one colour. So the input is never
touched, and "which pixels did the prompt change" is just `alpha > 0`.

    rectangle     a box around the instance (padded so it does not cover the object)
    ellipse       an ellipse through the box's corners ("circled")
    triangle      the smallest triangle around the box, apex up
    arrow         an arrow from outside the box, tip at the box edge, from a seed-chosen in-frame direction
    point         a filled dot at the mask centroid (or the most interior mask pixel), else the box centre
    scribble      a smooth random stroke, kept inside the mask (or the box's middle)
    mask_contour  the mask's outline (the box's outline when no mask is given)
    mask_overlay  a semi-transparent fill of the mask (of the box when no mask is given)
    set_of_mark   numbered tags: the target gets `label`, each box in `others` another number

Each type is one small function registered with `@mark(name, phrase)`: it draws into a `Canvas` and
`render_visual_prompt` (which checks the inputs) blends the canvas's layers. A new mark type is one such
function (plus its name in `schema.PROMPT_TYPES`, which the tests hold equal to `MARKS`).
Sizes scale with the frame: line width `max(2, round(0.006 * max(H, W)))` pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from seekerlite.schema import PROMPT_TYPES

Color = tuple[int, int, int]  # RGB, 0..255

DEFAULT_COLOR: Color = (255, 0, 0)  # bright red, as in the paper's renderings
OVERLAY_ALPHA = 0.45  # opacity of mask_overlay's fill


@dataclass
class Canvas:
    """What a mark function gets: the instance, the settings, and three alpha layers to draw into: `layer` in
    `color` at `opacity`, `below` and `above` in the contrasting colour before and after it (a rim, digits)."""

    box: tuple[float, float, float, float]  # the instance's x0, y0, x1, y1 in pixels, clipped to the frame
    mask: np.ndarray | None  # (H, W) bool instance mask, or None when only a box was given
    color: Color  # RGB of the mark
    label: str  # set_of_mark: the instance's tag text
    others: list[list[float]]  # set_of_mark: boxes of other objects, as given (checked by the mark)
    rng: np.random.Generator  # seeded: the arrow's direction, the scribble's path
    t: int  # stroke width, pixels
    pad: int  # gap in pixels between the instance and marks drawn around it
    center: tuple[float, float]  # centre of the box, pixels
    layer: np.ndarray  # (H, W) uint8 alpha 0..255, blended in `color`
    below: np.ndarray  # (H, W) uint8 alpha 0..255, blended in the contrasting colour first
    above: np.ndarray  # (H, W) uint8 alpha 0..255, blended in the contrasting colour last
    opacity: float = 1.0  # scales `layer`'s alpha

    def box_poly(self) -> np.ndarray:
        """(4, 2) int32 corners of the box (its last pixel row and column included), for cv2 polygons."""
        x0, y0, x1, y1 = self.box
        return np.round(np.array([[x0, y0], [x1 - 1, y0], [x1 - 1, y1 - 1], [x0, y1 - 1]])).astype(np.int32)


DrawFn = Callable[[Canvas], None]  # draws one mark type into a canvas's layers


@dataclass(frozen=True)
class MarkType:
    """One registered mark type: how to draw it and how a question names it."""

    name: str  # as in schema.PROMPT_TYPES
    draw: DrawFn
    phrase: str  # noun phrase template with {color} and {label}


MARKS: dict[str, MarkType] = {}
"""The registry: prompt type -> MarkType, in `schema.PROMPT_TYPES` order."""


def mark(name: str, phrase: str) -> Callable[[DrawFn], DrawFn]:
    """Decorator registering a draw function as mark type `name`, referred to in questions as `phrase`."""
    def register(draw: DrawFn) -> DrawFn:
        if name in MARKS:
            raise ValueError(f"mark type {name!r} is registered twice")
        MARKS[name] = MarkType(name, draw, phrase)
        return draw
    return register


def describe_prompt(prompt_type: str, color_name: str = "red", label: str = "1") -> str:
    """The noun phrase a question uses for the marked object.

    >>> describe_prompt("ellipse")
    'the object circled in red'
    >>> describe_prompt("set_of_mark", label="3")
    'the object labelled 3'
    """
    if prompt_type not in MARKS:
        raise ValueError(f"unknown prompt type {prompt_type!r}; expected one of {PROMPT_TYPES}")
    return MARKS[prompt_type].phrase.format(color=color_name, label=label)


def changed_pixels(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Boolean (H, W) map of pixels where any channel differs between two images of the same shape."""
    if before.shape != after.shape:
        raise ValueError(f"shapes differ: {before.shape} vs {after.shape}")
    diff = before != after
    return diff.any(axis=-1) if diff.ndim == 3 else diff


def line_width(shape: tuple[int, ...]) -> int:
    """Stroke width in pixels for a frame of this (H, W, ...) shape."""
    return max(2, round(0.006 * max(shape[0], shape[1])))


# ----------------------------------------------------------------------------- geometry helpers

def _check_box(box, h: int, w: int, what: str = "box") -> tuple[float, float, float, float]:
    """Clip an [x0, y0, x1, y1] box to the frame; raise if malformed or entirely outside."""
    if len(box) != 4 or not all(math.isfinite(float(v)) for v in box):
        raise ValueError(f"{what} must be 4 finite numbers [x0, y0, x1, y1], got {box!r}")
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"{what} {box!r} is empty: need x1 > x0 and y1 > y0")
    cx0, cy0, cx1, cy1 = max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)
    if cx1 <= cx0 or cy1 <= cy0:
        raise ValueError(f"{what} {box!r} lies outside the {w}x{h} image")
    return cx0, cy0, cx1, cy1


def _interior_point(mask: np.ndarray) -> tuple[float, float]:
    """The mask centroid if it falls on the mask, else the mask pixel farthest from the mask's border."""
    ys, xs = np.nonzero(mask)
    cx, cy = float(xs.mean()), float(ys.mean())
    if mask[int(cy), int(cx)]:  # pixel i spans [i, i + 1)
        return cx, cy
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x) + 0.5, float(y) + 0.5


def _composite(img: np.ndarray, alpha: np.ndarray, color: Color) -> None:
    """Blend `color` over `img` in place with a (H, W) alpha in 0..1 (only where alpha > 0)."""
    sel = alpha > 0
    if not sel.any():
        return
    a = alpha[sel][:, None]
    img[sel] = np.clip(img[sel] * (1.0 - a) + np.asarray(color, float) * a + 0.5, 0, 255).astype(np.uint8)


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))


def _contrast(color: Color) -> Color:
    """Black or white, whichever reads better on `color`."""
    return (0, 0, 0) if 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2] > 140 else (255, 255, 255)


def _tag(layer_bg: np.ndarray, layer_fg: np.ndarray, text: str, cx: float, cy: float) -> None:
    """A filled label tag with `text`, centred on (cx, cy) and kept inside the frame."""
    h, w = layer_bg.shape
    scale = max(0.4, 0.0015 * max(h, w))
    thick = max(1, round(scale * 1.6))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(2, thick + 1)
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    x0 = int(min(max(0, round(cx - bw / 2)), w - bw))
    y0 = int(min(max(0, round(cy - bh / 2)), h - bh))
    cv2.rectangle(layer_bg, (x0, y0), (x0 + bw - 1, y0 + bh - 1), 255, -1)
    cv2.putText(layer_fg, text, (x0 + pad, y0 + pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)


# ----------------------------------------------------------------------------- the marks, one function each

@mark("rectangle", "the object in the {color} box")
def _rectangle(c: Canvas) -> None:
    """A box `pad` pixels outside the instance's box, so that it does not cover the object."""
    x0, y0, x1, y1 = c.box
    cv2.rectangle(c.layer, _pt(x0 - c.pad, y0 - c.pad), _pt(x1 - 1 + c.pad, y1 - 1 + c.pad), 255, c.t, cv2.LINE_AA)


@mark("ellipse", "the object circled in {color}")
def _ellipse(c: Canvas) -> None:
    """An ellipse through the (padded) box corners: semi-axes sqrt(2) x half the box sides."""
    x0, y0, x1, y1 = c.box
    cx, cy = c.center
    axes = _pt((x1 - x0) / 2 * math.sqrt(2) + c.pad, (y1 - y0) / 2 * math.sqrt(2) + c.pad)
    cv2.ellipse(c.layer, _pt(cx - 0.5, cy - 0.5), axes, 0, 0, 360, 255, c.t, cv2.LINE_AA)


@mark("triangle", "the object inside the {color} triangle")
def _triangle(c: Canvas) -> None:
    """The minimal-area triangle around the padded box: apex one box-height above it, base twice its width."""
    x0, y0, x1, y1 = c.box
    cx, _ = c.center
    px0, py0, px1, py1 = x0 - c.pad, y0 - c.pad, x1 + c.pad, y1 + c.pad
    bw, bh = px1 - px0, py1 - py0
    tri = np.round(np.array([[cx, py0 - bh], [cx + bw, py1], [cx - bw, py1]])).astype(np.int32)
    cv2.polylines(c.layer, [tri], True, 255, c.t, cv2.LINE_AA)


@mark("arrow", "the object the {color} arrow points to")
def _arrow(c: Canvas) -> None:
    """An arrow with its tip just outside the box edge, from a seeded direction that keeps its tail in frame."""
    h, w = c.layer.shape
    t = c.t
    x0, y0, x1, y1 = c.box
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    length = max(6.0 * t, 0.12 * math.hypot(w, h))  # pixels, tail to tip
    start = c.rng.uniform(0, 2 * math.pi)
    for scale in (1.0, 0.6, 0.35):
        for k in range(16):  # walk round the compass from the seeded start
            th = start + k * 2 * math.pi / 16
            ux, uy = math.cos(th), math.sin(th)
            s = min(hw / abs(ux) if abs(ux) > 1e-9 else math.inf, hh / abs(uy) if abs(uy) > 1e-9 else math.inf)
            tip = (cx + (s + t) * ux, cy + (s + t) * uy)
            tail = (tip[0] + scale * length * ux, tip[1] + scale * length * uy)
            if t <= tail[0] <= w - 1 - t and t <= tail[1] <= h - 1 - t:
                cv2.arrowedLine(c.layer, _pt(*tail), _pt(*tip), 255, t, cv2.LINE_AA, 0, 0.3)
                return
    # the box fills the frame: point inward at the centre from the nearest free spot
    cv2.arrowedLine(c.layer, _pt(cx, max(t, y0 - length / 2)), _pt(cx, cy), 255, t, cv2.LINE_AA, 0, 0.3)


@mark("point", "the object marked with the {color} dot")
def _point(c: Canvas) -> None:
    """A filled dot on the mask's interior (else the box centre), with a thin contrasting rim below it."""
    h, w = c.layer.shape
    px, py = _interior_point(c.mask) if c.mask is not None else c.center
    r = max(3, round(0.012 * max(h, w)))  # pixels
    cv2.circle(c.below, _pt(px - 0.5, py - 0.5), r + max(1, c.t // 2), 255, -1, cv2.LINE_AA)
    cv2.circle(c.layer, _pt(px - 0.5, py - 0.5), r, 255, -1, cv2.LINE_AA)


@mark("scribble", "the object with the {color} scribble on it")
def _scribble(c: Canvas) -> None:
    """A smooth random stroke inside the mask (or the middle 70% of the box): a cubic B-spline through one
    seeded point per slab along the region's long axis (so it sweeps across it in a wave), clipped to it."""
    h, w = c.layer.shape
    t, region = c.t, c.mask
    if region is None:
        x0, y0, x1, y1 = c.box
        region = np.zeros((h, w), bool)
        mx, my = 0.15 * (x1 - x0), 0.15 * (y1 - y0)
        region[int(y0 + my): max(int(y0 + my) + 1, int(math.ceil(y1 - my))),
               int(x0 + mx): max(int(x0 + mx) + 1, int(math.ceil(x1 - mx)))] = True
    inner = cv2.erode(region.astype(np.uint8), np.ones((2 * t + 1, 2 * t + 1), np.uint8)).astype(bool)
    ys, xs = np.nonzero(inner if inner.sum() >= 10 else region)
    xy = np.stack([xs, ys], 1).astype(float) + 0.5  # (N, 2) pixel centres
    centred = xy - xy.mean(0)
    axis = np.linalg.eigh(centred.T @ centred)[1][:, -1]  # long axis
    proj = centred @ axis
    edges = np.quantile(proj, np.linspace(0.08, 0.92, 6))  # 5 slabs
    pts = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        cand = np.nonzero((proj >= lo) & (proj <= hi))[0]
        pts.append(xy[cand[c.rng.integers(len(cand))]] if len(cand) else xy[c.rng.integers(len(xy))])
    pts = np.array(pts)
    ext = np.vstack([pts[:1], pts[:1], pts, pts[-1:], pts[-1:]])  # clamped ends
    s = np.linspace(0, 1, 16, endpoint=False)[:, None]
    basis = np.hstack([(1 - s) ** 3, 3 * s**3 - 6 * s**2 + 4, -3 * s**3 + 3 * s**2 + 3 * s + 1, s**3]) / 6
    curve = np.vstack([basis @ ext[i:i + 4] for i in range(len(ext) - 3)] + [pts[-1:]])
    cv2.polylines(c.layer, [np.round(curve - 0.5).astype(np.int32)], False, 255, t, cv2.LINE_AA)
    c.layer[~region] = 0


@mark("mask_contour", "the object outlined in {color}")
def _mask_contour(c: Canvas) -> None:
    """The mask's outer outline, or the box's outline when no mask is given."""
    if c.mask is None:
        cv2.polylines(c.layer, [c.box_poly()], True, 255, c.t, cv2.LINE_AA)
        return
    contours, _ = cv2.findContours(c.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(c.layer, contours, -1, 255, c.t, cv2.LINE_AA)


@mark("mask_overlay", "the object highlighted in {color}")
def _mask_overlay(c: Canvas) -> None:
    """A fill of the mask (or the box) at OVERLAY_ALPHA opacity."""
    if c.mask is None:
        cv2.fillPoly(c.layer, [c.box_poly()], 255)
    else:
        c.layer[c.mask] = 255
    c.opacity = OVERLAY_ALPHA


@mark("set_of_mark", "the object labelled {label}")
def _set_of_mark(c: Canvas) -> None:
    """Numbered tags: `label` on the instance's interior (or box centre), the next free numbers on `others`."""
    h, w = c.layer.shape
    px, py = _interior_point(c.mask) if c.mask is not None else c.center
    _tag(c.layer, c.above, c.label, px, py)
    numbers = (str(k) for k in range(1, 1000) if str(k) != c.label)
    for i, ob in enumerate(c.others):
        ox0, oy0, ox1, oy1 = _check_box(ob, h, w, what=f"others[{i}]")
        _tag(c.layer, c.above, next(numbers), (ox0 + ox1) / 2, (oy0 + oy1) / 2)


PROMPT_PHRASES: dict[str, str] = {k: describe_prompt(k) for k in MARKS}
"""How a question refers to the marked instance, per prompt type (default red mark, label "1")."""


# ----------------------------------------------------------------------------- the entry point

def render_visual_prompt(
    image: np.ndarray,
    prompt_type: str,
    *,
    box: list[float] | None = None,
    mask: np.ndarray | None = None,
    seed: int = 0,
    color: Color | None = None,
    label: str = "1",
    others: list[list[float]] | None = None,
) -> np.ndarray:
    """Draw a visual prompt marking one instance on a copy of `image`.

    Args:
        image: (H, W, 3) uint8 RGB frame; never modified.
        prompt_type: one of `schema.PROMPT_TYPES` (the keys of `MARKS`).
        box: the instance's [x0, y0, x1, y1] in pixels (clipped to the frame); derived from `mask` when None.
        mask: (H, W) boolean mask of the instance; needed for a true mask_contour / mask_overlay.
        seed: picks the arrow's direction and the scribble's path (same seed, same image).
        color: RGB of the mark; default bright red.
        label: set_of_mark's tag text for the instance.
        others: set_of_mark only: boxes of other objects, tagged with other numbers.

    Returns:
        A new (H, W, 3) uint8 RGB image.

    Raises:
        ValueError: unknown type, bad image, a mask of another shape or empty, a box outside the image,
            or neither box nor mask.
    """
    if prompt_type not in MARKS:
        raise ValueError(f"unknown prompt type {prompt_type!r}; expected one of {PROMPT_TYPES}")
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    if mask is not None:
        mask = np.asarray(mask).astype(bool)
        if mask.shape != (h, w):
            raise ValueError(f"mask shape {mask.shape} differs from the image's {(h, w)}")
        if not mask.any():
            if box is None:
                raise ValueError("mask is empty and no box was given")
            mask = None
    if box is None and mask is None:
        raise ValueError("give a box or a mask for the instance")
    if box is None:
        ys, xs = np.nonzero(mask)
        box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
    x0, y0, x1, y1 = _check_box(box, h, w)
    color = tuple(int(v) for v in (DEFAULT_COLOR if color is None else color))
    t = line_width(image.shape)
    c = Canvas(box=(x0, y0, x1, y1), mask=mask, color=color, label=label, others=list(others or []),
               rng=np.random.default_rng(seed), t=t, pad=t, center=((x0 + x1) / 2, (y0 + y1) / 2),
               layer=np.zeros((h, w), np.uint8), below=np.zeros((h, w), np.uint8), above=np.zeros((h, w), np.uint8))
    MARKS[prompt_type].draw(c)
    out = image.copy()
    _composite(out, c.below / 255.0, _contrast(color))
    _composite(out, c.layer / 255.0 * c.opacity, color)
    _composite(out, c.above / 255.0, _contrast(color))
    return out
