"""Policies and the episode loop.

    traj = run_episode(OraclePolicy(), sample, base_dir="sample_data/annotations")

The loop has TRL's GRPO semantics, so an evaluation transcript and a training rollout mean the same thing:
the policy replies; every tool call in the reply runs and its result comes back as a ``tool`` message; a reply
with no tool call ends the episode, and its ``<answer>`` (if any) is the episode's answer.

Policies: ``OraclePolicy`` (uses the sample's ground truth: span and box), ``RandomPolicy`` (a seeded baseline),
``HFPolicy`` (any transformers VLM + processor, batched generation across episodes).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from tqdm.auto import tqdm

from seekerlite.env import EnvConfig, VideoSeekerEnv, opening_messages, tool_methods
from seekerlite.protocol import (
    TOOL_CALL_OPEN, ParsedReply, assistant_text, normalize_choice, parse_generated, parse_reply, render_tool_call,
)
from seekerlite.schema import OPTION_LETTERS, Sample
from seekerlite.trajectory import Trajectory, TurnMeta


@dataclass
class PolicyReply:
    """One assistant reply: its text and, when a model produced it, token counts and the parse."""

    text: str
    parsed: ParsedReply | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Policy(Protocol):
    name: str

    def act(self, messages: list[dict[str, Any]], env: VideoSeekerEnv) -> PolicyReply: ...


@dataclass
class EpisodeConfig:
    """How an episode runs."""

    env: EnvConfig = field(default_factory=EnvConfig)  # tool budgets and frame sizes
    max_turns: int = 6  # assistant turns (tool rounds + the final answer)
    system_prompt: bool = True  # start with seekerlite's system prompt


def normalize_text(s: str) -> str:
    """Lowercase, drop punctuation and articles: how OE answers are compared by default.

    >>> normalize_text("The  Red circle.")
    'red circle'
    """
    s = re.sub(r"[^\w\s.]", " ", s.lower()).replace(".", " ")
    return " ".join(w for w in s.split() if w not in {"a", "an", "the"})


def answer_is_correct(sample: Sample, answer: str | None) -> bool:
    """MC: the normalized letter equals the key. OE: normalized exact match (the GRPO issue adds softer judges)."""
    if answer is None:
        return False
    if sample.is_mc:
        return normalize_choice(answer, sample.options) == sample.answer
    return normalize_text(answer) == normalize_text(sample.answer)


# ---------------------------------------------------------------------------------------------- loop

def _assistant_message(reply: PolicyReply, parsed: ParsedReply) -> dict[str, Any]:
    if not parsed.tool_calls:
        return {"role": "assistant", "content": reply.text}
    content = reply.text.split(TOOL_CALL_OPEN)[0].rstrip()
    calls = [{"type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in parsed.tool_calls]
    return {"role": "assistant", "content": content, "tool_calls": calls}


def _run_tool(env: VideoSeekerEnv, name: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
    tools = {t.__name__: t for t in tool_methods(env)}
    if name not in tools:
        return [{"type": "text", "text": f"Error: unknown tool {name!r}; the tools are {sorted(tools)}"}]
    try:
        return tools[name](**arguments)
    except TypeError as e:  # wrong/missing keyword arguments
        return [{"type": "text", "text": f"Error: bad arguments for {name}: {e}"}]


class _Episode:
    """The state of one running episode (so several can advance in lockstep under a batched policy)."""

    def __init__(self, policy_name: str, sample: Sample, env: VideoSeekerEnv, cfg: EpisodeConfig, base_dir: Any):
        env.reset(sample=sample, base_dir=base_dir)
        self.sample, self.env, self.cfg, self.policy_name = sample, env, cfg, policy_name
        self.messages = opening_messages(env, system=cfg.system_prompt)
        self.turns: list[TurnMeta] = []
        self.finish: str | None = None
        self.answer: str | None = None

    def step(self, reply: PolicyReply) -> None:
        parsed = reply.parsed or parse_reply(reply.text)
        self.messages.append(_assistant_message(reply, parsed))
        meta = TurnMeta(len(self.turns), reply.text, [{"name": c.name, "arguments": c.arguments} for c in parsed.tool_calls],
                        list(parsed.errors), prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens)
        for call in parsed.tool_calls:
            before = self.env.frames_used
            result = _run_tool(self.env, call.name, call.arguments)
            self.messages.append({"role": "tool", "name": call.name, "content": result})
            meta.frames_returned += self.env.frames_used - before
            if result and result[0].get("type") == "text" and result[0]["text"].startswith("Error:"):
                meta.tool_errors.append(result[0]["text"])
        self.turns.append(meta)
        if not parsed.tool_calls:
            self.answer = parsed.answer
            self.finish = "answer" if parsed.answer is not None else "no_action"
        elif len(self.turns) >= self.cfg.max_turns:
            self.finish = "max_turns"

    def trajectory(self) -> Trajectory:
        correct = answer_is_correct(self.sample, self.answer)
        return Trajectory(self.sample.id, self.messages, self.turns, self.env.log, self.answer, correct,
                          self.finish or "max_turns", self.policy_name)


def run_episode(policy: Policy, sample: Sample, config: EpisodeConfig | None = None, *,
                env: VideoSeekerEnv | None = None, base_dir: Any = None) -> Trajectory:
    """Play one episode of `policy` on `sample` and return its trajectory."""
    cfg = config or EpisodeConfig()
    ep = _Episode(getattr(policy, "name", type(policy).__name__), sample, env or VideoSeekerEnv(cfg.env), cfg, base_dir)
    while ep.finish is None:
        ep.step(policy.act(ep.messages, ep.env))
    return ep.trajectory()


def run_episodes(policy: Policy, samples: list[Sample], config: EpisodeConfig | None = None, *, base_dir: Any = None,
                 batch_size: int = 4, progress: bool = True) -> list[Trajectory]:
    """Play many episodes; a policy with ``act_batch`` advances `batch_size` episodes in lockstep."""
    cfg = config or EpisodeConfig()
    name = getattr(policy, "name", type(policy).__name__)
    out: list[Trajectory] = []
    bar = tqdm(total=len(samples), desc=f"episodes ({name})", disable=not progress)
    batched = hasattr(policy, "act_batch")
    step = batch_size if batched else 1
    for i in range(0, len(samples), step):
        eps = [_Episode(name, s, VideoSeekerEnv(cfg.env), cfg, base_dir) for s in samples[i:i + step]]
        while live := [e for e in eps if e.finish is None]:
            replies = policy.act_batch([e.messages for e in live], [e.env for e in live]) if batched else \
                [policy.act(live[0].messages, live[0].env)]
            for e, r in zip(live, replies):
                e.step(r)
        out += [e.trajectory() for e in eps]
        bar.update(len(eps))
    bar.close()
    return out


# ---------------------------------------------------------------------------------------------- policies

def _n_assistant(messages: list[dict[str, Any]]) -> int:
    return sum(m["role"] == "assistant" for m in messages)


def _to_1000(box: list[float], width: int, height: int, grow: float = 0.5) -> list[int]:
    """Pixel box -> 0-1000 region, grown by `grow` of its size on each side, clipped to the frame."""
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
        view_first = rng.random() < self.p_view_prompt
        turn = _n_assistant(messages)
        if view_first and turn == 0:
            return PolicyReply(f"<think>Let me look at the marked {s.masklet.label if s.masklet and s.masklet.label else 'instance'} "
                               f"again before searching the video.</think>\n" + render_tool_call("view_visual_prompt", {}))
        if turn == (1 if view_first else 0):
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
                args["region"] = _to_1000(box, info.width, info.height, grow=0.25)
            where = " and zoom on the marked instance" if box is not None else ""
            return PolicyReply(f"<think>The question is about {s.task}. I will look at {args['start_time']:.1f}-"
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
        if r.random() < self.p_answer or _n_assistant(messages) >= 4:
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


def processor_call_kwargs(processor: Any, **kwargs: Any) -> dict[str, Any]:
    """Options for the processor's own call inside `apply_chat_template`: newer transformers (>= 5.2x) want them
    in `processor_kwargs` (and warn otherwise), older ones (5.17, what unsloth pins) take them as keywords."""
    import inspect

    if "processor_kwargs" in inspect.signature(processor.apply_chat_template).parameters:
        return {"processor_kwargs": kwargs}
    return kwargs


class HFPolicy:
    """Any transformers VLM with a chat template that knows tools (Qwen3-VL, the embedded tiny model)."""

    def __init__(self, model: Any, processor: Any, *, max_new_tokens: int = 128, do_sample: bool = False,
                 temperature: float = 1.0, name: str = "hf") -> None:
        self.model, self.processor, self.name = model, processor, name
        self.gen_kwargs = dict(max_new_tokens=max_new_tokens, do_sample=do_sample)
        if do_sample:
            self.gen_kwargs["temperature"] = temperature

    def act(self, messages: list[dict[str, Any]], env: VideoSeekerEnv) -> PolicyReply:
        return self.act_batch([messages], [env])[0]

    def act_batch(self, batch: list[list[dict[str, Any]]], envs: list[VideoSeekerEnv]) -> list[PolicyReply]:
        import torch

        tok = self.processor.tokenizer
        tok.padding_side = "left"
        inputs = self.processor.apply_chat_template(
            batch, tools=tool_methods(envs[0]), add_generation_prompt=True, tokenize=True, return_dict=True,
            return_tensors="pt", **processor_call_kwargs(self.processor, padding=True))
        inputs = inputs.to(self.model.device)
        with torch.no_grad():
            out = self.model.generate(**inputs, **self.gen_kwargs, pad_token_id=tok.pad_token_id)
        width = inputs["input_ids"].shape[1]
        replies = []
        for row, mask, gen in zip(inputs["input_ids"], inputs["attention_mask"], out[:, width:]):
            prompt_ids = row[mask.bool()].tolist()
            ids = gen.tolist()
            ends = [i for i, t in enumerate(ids) if t in (tok.eos_token_id, tok.pad_token_id)]
            ids = ids[: ends[0]] if ends else ids
            parsed = parse_generated(tok, ids, prompt_ids)
            replies.append(PolicyReply(parsed.text, parsed, len(prompt_ids), len(ids)))
        return replies


def trajectory_text(traj: Trajectory) -> str:
    """The assistant side of a trajectory as the raw text the model emitted, turn by turn."""
    return "\n---\n".join(assistant_text(m) for m in traj.messages if m["role"] == "assistant")
