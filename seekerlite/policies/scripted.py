"""Scripted policies: the oracle (uses the ground truth; the SFT teacher and the ceiling), a seeded random tool
user, and a noisy oracle with a known pass rate (for RL curation without a model).

    traj = run_episode(OraclePolicy(seed=0), sample, EnvConfig(), base_dir=base)
"""

from __future__ import annotations

import random
from typing import Any

from seekerlite.env import VideoSeekerEnv
from seekerlite.grammar import ANSWER_OPEN, render_tool_call
from seekerlite.policies.loop import PolicyReply, n_assistant
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


class OraclePolicy:
    """Uses the ground truth: looks at the sample's span (zoomed on the instance when the task is about its
    appearance), optionally re-views the marked frame first, then answers correctly. Its trajectories are
    the default SFT cold-start data."""

    name = "oracle"
    ZOOM_TASKS = ("attribute",)  # tasks whose answer is in the instance's own pixels

    def __init__(self, seed: int = 0, p_view_prompt: float = 0.3, zoom_window: float = 3.0) -> None:
        self.seed, self.p_view_prompt = seed, p_view_prompt
        self.zoom_window = zoom_window  # seconds looked at when zooming on the instance

    def act(self, messages: list[dict[str, Any]], env: VideoSeekerEnv) -> PolicyReply:
        s, info = env.sample, env.video_info
        rng = random.Random(f"{self.seed}:{s.id}")
        view_first = rng.random() < self.p_view_prompt and env.config.max_tool_rounds >= 2
        turn = n_assistant(messages)
        if view_first and turn == 0:
            return PolicyReply(f"<think>Let me look at the marked {s.masklet.label if s.masklet and s.masklet.label else 'instance'} "
                               f"again before searching the video.</think>\n" + render_tool_call("view_visual_prompt", {}))
        if turn == (1 if view_first else 0) and env.config.max_tool_rounds >= 1:
            t0, t1 = s.span if s.span else (0.0, info.duration)
            t1 = min(max(t1, t0 + 1.0), info.duration)
            t0 = max(0.0, min(t0, t1 - 1.0))
            box = None
            if s.masklet is not None and s.task in self.ZOOM_TASKS:
                # zoom: a short window at the middle of the span, region = union of the instance's boxes there
                mid = (t0 + t1) / 2
                t0, t1 = max(t0, mid - self.zoom_window / 2), min(t1, mid + self.zoom_window / 2)
                boxes = [s.masklet.box_at(f) for f in s.masklet.visible_frames() if t0 * info.fps <= f < t1 * info.fps]
                if boxes:
                    box = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
            args: dict[str, Any] = {"start_time": round(t0, 1), "end_time": round(t1, 1)}
            if box is not None:
                args["region"] = to_1000(box, info.width, info.height, grow=0.25)
            where = " and zoom on the marked instance" if box is not None else ""
            about = f"is about {s.task}" if s.task and s.task != "unknown" else "needs a closer look"
            return PolicyReply(f"<think>The question {about}. I will look at {args['start_time']:.1f}-"
                               f"{args['end_time']:.1f} seconds{where}.</think>\n" + render_tool_call("crop_video", args))
        return PolicyReply(f"<think>From the frames I saw: {s.answer_text}.</think>"
                           f"<answer>{s.answer}</answer>")


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
