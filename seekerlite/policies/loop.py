"""The episode loop: a policy replies, every tool call in the reply runs, its result comes back as a ``tool``
message, and a reply without a tool call ends the episode.

    traj = run_episode(OraclePolicy(), sample, EnvConfig(), base_dir="sample_data/annotations")

The loop has TRL's GRPO semantics, so an evaluation transcript and a training rollout mean the same thing: at
most ``env.max_tool_rounds`` rounds of tool calls, then one more reply (a tool call there is not run, as in TRL's
tool loop). The episode's answer is ``grammar.final_answer`` of its turns and whether it is right is
``judge.answer_is_correct``: the same two functions the rewards use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tqdm.auto import tqdm

from seekerlite.config import EnvConfig, assistant_turns
from seekerlite.env import (
    VideoSeekerEnv,
    opening_messages,
    record_failure,
    tool_methods,
)
from seekerlite.grammar import ParsedReply, final_answer, outside_calls, parse_reply
from seekerlite.judge import Judge, answer_is_correct
from seekerlite.schema import Sample
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


def n_assistant(messages: list[dict[str, Any]]) -> int:
    """Assistant turns so far in a conversation."""
    return sum(m["role"] == "assistant" for m in messages)


def _assistant_message(reply: PolicyReply, parsed: ParsedReply) -> dict[str, Any]:
    if not parsed.tool_calls:
        return {"role": "assistant", "content": reply.text}
    content = outside_calls(reply.text, sep="").rstrip()  # an <answer> after a tool call still counts
    calls = [{"type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in parsed.tool_calls]
    return {"role": "assistant", "content": content, "tool_calls": calls}


def run_tool(env: VideoSeekerEnv, name: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one tool call; whatever goes wrong comes back as an ``Error: ...`` observation, never as an exception,
    and is counted as a failed call in the env's log (``env.n_errors``, ``Trajectory.n_tool_errors``)."""
    tools = {t.__name__: t for t in tool_methods(env)}
    shown = str(name)[:80]
    if not isinstance(arguments, dict):
        return record_failure(env, shown, {}, f"bad arguments for {shown}: want a JSON object", "bad_arguments")
    if name not in tools:
        return record_failure(env, shown, arguments, f"unknown tool {shown!r}; the tools are {sorted(tools)}",
                              "unknown_tool")
    try:
        result = tools[name](**arguments)
    except TypeError as e:  # wrong/missing keyword arguments
        return record_failure(env, name, arguments, f"bad arguments for {name}: {e}", "bad_arguments")
    except Exception as e:  # noqa: BLE001 - a tool must never end the episode
        return record_failure(env, name, arguments, f"{name} failed: {type(e).__name__}: {str(e)[:200]}",
                              type(e).__name__)
    return result


class Episode:
    """The state of one running episode (so several can advance in lockstep under a batched policy)."""

    def __init__(self, policy_name: str, sample: Sample, env: VideoSeekerEnv, config: EnvConfig, base_dir: Any,
                 judge: Judge | None = None) -> None:
        env.reset(sample=sample, base_dir=base_dir)
        self.sample, self.env, self.config, self.policy_name, self.judge = sample, env, config, policy_name, judge
        self.messages = opening_messages(env)
        self.n_prompt = len(self.messages)
        self.turns: list[TurnMeta] = []
        self.finish: str | None = None

    def step(self, reply: PolicyReply) -> None:
        parsed = reply.parsed or parse_reply(reply.text)
        self.messages.append(_assistant_message(reply, parsed))
        meta = TurnMeta(len(self.turns), reply.text, [{"name": c.name, "arguments": c.arguments} for c in parsed.tool_calls],
                        list(parsed.errors), prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens)
        self.turns.append(meta)
        if not parsed.tool_calls:
            self.finish = "answer" if self.answer is not None else "no_action"
            return
        if len(self.turns) >= assistant_turns(self.config):  # TRL: the last allowed turn's calls are not run
            self.finish = "max_turns"
            return
        for call in parsed.tool_calls:
            before = self.env.frames_used
            result = run_tool(self.env, call.name, call.arguments)
            self.messages.append({"role": "tool", "name": call.name, "content": result})
            meta.frames_returned += self.env.frames_used - before
            if result and result[0].get("type") == "text" and result[0]["text"].startswith("Error:"):
                meta.tool_errors.append(result[0]["text"])

    @property
    def completion(self) -> list[dict[str, Any]]:
        """The messages after the prompt: what TRL hands a reward function."""
        return self.messages[self.n_prompt:]

    @property
    def answer(self) -> str | None:
        return final_answer(self.completion)

    def trajectory(self) -> Trajectory:
        answer = self.answer
        correct = answer_is_correct(self.sample, answer, self.judge)
        return Trajectory(self.sample.id, self.messages, self.turns, self.env.log, answer, correct,
                          self.finish or "max_turns", self.policy_name)


def run_episode(policy: Policy, sample: Sample, config: EnvConfig | None = None, *,
                env: VideoSeekerEnv | None = None, base_dir: Any = None, judge: Judge | None = None) -> Trajectory:
    """Play one episode of `policy` on `sample` and return its trajectory."""
    cfg = config or EnvConfig()
    ep = Episode(getattr(policy, "name", type(policy).__name__), sample, env or VideoSeekerEnv(cfg), cfg, base_dir, judge)
    while ep.finish is None:
        ep.step(policy.act(ep.messages, ep.env))
    return ep.trajectory()


def run_episodes(policy: Policy, samples: list[Sample], config: EnvConfig | None = None, *, base_dir: Any = None,
                 batch_size: int = 4, progress: bool = True, judge: Judge | None = None) -> list[Trajectory]:
    """Play many episodes; a policy with ``act_batch`` advances `batch_size` episodes in lockstep."""
    cfg = config or EnvConfig()
    name = getattr(policy, "name", type(policy).__name__)
    out: list[Trajectory] = []
    bar = tqdm(total=len(samples), desc=f"episodes ({name})", disable=not progress)
    batched = hasattr(policy, "act_batch")
    step = batch_size if batched else 1
    for i in range(0, len(samples), step):
        eps = [Episode(name, s, VideoSeekerEnv(cfg), cfg, base_dir, judge) for s in samples[i:i + step]]
        while live := [e for e in eps if e.finish is None]:
            replies = policy.act_batch([e.messages for e in live], [e.env for e in live]) if batched else \
                [policy.act(live[0].messages, live[0].env)]
            for e, r in zip(live, replies):
                e.step(r)
        out += [e.trajectory() for e in eps]
        bar.update(len(eps))
    bar.close()
    return out
