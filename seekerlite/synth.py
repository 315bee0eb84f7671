"""A toy world: short videos of moving shapes with exact masks, and questions that need the visual prompt.

    clip = generate_clip(ToyWorldConfig(), seed=3)       # frames (T, H, W, 3) uint8, masks {id: (T, H, W) bool}
    qs = make_questions(clip, clip.target_id, np.random.default_rng(0))
    path = generate_dataset("runs/toy", n_clips=8)        # videos/*.mp4, prompts/*.png, samples.jsonl

Every clip has a *target* and a *look-alike* of the same shape and colour, so "the red circle" is ambiguous
and a question must say "the marked object". Things happen to the target: it may change colour once, leave
the frame through an edge (and stay gone), bounce off walls, and touch other objects.

Masks are exact for the rendered RGB arrays: every object is drawn without anti-aliasing into a label map in
z-order (later objects occlude earlier ones), and frames and visible masks are both read from that map.
The mp4 written by `generate_dataset` is lossy (mp4v), so decoded frames differ slightly from `clip.frames`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from seekerlite.prompts import describe_prompt, render_visual_prompt
from seekerlite.schema import (
    OPTION_LETTERS,
    PROMPT_TYPES,
    Masklet,
    Sample,
    VisualPrompt,
    encode_mask,
    mask_to_box,
    save_jsonl,
)

SHAPES = ("circle", "square", "triangle")
DEFAULT_COLORS = {"red": (220, 40, 40), "green": (40, 190, 70), "blue": (50, 100, 235),
                  "yellow": (235, 205, 40), "purple": (155, 70, 205)}
EDGES = ("left", "right", "top", "bottom")
TASKS = ("attribute", "temporal", "direction", "exit", "counting", "interaction")
_DIMENSIONS = {"attribute": "OA", "direction": "OD", "counting": "GC"}  # V2P-Bench codes where one fits


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
    p_color_change: float = 0.7  # chance the target changes colour once
    p_exit: float = 0.35  # chance the target leaves the frame (and stays gone)
    prompt_types: tuple[str, ...] = PROMPT_TYPES  # visual-prompt types to draw from
    prompt_weights: tuple[float, ...] | None = None  # their probabilities; None = uniform
    prompt_color: tuple[int, int, int] = (255, 255, 255)  # RGB of the mark: white is no object's colour
    prompt_color_name: str = "white"  # how questions name the mark's colour
    seed: int = 0  # default seed of generate_clip


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


def _time_bins(duration: float) -> np.ndarray:
    """Edges of the 4 equal time ranges used by temporal multiple-choice options, seconds."""
    return np.linspace(0.0, duration, 5)


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


def generate_clip(config: ToyWorldConfig | None = None, seed: int | None = None) -> ToyClip:
    """Simulate and render one clip. Same config and seed -> identical arrays."""
    cfg = config or ToyWorldConfig()
    _check_config(cfg)
    seed = cfg.seed if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    W, H, n, T, dt = cfg.width, cfg.height, cfg.n_objects, int(round(cfg.duration * cfg.fps)), 1.0 / cfg.fps
    names = list(cfg.colors)

    # looks: target and look-alike share shape and colour; the others get distinct (shape, colour) pairs
    t_shape, t_color = str(rng.choice(cfg.shapes)), str(rng.choice(names))
    combos = [(s, c) for s in cfg.shapes for c in names if (s, c) != (t_shape, t_color)]
    picks = rng.choice(len(combos), n - 2, replace=False)
    size = rng.uniform(*cfg.size_range)
    looks = [(t_shape, t_color, size, "target"), (t_shape, t_color, size * rng.uniform(0.9, 1.1), "lookalike")]
    looks += [(*combos[i], rng.uniform(*cfg.size_range), "other") for i in picks]
    looks = [looks[i] for i in rng.permutation(n)]  # z-order
    ti = next(i for i, lk in enumerate(looks) if lk[3] == "target")
    ext = np.array([_extent(s, z) for s, _, z, _ in looks])  # (n, 2) half extents

    pos = np.zeros((n, 2))
    for i in range(n):  # spread out, not overlapping at the start
        for _ in range(200):
            pos[i] = rng.uniform(ext[i] + 2, [W - ext[i, 0] - 2, H - ext[i, 1] - 2])
            if all(np.hypot(*(pos[i] - pos[j])) > 1.4 * (ext[i].max() + ext[j].max()) for j in range(i)):
                break
    ang = rng.integers(4, size=n) * math.pi / 2 + rng.uniform(-math.pi / 6, math.pi / 6, n)  # near an axis
    vel = rng.uniform(*cfg.speed_range, n)[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1)

    # the target's plan: maybe leave the frame from f_free on, maybe change colour at f_cc
    exits = rng.random() < cfg.p_exit
    f_free = int(round(rng.uniform(0.4, 0.6) * T)) if exits else T
    f_cc = None
    if rng.random() < cfg.p_color_change:
        bins = _time_bins(T * dt)
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
    masks = {ob.id: label == i + 1 for i, ob in enumerate(objects)}

    present = full.reshape(n, T, -1).any(2)  # (n, T): any part inside the frame
    if exits and not present[ti, -1]:
        f_gone = int(np.argmax(~present[ti, f_free:])) + f_free
        v = vels[ti, f_gone]
        cx, cy = centers[ti, f_gone]
        edge = "left" if cx < 0 and v[0] < 0 else "right" if cx > W and v[0] > 0 else "top" if cy < H / 2 else "bottom"
        events.append(ToyEvent("exit", f"obj{ti}", f_gone, round(f_gone * dt, 6), edge))
    for i in range(n):  # contact onsets between unoccluded masks
        for j in range(i + 1, n):
            touch = (full[i] & full[j]).reshape(T, -1).any(1)
            for f in np.nonzero(touch & ~np.r_[False, touch[:-1]])[0].tolist():
                events.append(ToyEvent("collision", f"obj{i}", f, round(f * dt, 6), f"obj{j}"))
                events.append(ToyEvent("collision", f"obj{j}", f, round(f * dt, 6), f"obj{i}"))
    events.sort(key=lambda e: (e.frame, e.kind, e.object_id))
    return ToyClip(frames, masks, objects, events, float(cfg.fps), f"obj{ti}", seed, cfg)


# ----------------------------------------------------------------------------- questions

def to_masklet(clip: ToyClip, object_id: str) -> Masklet:
    """All frames of one object's visible mask as a Masklet (None where it is invisible)."""
    boxes, rles = [], []
    for m in clip.masks[object_id]:
        box = mask_to_box(m)
        boxes.append(box)
        rles.append(encode_mask(m) if box is not None else None)
    return Masklet(object_id, list(range(clip.num_frames)), boxes, rles,
                   label=clip.obj(object_id).look(0), source="synth")


def _mc(rng: np.random.Generator, correct: str, wrong: list[str]) -> tuple[list[str], str]:
    """Four shuffled options (the correct one plus 3 of `wrong`) and the correct letter."""
    picks = [wrong[i] for i in rng.choice(len(wrong), 3, replace=False)] if len(wrong) > 3 else list(wrong)
    opts = [correct] + picks
    opts = [opts[i] for i in rng.permutation(len(opts))]
    return opts, OPTION_LETTERS[opts.index(correct)]


def _window(clip: ToyClip, t: float, half: float = 0.5) -> list[float]:
    return [round(max(0.0, t - half), 3), round(min(clip.duration, t + half), 3)]  # seconds


def make_questions(clip: ToyClip, target_id: str, rng: np.random.Generator, *, video_path: str = "",
                   mc: bool = True, oe: bool = True) -> list[Sample]:
    """Questions about one object of a clip, each task in MC and/or OE form (no visual prompt attached yet).

    Each item: (task, question, correct answer, wrong MC answers, OE answer, span). Tasks without a clear
    answer in this clip (e.g. direction after the object left) are skipped.
    """
    ob, T, dur, fps = clip.obj(target_id), clip.num_frames, clip.duration, clip.fps
    names = list(clip.config.colors)
    cc = clip.events_of(target_id, "color_change")
    ex = clip.events_of(target_id, "exit")
    bounces = clip.events_of(target_id, "bounce")
    hits = clip.events_of(target_id, "collision")
    end = ex[0].time if ex else dur  # seconds the object is around
    items = []

    if cc:  # attribute: what colour does it become / what colour is it at the end
        items.append(("attribute", "What colour does the marked object turn into?", cc[0].value,
                      [c for c in names if c != cc[0].value], cc[0].value, _window(clip, cc[0].time)))
    else:
        last = ex[0].frame - 1 if ex else T - 1
        when = "just before it leaves the frame" if ex else "at the end of the video"
        items.append(("attribute", f"What colour is the marked object {when}?", ob.colors[last],
                      [c for c in names if c != ob.colors[last]], ob.colors[last], _window(clip, last / fps)))

    bins = _time_bins(dur)  # temporal: when does its main event happen
    timed = [(e, q) for e, q in [(cc[0] if cc else None, "change colour"), (ex[0] if ex else None, "leave the frame"),
                                 (bounces[0] if bounces else None, "first bounce off an edge of the frame")] if e]
    for e, what in timed:
        if np.abs(bins - e.time).min() < 0.2:
            continue  # too close to an option boundary to be fair
        ranges = [f"between {a:.1f} s and {b:.1f} s" for a, b in zip(bins[:-1], bins[1:])]
        k = min(int(np.searchsorted(bins, e.time, side="right")) - 1, 3)
        items.append(("temporal", f"When does the marked object {what}?", ranges[k],
                      ranges[:k] + ranges[k + 1:], f"at about {e.time:.1f} s", _window(clip, e.time)))
        break

    late_bounce = any(b.time > dur - 0.5 for b in bounces)
    if not ex and clip.masks[target_id][-1].any() and not late_bounce:  # direction at the end
        vx, vy = ob.velocities[-1]
        if max(abs(vx), abs(vy)) >= 1.2 * min(abs(vx), abs(vy)):
            d = ("right" if vx > 0 else "left") if abs(vx) > abs(vy) else ("down" if vy > 0 else "up")
            items.append(("direction", "In which direction is the marked object moving at the end of the video?",
                          d, [x for x in ("left", "right", "up", "down") if x != d], d, [max(0.0, dur - 1.0), dur]))

    edge_opts = {e: f"through the {e} edge" for e in EDGES}
    if ex:
        f0 = ex[0].frame  # start of the final run of frames touching the exit edge
        while f0 > 0 and _touches(clip.masks[target_id][f0 - 1], ex[0].value):
            f0 -= 1
        right = edge_opts[ex[0].value]
        items.append(("exit", "Does the marked object leave the frame? If so, through which edge?", right,
                      ["it stays in the frame"] + [v for v in edge_opts.values() if v != right],
                      f"yes, {right}", [round(f0 / fps, 3), round(ex[0].time, 3)]))
    else:
        items.append(("exit", "Does the marked object leave the frame? If so, through which edge?",
                      "it stays in the frame", list(edge_opts.values()), "no, it stays in the frame", [0.0, dur]))

    nb = len(bounces)
    lo = max(0, nb - int(rng.integers(4)))  # 4 consecutive counts, the truth at a random rank
    near = [x for x in range(lo, lo + 4) if x != nb]
    items.append(("counting", "How many times does the marked object bounce off the edges of the frame?",
                  str(nb), [str(x) for x in near], str(nb), [0.0, round(end, 3)]))

    def desc(o: ToyObject) -> str:
        return f"the other {o.look()}" if o.look() == ob.look(0) else f"the {o.look()}"

    first = [h for h in hits if h.frame == hits[0].frame] if hits else []
    if len(first) <= 1:  # skip ties: two objects touched at once
        right = desc(clip.obj(first[0].value)) if first else "none of them"
        others = [desc(o) for o in clip.objects if o.id != target_id] + ["none of them"]
        wrong = [w for w in others if w != right]
        wrong += [f"the {c} {sh}" for sh in SHAPES for c in names
                  if f"the {c} {sh}" not in others and f"{c} {sh}" != ob.look(0)][: max(0, 3 - len(wrong))]
        items.append(("interaction", "Which object does the marked object touch first?", right, wrong,
                      right if first else "it touches no other object",
                      _window(clip, first[0].time) if first else [0.0, round(end, 3)]))

    samples = []
    for task, question, right, wrong, oe_answer, span in items:
        for form in ("mc",) * mc + ("oe",) * oe:
            opts, answer = _mc(rng, right, wrong) if form == "mc" else (None, oe_answer)
            samples.append(Sample(
                id=f"toy{clip.seed}-{target_id}-{task}-{form}", video_path=video_path, question=question,
                answer=answer, options=opts, span=span, task=task, dimension=_DIMENSIONS.get(task),
                provenance={"source": "toyworld", "seed": clip.seed}, extra={"object_id": target_id, "form": form}))
    masklet = to_masklet(clip, target_id)
    for s in samples:
        s.masklet = replace(masklet, boxes=list(masklet.boxes), rles=list(masklet.rles))
    return samples


def _touches(mask: np.ndarray, edge: str) -> bool:
    """Whether a (H, W) mask has pixels on the given image edge."""
    return bool({"left": mask[:, 0], "right": mask[:, -1], "top": mask[0], "bottom": mask[-1]}[edge].any())


# ----------------------------------------------------------------------------- visual prompts and the dataset

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


def _write_video(frames: np.ndarray, path: Path, fps: float) -> Path:
    """mp4 via seekerlite.video when present, else OpenCV's mp4v directly."""
    try:
        from seekerlite.video import write_video
    except ImportError:
        vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames.shape[2], frames.shape[1]))
        for fr in frames:
            vw.write(cv2.cvtColor(fr, cv2.COLOR_RGB2BGR))
        vw.release()
        return Path(path)
    return write_video(frames, path, fps)


def generate_dataset(out_dir: str | Path, n_clips: int = 8, seed: int = 0, config: ToyWorldConfig | None = None,
                     mc: bool = True, oe: bool = True) -> Path:
    """Write toy clips, their marked frames and questions; return the JSONL path.

    Layout: out_dir/videos/clip_XXXX.mp4, out_dir/prompts/clip_XXXX_<task>_<type>.png, out_dir/samples.jsonl
    (paths inside relative to out_dir). Clip k uses seed `seed * 100_000 + k`; each task of a clip gets
    its own prompt type drawn from `config.prompt_types` / `prompt_weights`, shared by its MC and OE forms.
    """
    from tqdm import tqdm

    cfg = config or ToyWorldConfig()
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "prompts").mkdir(parents=True, exist_ok=True)
    weights = None if cfg.prompt_weights is None else np.asarray(cfg.prompt_weights, float) / sum(cfg.prompt_weights)
    samples: list[Sample] = []
    for k in tqdm(range(n_clips), desc="toy clips", unit="clip"):
        clip = generate_clip(cfg, seed * 100_000 + k)
        rng = np.random.default_rng([seed, k])
        video = f"videos/clip_{k:04d}.mp4"
        _write_video(clip.frames, out / video, clip.fps)
        qs = make_questions(clip, clip.target_id, rng, video_path=video, mc=mc, oe=oe)
        by_task: dict[str, tuple[VisualPrompt, str]] = {}
        for s in qs:
            if s.task not in by_task:
                ptype = str(rng.choice(cfg.prompt_types, p=weights))
                img, vp, phrase = render_prompt(clip, clip.target_id, ptype, seed=int(rng.integers(2**31)))
                vp.image_path = f"prompts/clip_{k:04d}_{s.task}_{ptype}.png"
                cv2.imwrite(str(out / vp.image_path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                by_task[s.task] = (vp, phrase)
            vp, phrase = by_task[s.task]
            s.visual_prompt = replace(vp)
            s.question = f"The marked object is {phrase}. {s.question}"
            s.provenance["clip"] = k
            s.extra["prompt_phrase"] = phrase
        samples.extend(qs)
    return save_jsonl(samples, out / "samples.jsonl")
