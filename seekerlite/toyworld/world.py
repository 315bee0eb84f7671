"""The toy world itself: moving shapes simulated and rendered with exact masks, and their ground truth.

    clip = generate_clip(ToyWorldConfig(), seed=3)   # frames (T, H, W, 3) uint8, masks {id: (T, H, W) bool}

Every clip has a *target* and a *look-alike* of the same shape and colour, so "the red circle" is ambiguous
and a question must say "the marked object". Things happen to the target: it may change colour once, leave
the frame through an edge (and stay gone), bounce off walls, and touch other objects. They are recorded as
`ToyEvent`s, the truth that questions are written from.

Masks are exact for the rendered RGB arrays: every object is drawn without anti-aliasing into a label map in
z-order (later objects occlude earlier ones), and frames and visible masks are both read from that map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from seekerlite.schema import PROMPT_TYPES, Masklet, encode_mask, mask_to_box

SHAPES = ("circle", "square", "triangle")
DEFAULT_COLORS = {"red": (220, 40, 40), "green": (40, 190, 70), "blue": (50, 100, 235),
                  "yellow": (235, 205, 40), "purple": (155, 70, 205)}
EDGES = ("left", "right", "top", "bottom")


@dataclass
class ToyWorldConfig:
    """What a toy clip looks like. Defaults give a 5 s, 320x240, 10 fps clip with 4 objects."""

    width: int = 320  # frame width, pixels
    height: int = 240  # frame height, pixels
    fps: int = 10  # frames per second
    duration: float = 5.0  # seconds
    n_objects: int = 4  # objects per clip, target and its look-alike included (>= 2)
    shapes: tuple[str, ...] = SHAPES  # shapes to draw from (subset of SHAPES)
    colors: dict[str, tuple[int, int, int]] = field(default_factory=lambda: dict(DEFAULT_COLORS))  # name -> RGB, >= 4
    background: tuple[int, int, int] = (40, 40, 40)  # RGB, dark grey
    size_range: tuple[float, float] = (12.0, 22.0)  # object half-extent, pixels
    speed_range: tuple[float, float] = (45.0, 110.0)  # pixels per second
    target_speed_range: tuple[float, float] | None = None  # the target's own speed range; None = speed_range
    p_color_change: float = 0.7  # chance the target changes colour once
    p_exit: float = 0.35  # chance the target leaves the frame (and stays gone)
    prompt_types: tuple[str, ...] = PROMPT_TYPES  # visual-prompt types to draw from
    prompt_weights: tuple[float, ...] | None = None  # their probabilities; None = uniform
    prompt_color: tuple[int, int, int] = (255, 255, 255)  # RGB of the mark: white is no object's colour
    prompt_color_name: str = "white"  # how questions name the mark's colour
    seed: int = 0  # default seed of generate_clip
    question_families: tuple[str, ...] | None = None  # families generate_dataset asks; None = the default six (TASKS); TOOL_TASKS need a close look


@dataclass
class ToyObject:
    """One moving shape. Index k in `ToyClip.objects` is its z-order: it occludes objects 0..k-1."""

    id: str  # "obj<k>"
    shape: str  # circle | square | triangle
    size: float  # half-extent, pixels
    role: str  # target | lookalike | other
    colors: list[str]  # colour name per frame
    centers: np.ndarray  # (T, 2) float x, y in pixels; may lie outside the frame
    velocities: np.ndarray  # (T, 2) float, pixels per second

    def look(self, frame: int = 0) -> str:
        """'red circle' at a frame."""
        return f"{self.colors[frame]} {self.shape}"


@dataclass
class ToyEvent:
    """Something that happened.

    `value`: the new colour (color_change), wall(s) (bounce), edge (exit) or the other object's id (collision).
    """

    kind: str  # color_change | bounce | exit | collision
    object_id: str
    frame: int  # first frame showing it
    time: float  # seconds
    value: str


@dataclass
class ToyClip:
    """A rendered toy clip and its ground truth."""

    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    masks: dict[str, np.ndarray]  # object id -> (T, H, W) bool visible mask (occluded pixels excluded)
    objects: list[ToyObject]  # in z-order
    events: list[ToyEvent]
    fps: float
    target_id: str
    seed: int
    config: ToyWorldConfig

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def obj(self, object_id: str) -> ToyObject:
        return next(o for o in self.objects if o.id == object_id)

    def events_of(self, object_id: str, kind: str) -> list[ToyEvent]:
        return [e for e in self.events if e.object_id == object_id and e.kind == kind]


def time_bins(duration: float) -> np.ndarray:
    """Edges of the 4 equal time ranges used by temporal multiple-choice options, seconds.

    >>> time_bins(5.0).tolist()
    [0.0, 1.25, 2.5, 3.75, 5.0]
    """
    return np.linspace(0.0, duration, 5)


def to_masklet(clip: ToyClip, object_id: str) -> Masklet:
    """All frames of one object's visible mask as a Masklet (None where it is invisible)."""
    boxes, rles = [], []
    for m in clip.masks[object_id]:
        box = mask_to_box(m)
        boxes.append(box)
        rles.append(encode_mask(m) if box is not None else None)
    return Masklet(object_id, list(range(clip.num_frames)), boxes, rles,
                   label=clip.obj(object_id).look(0), source="synth")


# ----------------------------------------------------------------------------- simulation and rendering

def _extent(shape: str, size: float) -> tuple[float, float]:
    """Half width and half height of a shape's box, pixels."""
    if shape == "triangle":
        return 1.1 * size, 1.1 * size * math.sqrt(3) / 2
    return (0.85 * size,) * 2 if shape == "square" else (size, size)


def _draw(canvas: np.ndarray, shape: str, center: np.ndarray, size: float) -> None:
    """Fill one shape with value 1, no anti-aliasing (pixel i spans [i, i + 1); 4 bits of sub-pixel precision)."""
    sh = 16
    cx, cy = (center - 0.5) * sh
    if shape == "circle":
        cv2.circle(canvas, (int(round(cx)), int(round(cy))), int(round(size * sh)), 1, -1, cv2.LINE_8, 4)
        return
    ex, ey = _extent(shape, size)
    if shape == "square":
        pts = [(-ex, -ey), (ex, -ey), (ex, ey), (-ex, ey)]
    else:  # triangle, apex up
        pts = [(0.0, -ey), (ex, ey), (-ex, ey)]
    poly = np.round(np.array([(cx + px * sh, cy + py * sh) for px, py in pts])).astype(np.int32)
    cv2.fillPoly(canvas, [poly], 1, cv2.LINE_8, 4)


def _check_config(cfg: ToyWorldConfig) -> None:
    if cfg.n_objects < 2:
        raise ValueError(f"n_objects must be >= 2 (target and look-alike), got {cfg.n_objects}")
    if len(cfg.colors) < 4:
        raise ValueError(f"need >= 4 colours for 4-option questions, got {list(cfg.colors)}")
    if not cfg.shapes or set(cfg.shapes) - set(SHAPES):
        raise ValueError(f"shapes must be a non-empty subset of {SHAPES}, got {cfg.shapes}")
    if cfg.n_objects - 1 > len(cfg.shapes) * len(cfg.colors):
        raise ValueError("too many objects for distinct looks; add shapes or colours")
    if round(cfg.duration * cfg.fps) < 10:
        raise ValueError("a clip needs at least 10 frames (duration * fps)")
    for name in ("speed_range", "target_speed_range"):
        r = getattr(cfg, name)
        if r is not None and not 0 <= r[0] <= r[1]:
            raise ValueError(f"ToyWorldConfig.{name} must be (low, high) with 0 <= low <= high, got {r}")


def _choose_looks(cfg: ToyWorldConfig, rng: np.random.Generator) -> list[tuple[str, str, float, str]]:
    """(shape, colour, size, role) per object in z-order: target and look-alike share shape and colour,
    the others get distinct (shape, colour) pairs."""
    names = list(cfg.colors)
    t_shape, t_color = str(rng.choice(cfg.shapes)), str(rng.choice(names))
    combos = [(s, c) for s in cfg.shapes for c in names if (s, c) != (t_shape, t_color)]
    picks = rng.choice(len(combos), cfg.n_objects - 2, replace=False)
    size = rng.uniform(*cfg.size_range)
    looks = [(t_shape, t_color, size, "target"), (t_shape, t_color, size * rng.uniform(0.9, 1.1), "lookalike")]
    looks += [(*combos[i], rng.uniform(*cfg.size_range), "other") for i in picks]
    return [looks[i] for i in rng.permutation(cfg.n_objects)]


def _render(objects: list[ToyObject], cfg: ToyWorldConfig, T: int
            ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Unoccluded masks (n, T, H, W) uint8, frames (T, H, W, 3) uint8 RGB and visible masks {id: (T, H, W) bool}."""
    n, H, W = len(objects), cfg.height, cfg.width
    full = np.zeros((n, T, H, W), np.uint8)  # each object's unoccluded mask
    for i, ob in enumerate(objects):
        for f in range(T):
            _draw(full[i, f], ob.shape, ob.centers[f], ob.size)
    label = np.zeros((T, H, W), np.uint8)  # 0 = background, k + 1 = object k on top
    for i in range(n):
        label[full[i] > 0] = i + 1
    lut = np.zeros((T, n + 1, 3), np.uint8)
    lut[:, 0] = cfg.background
    for i, ob in enumerate(objects):
        lut[:, i + 1] = [cfg.colors[c] for c in ob.colors]
    frames = lut[np.arange(T)[:, None, None], label]  # (T, H, W, 3)
    return full, frames, {ob.id: label == i + 1 for i, ob in enumerate(objects)}


def _contacts(full: np.ndarray, dt: float) -> list[ToyEvent]:
    """Collision events (both ways) at each contact onset between unoccluded (n, T, H, W) masks."""
    n, T, events = len(full), full.shape[1], []
    for i in range(n):
        for j in range(i + 1, n):
            touch = (full[i] & full[j]).reshape(T, -1).any(1)
            for f in np.nonzero(touch & ~np.r_[False, touch[:-1]])[0].tolist():
                events.append(ToyEvent("collision", f"obj{i}", f, round(f * dt, 6), f"obj{j}"))
                events.append(ToyEvent("collision", f"obj{j}", f, round(f * dt, 6), f"obj{i}"))
    return events


def generate_clip(config: ToyWorldConfig | None = None, seed: int | None = None) -> ToyClip:
    """Simulate and render one clip. Same config and seed -> identical arrays."""
    cfg = config or ToyWorldConfig()
    _check_config(cfg)
    seed = cfg.seed if seed is None else int(seed)
    rng = np.random.default_rng(seed)  # its draws, in order: looks, start, target's plan
    W, H, n, T, dt = cfg.width, cfg.height, cfg.n_objects, int(round(cfg.duration * cfg.fps)), 1.0 / cfg.fps
    names = list(cfg.colors)
    looks = _choose_looks(cfg, rng)
    ti = next(i for i, lk in enumerate(looks) if lk[3] == "target")
    t_color = looks[ti][1]
    ext = np.array([_extent(s, z) for s, _, z, _ in looks])  # (n, 2) half extents

    pos = np.zeros((n, 2))
    for i in range(n):  # spread out, not overlapping at the start
        for _ in range(200):
            pos[i] = rng.uniform(ext[i] + 2, [W - ext[i, 0] - 2, H - ext[i, 1] - 2])
            if all(np.hypot(*(pos[i] - pos[j])) > 1.4 * (ext[i].max() + ext[j].max()) for j in range(i)):
                break
    ang = rng.integers(4, size=n) * math.pi / 2 + rng.uniform(-math.pi / 6, math.pi / 6, n)  # near an axis
    speed = rng.uniform(*cfg.speed_range, n)
    if cfg.target_speed_range is not None:  # the same draw, mapped onto the target's range (same rng stream)
        (lo, hi), (tlo, thi) = cfg.speed_range, cfg.target_speed_range
        speed[ti] = tlo + (speed[ti] - lo) / max(hi - lo, 1e-9) * (thi - tlo)
    vel = speed[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1)

    # the target's plan: maybe leave the frame from f_free on, maybe change colour at f_cc
    exits = rng.random() < cfg.p_exit
    f_free = int(round(rng.uniform(0.4, 0.6) * T)) if exits else T
    f_cc = None
    if rng.random() < cfg.p_color_change:
        bins = time_bins(T * dt)
        hi = f_free - 5 if exits else int(0.85 * T)
        cands = [f for f in range(int(0.15 * T), hi) if np.abs(bins - f * dt).min() >= 0.25]
        f_cc = int(rng.choice(cands)) if cands else None
    new_color = str(rng.choice([c for c in names if c != t_color]))

    centers, vels, events = np.zeros((n, T, 2)), np.zeros((n, T, 2)), []
    for f in range(T):
        if f == f_free:  # stop bouncing; speed up if needed to be fully out before the clip ends
            v = vel[ti]
            lim = np.where(v > 0, [W, H] + ext[ti], -ext[ti])
            need = min(abs((lim[k] - pos[ti, k]) / v[k]) for k in range(2) if abs(v[k]) > 1e-9)
            vel[ti] *= max(1.0, need / (0.7 * (T - 1 - f) * dt))
        if f > 0:
            pos = pos + vel * dt
            for i in range(n):
                if i == ti and f >= f_free:
                    continue
                walls = []
                for k, (lo_name, hi_name) in enumerate((("left", "right"), ("top", "bottom"))):
                    lo, hi = ext[i, k], (W, H)[k] - ext[i, k]
                    if pos[i, k] < lo and vel[i, k] < 0:  # touch the wall, turn round
                        pos[i, k], vel[i, k] = lo, -vel[i, k]
                        walls.append(lo_name)
                    elif pos[i, k] > hi and vel[i, k] > 0:
                        pos[i, k], vel[i, k] = hi, -vel[i, k]
                        walls.append(hi_name)
                if walls:
                    events.append(ToyEvent("bounce", f"obj{i}", f, round(f * dt, 6), "+".join(walls)))
        centers[:, f], vels[:, f] = pos, vel

    objects = []
    for i, (shape, color, z, role) in enumerate(looks):
        cols = [color] * T
        if i == ti and f_cc is not None:
            cols[f_cc:] = [new_color] * (T - f_cc)
            events.append(ToyEvent("color_change", f"obj{i}", f_cc, round(f_cc * dt, 6), new_color))
        objects.append(ToyObject(f"obj{i}", shape, float(z), role, cols, centers[i], vels[i]))

    full, frames, masks = _render(objects, cfg, T)
    present = full.reshape(n, T, -1).any(2)  # (n, T): any part inside the frame
    if exits and not present[ti, -1]:
        f_gone = int(np.argmax(~present[ti, f_free:])) + f_free
        v = vels[ti, f_gone]
        cx, cy = centers[ti, f_gone]
        edge = "left" if cx < 0 and v[0] < 0 else "right" if cx > W and v[0] > 0 else "top" if cy < H / 2 else "bottom"
        events.append(ToyEvent("exit", f"obj{ti}", f_gone, round(f_gone * dt, 6), edge))
    events += _contacts(full, dt)
    events.sort(key=lambda e: (e.frame, e.kind, e.object_id))
    return ToyClip(frames, masks, objects, events, float(cfg.fps), f"obj{ti}", seed, cfg)
