"""Scripted policies: the oracle (uses the ground truth; the SFT teacher and the ceiling), a seeded random tool
user, and a noisy oracle with a known pass rate (for RL curation without a model).

    traj = run_episode(OraclePolicy(seed=0), sample, EnvConfig(), base_dir=base)
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

from seekerlite.env import VideoSeekerEnv
from seekerlite.grammar import ANSWER_OPEN, answer_reply, render_tool_call
from seekerlite.policies.loop import PolicyReply, n_assistant
from seekerlite.regions import CELL_NAMES, box_inside, cell_box, cell_argument, cell_holding, cell_of_box, parse_cell, to_pixels
from seekerlite.schema import OPTION_LETTERS, stable_seed


def to_1000(box: list[float], width: int, height: int, grow: float = 0.5) -> list[int]:
    """Pixel box -> 0-1000 region, grown by `grow` of its size on each side, clipped to the frame.

    >>> to_1000([100, 100, 200, 200], 1000, 1000, grow=0.0)
    [100, 100, 200, 200]
    """
    w, h = box[2] - box[0], box[3] - box[1]
    x0, y0 = max(0.0, box[0] - grow * w), max(0.0, box[1] - grow * h)
    x1, y1 = min(float(width), box[2] + grow * w), min(float(height), box[3] + grow * h)
    return [int(x0 / width * 1000), int(y0 / height * 1000), int(round(x1 / width * 1000)), int(round(y1 / height * 1000))]


ZOOM_TASKS = ("attribute", "recolor", "contact", "interaction")  # tasks whose answer is in the instance's own pixels


def _sample_frames(env: VideoSeekerEnv, t0: float, t1: float) -> list[int]:
    """The frame indices crop_video(t0, t1) returns (the env's own sampling rule)."""
    cfg, reader = env.config, env.reader
    lo = min(cfg.min_frames_per_call, cfg.frames_per_call)
    want = int(min(max(round((t1 - t0) * cfg.sample_fps), lo), cfg.frames_per_call))
    return reader.sample_indices(min(want, cfg.max_total_frames), t0, min(t1, reader.info.duration))


def mark_cell(sample: Any, env: VideoSeekerEnv) -> str | None:
    """The grid cell of the mark on the visual-prompt frame (the cell of its box's centre, as the pretraining's
    ``cell`` task answers it), or None when the sample has no box there."""
    vp = sample.visual_prompt
    if vp is None or vp.box is None:
        return None
    return cell_of_box(vp.box, env.video_info.width, env.video_info.height)


def zoom_plan(sample: Any, env: VideoSeekerEnv, window: float = 1.0, step: float = 1.0, prefer: str | None = None
              ) -> tuple[float, float, str] | None:
    """(t0, t1, cell) of the crop that best shows the instance (and ``evidence["with"]``, the object it touches)
    inside the sample's span: a `window`-second crop starting on a `step`-second grid (a few round times a small
    student can learn to write), whose grid cell holds the most of their boxes on the frames crop_video would
    return; among crops that hold as many, one in the cell `prefer` (the mark's: what a student can read off the
    marked frame) wins when that cell holds 90 % of their boxes. None without a masklet or a visible frame in the span."""
    info, m = env.video_info, sample.masklet
    if m is None:
        return None
    others = {int(f): b for f, b in ((sample.extra.get("evidence") or {}).get("with_boxes") or {}).items()}
    a, b = sample.span if sample.span else (0.0, info.duration)
    b = min(max(b, a + 0.2), info.duration)
    first = math.floor(a / step + 1e-6) * step
    best: tuple[tuple[int, bool, float], float, float, str] | None = None
    for k in range(int(max(0.0, (b - first) - window) / step + 1e-6) + 1):
        t1 = round(min(info.duration, first + step * k + window), 1)
        t0 = round(max(0.0, t1 - window), 1)
        if t1 <= t0:
            continue
        boxes = []
        for f in _sample_frames(env, t0, t1):
            tb = m.box_at(f)
            if tb is not None and (not others or f in others):
                boxes.append(tb if not others else [min(tb[0], others[f][0]), min(tb[1], others[f][1]),
                                                    max(tb[2], others[f][2]), max(tb[3], others[f][3])])
        if not boxes:
            continue
        union = [min(x[0] for x in boxes), min(x[1] for x in boxes), max(x[2] for x in boxes), max(x[3] for x in boxes)]
        for cell in {cell_holding(union, info.width, info.height), *([prefer] if prefer else [])}:
            px = to_pixels(cell_box(cell), info.width, info.height)
            inside = [box_inside(x, px) for x in boxes]
            mean = sum(inside) / len(inside)
            score = (sum(v >= 0.5 for v in inside), cell == prefer and mean >= 0.9, mean)
            if best is None or score > best[0]:
                best = (score, t0, t1, cell)
    return None if best is None else (best[1], best[2], best[3])


def look_think(mark: str | None, region: Any) -> str:
    """The oracle's think before its crop: where the mark is, then where it looks when that is another cell - the
    reasoning a student can copy (the pretrained base reads the mark's cell; the region repeats the last cell named).

    >>> look_think("top left", "top left"), look_think("top left", "top")
    ('The marked object is in the top left cell. I will look closer there.', 'The marked object is in the top left cell. It moves; I will look closer in the top cell.')
    """
    region = parse_cell(region) if isinstance(region, str) else None
    if mark is None or region is None:
        return "I will look closer."
    head = f"The marked object is in the {mark} cell."
    return f"{head} I will look closer there." if region == mark else f"{head} It moves; I will look closer in the {region} cell."


class OraclePolicy:
    """Uses the ground truth: looks at the sample's span - zoomed on the instance's grid cell (``regions``) when the
    task is about its appearance - optionally re-views the marked frame first, then answers correctly. Its
    trajectories are the default SFT cold-start data.

    `region`: "cell" (default) names the grid cell holding the instance in a 1 s crop (``zoom_plan``); "box" asks
    for the union of its boxes over a `zoom_window`-second crop, grown by 25 % (the older behaviour)."""

    name = "oracle"
    ZOOM_TASKS = ZOOM_TASKS

    def __init__(self, seed: int = 0, p_view_prompt: float = 0.3, zoom_window: float = 3.0, region: str = "cell") -> None:
        if region not in ("cell", "box"):
            raise ValueError(f"OraclePolicy region must be 'cell' or 'box', got {region!r}")
        self.seed, self.p_view_prompt, self.region = seed, p_view_prompt, region
        self.zoom_window = zoom_window  # seconds looked at when zooming on the instance with a box

    def act(self, messages: list[dict[str, Any]], env: VideoSeekerEnv) -> PolicyReply:
        s = env.sample
        rng = random.Random(f"{self.seed}:{s.id}")
        view_first = rng.random() < self.p_view_prompt and env.config.max_tool_rounds >= 2
        turn = n_assistant(messages)
        if view_first and turn == 0:
            return PolicyReply(f"<think>Let me look at the marked {s.masklet.label if s.masklet and s.masklet.label else 'instance'} "
                               f"again before searching the video.</think>\n" + render_tool_call("view_visual_prompt", {}))
        if turn == (1 if view_first else 0) and env.config.max_tool_rounds >= 1:
            args = self._crop_args(s, env)
            return PolicyReply(f"<think>{look_think(mark_cell(s, env), args.get('region'))}</think>\n"
                               + render_tool_call("crop_video", args))
        return PolicyReply(answer_reply(s.answer, s.answer_text))

    def _crop_args(self, s: Any, env: VideoSeekerEnv) -> dict[str, Any]:
        info = env.video_info
        t0, t1 = s.span if s.span else (0.0, info.duration)
        t1 = min(max(t1, t0 + 1.0), info.duration)
        t0 = max(0.0, min(t0, t1 - 1.0))
        zoom = s.masklet is not None and s.task in self.ZOOM_TASKS
        if zoom and self.region == "cell" and (plan := zoom_plan(s, env, prefer=mark_cell(s, env))) is not None:
            return {"start_time": plan[0], "end_time": plan[1], "region": cell_argument(plan[2])}
        box = None
        if zoom:  # a box: a short window at the middle of the span, region = union of the instance's boxes there
            mid = (t0 + t1) / 2
            t0, t1 = max(t0, mid - self.zoom_window / 2), min(t1, mid + self.zoom_window / 2)
            boxes = [s.masklet.box_at(f) for f in s.masklet.visible_frames() if t0 * info.fps <= f < t1 * info.fps]
            if boxes:
                box = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
        if not zoom:  # whole seconds: a few round times a small student can learn to write
            t0, t1 = float(math.floor(t0 + 1e-6)), min(float(math.ceil(t1 - 1e-6)), info.duration)
        args: dict[str, Any] = {"start_time": round(t0, 1), "end_time": round(t1, 1)}
        if box is not None:
            args["region"] = to_1000(box, info.width, info.height, grow=0.25)
        return args


class OracleLookPolicy:
    """The oracle's tool calls, then `answerer`'s final reply: the answerer's perception *given* the right crops.

    A diagnostic (``oracle-look:SPEC``): the gap between a student's accuracy here and with its own looks is what
    its choice of where and when to look costs; the gap to its no-tool accuracy is what a good look can buy."""

    def __init__(self, answerer: Any, seed: int = 0) -> None:
        self.answerer = answerer
        self.oracle = OraclePolicy(seed=seed, p_view_prompt=0.0)
        self.name = f"oracle-look:{getattr(answerer, 'name', type(answerer).__name__)}"

    def _looking(self, messages: list[dict[str, Any]], env: VideoSeekerEnv) -> bool:
        return n_assistant(messages) == 0 and env.config.max_tool_rounds >= 1

    def act(self, messages: list[dict[str, Any]], env: VideoSeekerEnv) -> PolicyReply:
        return self.act_batch([messages], [env])[0]

    def act_batch(self, batch: list[list[dict[str, Any]]], envs: list[VideoSeekerEnv]) -> list[PolicyReply]:
        out: list[PolicyReply | None] = [self.oracle.act(m, e) if self._looking(m, e) else None
                                         for m, e in zip(batch, envs)]
        rest = [i for i, r in enumerate(out) if r is None]
        if rest:
            many = getattr(self.answerer, "act_batch", None)
            got = many([batch[i] for i in rest], [envs[i] for i in rest]) if many else \
                [self.answerer.act(batch[i], envs[i]) for i in rest]
            for i, r in zip(rest, got):
                out[i] = r
        return [r for r in out if r is not None]


class RandomPolicy:
    """A seeded baseline: random tool calls (sometimes invalid), then a random answer."""

    name = "random"

    def __init__(self, seed: int = 0, p_answer: float = 0.4) -> None:
        self.rng = random.Random(seed)
        self.p_answer = p_answer

    def act(self, messages: list[dict[str, Any]], env: VideoSeekerEnv) -> PolicyReply:
        r, s, dur = self.rng, env.sample, env.video_info.duration
        if r.random() < self.p_answer or n_assistant(messages) >= env.config.max_tool_rounds:
            ans = r.choice(OPTION_LETTERS[: len(s.options)]) if s.is_mc else r.choice(["red", "left", "yes", "2"])
            return PolicyReply(f"<think>I will guess.</think><answer>{ans}</answer>")
        if r.random() < 0.3:
            return PolicyReply("<think>Look again.</think>\n" + render_tool_call("view_visual_prompt", {}))
        t0 = round(r.uniform(-1.0, dur), 1)
        args: dict[str, Any] = {"start_time": t0, "end_time": round(t0 + r.uniform(-1.0, dur / 2), 1)}
        if r.random() < 0.5:
            x, y = r.randint(0, 900), r.randint(0, 900)
            args["region"] = [x, y, x + r.randint(-50, 400), y + r.randint(-50, 400)]
        return PolicyReply("<think>Let me look.</think>\n" + render_tool_call("crop_video", args))


class NoisyOraclePolicy:
    """The oracle's tool calls, then the right answer with probability `p_correct` and a wrong one otherwise.

    Honest about what it is: a policy with a *known* pass rate, for exercising RL curation without a model.
    """

    def __init__(self, p_correct: float = 0.5, seed: int = 0) -> None:
        if not 0.0 <= p_correct <= 1.0:
            raise ValueError(f"p_correct must be in [0, 1], got {p_correct}")
        self.p_correct, self.seed = p_correct, seed
        self.oracle = OraclePolicy(seed=seed)
        self.name = f"noisy-oracle:{p_correct:g}"

    def act(self, messages: list[dict[str, Any]], env: Any) -> PolicyReply:
        reply = self.oracle.act(messages, env)
        if ANSWER_OPEN not in reply.text:
            return reply  # a tool call: the oracle's own
        s = env.sample
        rng = random.Random(stable_seed(self.seed, s.id, "answer"))
        if rng.random() < self.p_correct:
            return reply
        wrong = rng.choice([c for c in OPTION_LETTERS[: len(s.options)] if c != s.answer]) if s.is_mc else "I cannot tell"
        return PolicyReply(f"<think>I am not sure what I saw.</think><answer>{wrong}</answer>")


# ----------------------------------------------------------------------------- what a crop shows: the evidence observer
EVIDENCE = {"attribute": "zoom", "interaction": "zoom", "temporal": "track", "direction": "track", "exit": "track",
            "counting": "dense"}  # the default families' evidence; TOOL_TASKS carry theirs in extra["evidence"]
ZOOM_MAX_AREA = 0.3  # a region covering more of the frame than this magnifies too little to count as a zoom


def episode_views(env: VideoSeekerEnv) -> list[tuple[int, list[int] | None, str]]:
    """(frame index, region in pixels or None, kind) of every image the episode showed: the marked frame
    ("marked"), the overview ("overview") and each frame crop_video returned ("crop")."""
    s, cfg, reader = env.sample, env.config, env.reader
    views: list[tuple[int, list[int] | None, str]] = []
    if s.visual_prompt is not None and s.visual_prompt.frame_index is not None:
        views.append((s.visual_prompt.frame_index, None, "marked"))
    if cfg.overview_frames:
        views += [(f, None, "overview") for f in reader.sample_indices(cfg.overview_frames)]
    for r in env.log:
        if r.ok and r.name == "crop_video":
            views += [(f, r.region_px, "crop") for f in r.frame_indices]
    return views


def has_evidence(env: VideoSeekerEnv) -> bool:
    """Whether the episode so far showed what the sample's answer needs (an ideal reader of what was shown).

    "zoom": one crop frame inside the span whose region (at most ``ZOOM_MAX_AREA`` of the frame) holds at least half
    of the instance's box - and of the touched object's, when the evidence names one (``attribute``: in the later
    half of its span, after the change it is centred on). "track": two views of the instance inside the span (a
    region, if any, holding half its box). "dense": views of it no more than 0.5 s apart over the whole span.
    Overview frames are low-res views of a scene with a look-alike: they count for tracking, never as a zoom.
    """
    s, info = env.sample, env.video_info
    if s.masklet is None:
        return False
    ev = s.extra.get("evidence") or {}
    look = ev.get("look") or EVIDENCE.get(s.task, "zoom")
    others = {int(f): b for f, b in (ev.get("with_boxes") or {}).items()}
    a, b = s.span if s.span else (0.0, info.duration)
    if s.task == "attribute" and not ev:
        a = (a + b) / 2
    lo, hi = int(np.ceil(a * info.fps - 1e-6)), int(np.floor(b * info.fps + 1e-6))
    area = info.width * info.height
    times = set()
    for f, region, kind in episode_views(env):
        box = s.masklet.box_at(f)
        if box is None or not lo <= f <= hi:
            continue
        inside = region is None or box_inside(box, region) >= 0.5
        if look == "zoom":
            small = region is not None and (region[2] - region[0]) * (region[3] - region[1]) <= ZOOM_MAX_AREA * area
            with_ok = not others or (f in others and (region is None or box_inside(others[f], region) >= 0.5))
            if kind == "crop" and small and inside and with_ok:
                return True
        elif inside:
            times.add(f / info.fps)
    if look == "track":
        return len(times) >= 2
    if look == "dense":
        pts = sorted(times)
        return bool(pts) and max(np.diff([a] + pts + [b])) <= 0.5 + 1e-6
    return False


class EvidencePolicy:
    """Another policy's tool calls, then an answer limited to what the episode showed: the right one when
    ``has_evidence``, else a seeded uniform guess among the options (OE: "I cannot tell"). Cheap, no model: it
    measures what a toy world's questions need (benchmarks/tool_value.py)."""

    def __init__(self, chooser: Any, seed: int = 0) -> None:
        self.chooser, self.seed = chooser, seed
        self.name = f"evidence:{getattr(chooser, 'name', type(chooser).__name__)}"

    def act(self, messages: list[dict[str, Any]], env: VideoSeekerEnv) -> PolicyReply:
        reply = self.chooser.act(messages, env)
        if ANSWER_OPEN not in reply.text:
            return reply
        s = env.sample
        if has_evidence(env):
            return PolicyReply(f"<think>I saw it.</think><answer>{s.answer}</answer>")
        rng = random.Random(stable_seed(self.seed, s.id, "guess"))
        guess = rng.choice(OPTION_LETTERS[: len(s.options)]) if s.is_mc else "I cannot tell"
        return PolicyReply(f"<think>I did not see it; I guess.</think><answer>{guess}</answer>")


class RandomLookPolicy:
    """Valid but uninformed looks: `n_calls` crops of a `window`-second window at a random time, cut to a random
    grid cell, then an (oracle) answer: the baseline an `EvidencePolicy` turns into "tools without knowing where"."""

    name = "random-look"

    def __init__(self, seed: int = 0, n_calls: int = 1, window: float = 1.0) -> None:
        self.seed, self.n_calls, self.window = seed, n_calls, window

    def act(self, messages: list[dict[str, Any]], env: VideoSeekerEnv) -> PolicyReply:
        s, dur = env.sample, env.video_info.duration
        turn = n_assistant(messages)
        if turn < min(self.n_calls, env.config.max_tool_rounds):
            rng = random.Random(stable_seed(self.seed, s.id, turn))
            t0 = round(rng.uniform(0.0, max(0.0, dur - self.window)), 1)
            args = {"start_time": t0, "end_time": round(min(dur, t0 + self.window), 1), "region": rng.choice(CELL_NAMES)}
            return PolicyReply("<think>Let me look somewhere.</think>\n" + render_tool_call("crop_video", args))
        return PolicyReply(f"<think>Done.</think><answer>{s.answer}</answer>")
