"""SFT trajectory synthesis: a teacher plays each sample in the tool environment; only trajectories whose answer
is right and whose format is valid are kept, as a chat dataset TRL's SFTTrainer reads.

    for oc in synthesize_trajectories(samples, base_dir="runs/x", config=SynthConfig(teacher="oracle")):
        if oc.kept: save_chat_dataset([oc.record], "runs/x/sft", append=True)

Teachers (``SynthConfig.teacher``, any ``policies.make_policy`` spec): "oracle" (looks where the ground truth says,
answers right), "tiny" / a model folder / a hub id (a transformers Qwen3-VL, greedy), or
"http://host:8000/v1#model" (any OpenAI-compatible chat endpoint: vLLM, SGLang, llama.cpp, OpenAI, ...).

Reason codes: ``no_answer`` (the episode ended without one), ``wrong_answer`` (``judge.answer_is_correct``),
``bad_format`` (the reply grammar is broken; ``grammar.format_problems`` says where), ``episode_error``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from seekerlite.config import EnvConfig
from seekerlite.grammar import format_problems
from seekerlite.judge import answer_is_correct, make_judge
from seekerlite.pipeline.store import Outcome, drop
from seekerlite.policies import make_policy, run_episode
from seekerlite.schema import Sample
from seekerlite.trajectory import Trajectory


@dataclass
class SynthConfig:
    """The teacher and what a kept trajectory must satisfy."""

    teacher: str = "oracle"  # a policy spec: "oracle" | "tiny" | a model folder / hub id | "http(s)://host/v1#model"
    seed: int = 0  # the oracle's choices (whether it re-views the marked frame first)
    max_new_tokens: int = 256  # model / endpoint teachers: tokens per reply
    temperature: float = 0.0  # model / endpoint teachers: sampling temperature (0 = greedy)
    require_correct: bool = True  # drop trajectories with a wrong answer
    require_format: bool = True  # drop trajectories that break the reply grammar
    judge: str = "rule"  # how OE answers are judged ("rule" | "local:<model>" | "<url>#<model>", see seekerlite.judge)


def trajectory_problems(traj: Trajectory) -> list[str]:
    """Format problems of an episode's assistant side (empty when well formed)."""
    first_user = next(i for i, m in enumerate(traj.messages) if m["role"] == "user")
    return format_problems(traj.messages[first_user + 1:])


def synthesize_trajectories(samples: Iterable[Sample], base_dir: Any = None, config: SynthConfig | None = None, *,
                            skip: Iterable[str] = (), teacher: Any = None,
                            env: EnvConfig | None = None) -> Iterator[Outcome]:
    """SFT synthesis over an iterable of samples: one teacher episode each; an Outcome keeps the Trajectory.

    Args:
        samples: the records to play; relative paths resolve against `base_dir`.
        config: the teacher spec and the keep rules.
        skip: ids already done.
        teacher: a policy object (overrides ``config.teacher``).
        env: the environment the episodes are played in (the student's: SFT trains on exactly what it will see).
    """
    cfg = config or SynthConfig()
    env = env or EnvConfig()
    if teacher is None:
        teacher, env = make_policy(cfg.teacher, env, seed=cfg.seed, max_new_tokens=cfg.max_new_tokens,
                                   do_sample=cfg.temperature > 0, temperature=cfg.temperature or 1.0)
    judge = make_judge(cfg.judge)
    skip = set(skip)
    for s in samples:
        if s.id in skip:
            continue
        try:
            traj = run_episode(teacher, s, env, base_dir=base_dir, judge=judge)
        except Exception as e:
            yield drop(s.id, f"episode_error: {type(e).__name__}: {e}")
            continue
        traj.correct = answer_is_correct(s, traj.answer, judge)
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
