"""SFT trajectory synthesis: a teacher plays each sample in the tool environment; only trajectories whose answer
is right and whose format is valid are kept, as a chat dataset TRL's SFTTrainer reads.

    for oc in synthesize_trajectories(samples, base_dir="runs/x", config=SynthConfig(teacher="oracle")):
        if oc.kept: save_chat_dataset([oc.record], "runs/x/sft", append=True)

Teachers (``SynthConfig.teacher``):
    "oracle"                      ``policies.OraclePolicy``: looks where the ground truth says, answers right
    "tiny" | a folder | a hub id  any transformers Qwen3-VL (``evaluate.make_policy``), greedy
    "http://host:8000/v1#model"   any OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp, OpenAI, ...):
                                  ``OpenAIPolicy``; the API key comes from $OPENAI_API_KEY when set

Reason codes: ``no_answer`` (the episode ended without one), ``wrong_answer``, ``bad_format`` (the reply grammar
``think (tool_call think)* answer`` is broken; ``train.rewards.format_problems`` says where), ``episode_error``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from seekerlite.pipeline.resume import Outcome, drop
from seekerlite.policies import EpisodeConfig, OraclePolicy, PolicyReply, run_episode
from seekerlite.protocol import THINK_CLOSE, THINK_OPEN, render_tool_call
from seekerlite.schema import Sample
from seekerlite.trajectory import Trajectory


@dataclass
class SynthConfig:
    """The teacher and what a kept trajectory must satisfy."""

    teacher: str = "oracle"  # "oracle" | "tiny" | a model folder / hub id | "http(s)://host/v1#model" (OpenAI-compatible)
    seed: int = 0  # the oracle's choices (whether it re-views the marked frame first)
    max_new_tokens: int = 256  # HF / endpoint teachers: tokens per reply
    temperature: float = 0.0  # endpoint teachers: sampling temperature
    require_correct: bool = True  # drop trajectories with a wrong answer
    require_format: bool = True  # drop trajectories that break the reply grammar
    judge: str = "rule"  # how OE answers are judged ("rule" | "local:<model>" | "<url>#<model>", see train.rewards)


# ---------------------------------------------------------------------------------------------- an endpoint teacher

def _image_url(image: Any) -> str:
    from PIL import Image

    img = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def to_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HF chat messages -> OpenAI chat messages: images become data URLs; tool calls get ids; a tool result's
    images (OpenAI tool messages hold text only) follow it in a user message."""
    out: list[dict[str, Any]] = []
    pending: list[str] = []  # ids of tool calls not answered yet
    n = 0
    for m in messages:
        parts = m["content"] if isinstance(m.get("content"), list) else [{"type": "text", "text": m.get("content") or ""}]
        conv = [{"type": "text", "text": p["text"]} if p.get("type") == "text" else
                {"type": "image_url", "image_url": {"url": _image_url(p["image"])}} for p in parts]
        if m["role"] == "assistant":
            msg: dict[str, Any] = {"role": "assistant", "content": "".join(p.get("text", "") for p in parts)}
            if m.get("tool_calls"):
                msg["tool_calls"] = []
                for c in m["tool_calls"]:
                    pending.append(f"call_{n}")
                    msg["tool_calls"].append({"id": f"call_{n}", "type": "function", "function": {
                        "name": c["function"]["name"], "arguments": json.dumps(c["function"]["arguments"])}})
                    n += 1
            out.append(msg)
        elif m["role"] == "tool":
            text = "\n".join(p["text"] for p in conv if p["type"] == "text")
            out.append({"role": "tool", "tool_call_id": pending.pop(0) if pending else f"call_{n}", "content": text})
            images = [p for p in conv if p["type"] == "image_url"]
            if images:
                out.append({"role": "user", "content": [{"type": "text", "text": f"(the frames {m.get('name', 'the tool')} returned)"}] + images})
        else:
            out.append({"role": m["role"], "content": conv})
    return out


class OpenAIPolicy:
    """A policy behind any OpenAI-compatible ``/chat/completions`` endpoint (it sees the tools' JSON schemas)."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, max_tokens: int = 512,
                 temperature: float = 0.0, timeout: float = 120.0) -> None:
        self.base_url, self.model, self.api_key = base_url.rstrip("/"), model, api_key
        self.max_tokens, self.temperature, self.timeout = max_tokens, temperature, timeout
        self.name = f"endpoint:{model}"

    def act(self, messages: list[dict[str, Any]], env: Any) -> PolicyReply:
        from seekerlite.env import tool_schemas

        body = {"model": self.model, "messages": to_openai_messages(messages), "tools": tool_schemas(),
                "max_tokens": self.max_tokens, "temperature": self.temperature}
        req = urllib.request.Request(self.base_url + "/chat/completions", data=json.dumps(body).encode(), headers={
            "Content-Type": "application/json", **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                msg = json.loads(resp.read())["choices"][0]["message"]
        except OSError as e:
            raise RuntimeError(f"teacher endpoint {self.base_url} failed: {e}") from e
        text = msg.get("content") or ""
        thinking = msg.get("reasoning_content") or msg.get("reasoning")
        if thinking and THINK_OPEN not in text:
            text = f"{THINK_OPEN}{thinking}{THINK_CLOSE}{text}"
        for c in msg.get("tool_calls") or []:
            args = c["function"].get("arguments") or "{}"
            text += ("\n" if text else "") + render_tool_call(c["function"]["name"], json.loads(args) if isinstance(args, str) else args)
        return PolicyReply(text)


def make_teacher(spec: str, seed: int = 0, max_new_tokens: int = 256, temperature: float = 0.0,
                 episode: EpisodeConfig | None = None) -> tuple[Any, EpisodeConfig]:
    """(policy, episode config) from a teacher spec (see the module docstring)."""
    episode = episode or EpisodeConfig()
    if spec == "oracle":
        return OraclePolicy(seed=seed), episode
    if spec.startswith(("http://", "https://")):
        url, _, model = spec.partition("#")
        if not model:
            raise ValueError(f"endpoint teacher {spec!r}: name the model after '#', e.g. http://localhost:8000/v1#Qwen/Qwen3-VL-8B-Instruct")
        return OpenAIPolicy(url, model, api_key=os.environ.get("OPENAI_API_KEY"), max_tokens=max_new_tokens,
                            temperature=temperature), episode
    from seekerlite.evaluate import make_policy

    return make_policy(spec, episode, seed=seed, max_new_tokens=max_new_tokens)


# ---------------------------------------------------------------------------------------------- the stage

def make_answer_checker(judge: str = "rule") -> Callable[[Sample, str | None], bool]:
    """``check(sample, answer) -> bool``: MC by option letter; OE by ``train.rewards.make_judge(judge)`` (a score
    >= 0.5 is right), or by normalized exact match when that module is not there."""
    from seekerlite.policies import answer_is_correct

    try:
        from seekerlite.train.rewards import make_judge

        oe_judge: Any = make_judge(judge)
    except ImportError:
        oe_judge = None

    def check(sample: Sample, answer: str | None) -> bool:
        if answer is None or sample.is_mc or oe_judge is None:
            return answer_is_correct(sample, answer)
        return float(oe_judge(answer, sample.answer, sample.question)) >= 0.5

    return check


def trajectory_problems(traj: Trajectory) -> list[str]:
    """Format problems of an episode's assistant side (empty when well formed)."""
    first_user = next(i for i, m in enumerate(traj.messages) if m["role"] == "user")
    completion = traj.messages[first_user + 1:]
    try:
        from seekerlite.train.rewards import format_problems
    except ImportError:  # the rewards module is not there: a minimal check
        from seekerlite.protocol import parse_reply

        last = [m for m in completion if m["role"] == "assistant"][-1:]
        text = last[0]["content"] if last and isinstance(last[0]["content"], str) else ""
        return [] if text.strip().startswith(THINK_OPEN) and parse_reply(text).answer is not None else ["final turn: no <think> + <answer>"]
    return format_problems(completion)


def synthesize_trajectories(samples: Iterable[Sample], base_dir: Any = None, config: SynthConfig | None = None, *,
                            skip: Iterable[str] = (), teacher: Any = None,
                            episode: EpisodeConfig | None = None) -> Iterator[Outcome]:
    """SFT synthesis over an iterable of samples: one teacher episode each; an Outcome keeps the Trajectory.

    Args:
        samples: the records to play; relative paths resolve against `base_dir`.
        config: the teacher spec and the keep rules.
        skip: ids already done.
        teacher: a policy object (overrides ``config.teacher``).
        episode: budgets of the environment and the turn limit.
    """
    cfg = config or SynthConfig()
    if teacher is None:
        teacher, episode = make_teacher(cfg.teacher, cfg.seed, cfg.max_new_tokens, cfg.temperature, episode)
    episode = episode or EpisodeConfig()
    check = make_answer_checker(cfg.judge)
    skip = set(skip)
    for s in samples:
        if s.id in skip:
            continue
        try:
            traj = run_episode(teacher, s, episode, base_dir=base_dir)
        except Exception as e:
            yield drop(s.id, f"episode_error: {type(e).__name__}: {e}")
            continue
        traj.correct = check(s, traj.answer)
        info = {"answer": traj.answer, "finish_reason": traj.finish_reason, "n_tool_calls": traj.n_tool_calls,
                "n_frames": traj.n_frames, "teacher": getattr(teacher, "name", type(teacher).__name__)}
        reasons = []
        if traj.answer is None:
            reasons.append(f"no_answer: the episode ended by {traj.finish_reason}")
        elif cfg.require_correct and not traj.correct:
            reasons.append(f"wrong_answer: {traj.answer!r}, reference {s.answer!r}")
        if cfg.require_format and (problems := trajectory_problems(traj)):
            reasons.append("bad_format: " + "; ".join(problems[:3]))
        yield drop(s.id, reasons, **info) if reasons else Outcome(s.id, traj, [], info)
