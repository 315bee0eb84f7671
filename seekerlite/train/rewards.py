"""GRPO rewards: accuracy, format and parsimony, as pure functions with TRL's reward signature.

    R = 0.8 * accuracy + 0.15 * format + 0.05 * parsimony          (weights: RewardConfig -> GRPOConfig.reward_weights)

    funcs, weights = make_reward_funcs(RewardConfig())             # hand both to GRPOTrainer / GRPOConfig
    score_completion(completion, answer="B", options=[...])        # every component + total, for one rollout

A *completion* is what TRL hands a reward function for a multi-turn rollout: the messages after the prompt,
``[assistant, tool, assistant, ...]`` (assistant turns carry parsed ``tool_calls``; tool turns carry our frames).
A plain string is read as one assistant turn. Dataset columns arrive as keyword lists (``answer``, ``options``,
``question``); TRL also passes ``environments``, ``trainer_state``, ... which these functions accept and ignore.

Design choices, each tested on crafted and adversarial completions in tests/test_rewards.py:
- accuracy: ``judge.is_correct`` of ``grammar.final_answer`` (the episode's one final ``<answer>``; spamming
  answers, or hiding one in a tool call, earns nothing) - the same verdict evaluation reports. MC: the strict
  option letter. OE: a ``Judge`` says whether the free text means the reference (rule-based by default).
- format: the paper's grammar ``think (tool_call think)* answer``; ``grammar.format_problems`` says what is wrong.
- a reward function never raises: a completion it cannot read (or a column it lacks) scores 0, is logged, and is
  counted in ``reward_failures()`` (by reward and exception type) for the training logs; it always returns one
  score per completion.
- parsimony: ``max(0, 1 - lambda_c * extra_calls - lambda_f * extra_frames)``, paid only for a correct answer
  ("fewer calls for the same correctness"), with a floor of free calls/frames so that answering without looking
  earns no more than looking once: the policy is never pushed to stop looking.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seekerlite.grammar import Completion, count_tool_use, final_answer, format_problems
from seekerlite.judge import Judge, is_correct, make_judge

log = logging.getLogger(__name__)
_FAILURES: Counter[str] = Counter()  # "<reward>: <exception type>" -> completions scored 0 because scoring raised


def reward_failures() -> dict[str, int]:
    """Completions scored 0 because scoring them raised, in this process, by ``"<reward>: <exception type>"``."""
    return dict(_FAILURES)


@dataclass
class RewardConfig:
    """Weights and knobs of the three rewards (the paper's values by default)."""

    accuracy_weight: float = 0.8  # weight of accuracy in the total reward
    format_weight: float = 0.15  # weight of format
    parsimony_weight: float = 0.05  # weight of parsimony; 0 switches it off
    call_penalty: float = 0.2  # lambda: parsimony lost per tool call beyond `free_calls`
    free_calls: int = 1  # floor: calls that cost nothing (>= 1 so that answering blind never beats looking once)
    frame_penalty: float = 0.0  # parsimony lost per returned frame beyond `free_frames` (0 = count calls only)
    free_frames: int = 8  # frames that cost nothing
    parsimony_needs_correct: bool = True  # pay parsimony only for a correct answer (else quick guessing pays)
    judge: str = "rule"  # OE judge: "rule" | "local:<model dir>" | "<http(s)://host/v1>#<model name>"
    f1_threshold: float = 0.6  # RuleJudge: token F1 needed to count an OE answer as correct

    @property
    def weights(self) -> list[float]:
        return [self.accuracy_weight, self.format_weight, self.parsimony_weight]


# ---------------------------------------------------------------------------------------------- the rewards

def _column(values: Any, n: int) -> list[Any]:
    """A dataset column as a list of exactly `n` entries (missing or short columns padded with None)."""
    try:
        vals = list(values) if values is not None else []
    except TypeError:
        vals = []
    return (vals + [None] * n)[:n]


def _n(completions: Any) -> int:
    try:
        return len(completions)
    except TypeError:
        return 0


def _never_raises(name: str) -> Callable[[Callable[..., list[float]]], Callable[..., list[float]]]:
    """Wrap a reward so that a failure of the whole call (not one completion) scores every completion 0."""
    def wrap(fn: Callable[..., list[float]]) -> Callable[..., list[float]]:
        def reward(completions: Any, *args: Any, **kwargs: Any) -> list[float]:
            n = _n(completions)
            try:
                out = fn(completions, *args, **kwargs)
                return [float(x) for x in out] if len(out) == n else [0.0] * n
            except Exception as e:  # noqa: BLE001 - a reward must never stop training
                _FAILURES[f"{name}: {type(e).__name__}"] += n
                log.warning("reward %s failed on the whole batch (%s: %s); %d completions score 0", name,
                            type(e).__name__, e, n)
                return [0.0] * n
        reward.__name__, reward.__qualname__, reward.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        reward.__wrapped__ = fn  # type: ignore[attr-defined]
        return reward
    return wrap


def episode_correct(completion: Completion, answer: str, options: list[str] | None = None, question: str = "",
                    judge: Judge | None = None) -> bool:
    """Whether a rollout's final answer is right (``judge.is_correct`` of ``grammar.final_answer``)."""
    return is_correct(final_answer(completion), answer, options, question, judge)


def _safe(fn: Callable[..., float], *args: Any, name: str = "reward") -> float:
    """``fn(*args)``, or 0.0 when it raises (a reward must never stop training); the failure is logged and counted."""
    try:
        return float(fn(*args))
    except Exception as e:  # noqa: BLE001
        _FAILURES[f"{name}: {type(e).__name__}"] += 1
        log.warning("reward %s: scoring a completion failed (%s: %s); it scores 0", name, type(e).__name__, e)
        return 0.0


@_never_raises("accuracy")
def accuracy_reward(completions: list[Completion], answer: list[str], options: list[list[str] | None] | None = None,
                    question: list[str] | None = None, judge: Judge | None = None, **kwargs: Any) -> list[float]:
    """1.0 for a correct final answer, else 0.0 (see ``episode_correct``).

    >>> accuracy_reward(["<think>.</think><answer>B</answer>", "<answer>red</answer>"], answer=["B", "red"],
    ...                 options=[["x", "y"], None])
    [1.0, 1.0]
    """
    n = len(completions)
    opts, qs, answers = _column(options, n), _column(question, n), _column(answer, n)
    return [_safe(lambda *x: float(episode_correct(*x)), c, a, o, q or "", judge, name="accuracy")
            for c, a, o, q in zip(completions, answers, opts, qs)]


@_never_raises("format")
def format_reward(completions: list[Completion], **kwargs: Any) -> list[float]:
    """1.0 when a rollout follows ``think (tool_call think)* answer`` exactly (see ``format_problems``), else 0.0.

    >>> format_reward(["<think>a</think><answer>B</answer>", "<answer>B</answer>"])
    [1.0, 0.0]
    """
    return [_safe(lambda c: float(not format_problems(c)), c, name="format") for c in completions]


def parsimony_score(n_calls: int, n_frames: int, call_penalty: float = 0.2, free_calls: int = 1,
                    frame_penalty: float = 0.0, free_frames: int = 8) -> float:
    """``max(0, 1 - call_penalty * extra calls - frame_penalty * extra frames)``; the first calls/frames are free.

    >>> parsimony_score(0, 0), parsimony_score(1, 4), parsimony_score(3, 12)
    (1.0, 1.0, 0.6)
    """
    extra_calls, extra_frames = max(0, n_calls - free_calls), max(0, n_frames - free_frames)
    return max(0.0, 1.0 - call_penalty * extra_calls - frame_penalty * extra_frames)


@_never_raises("parsimony")
def parsimony_reward(completions: list[Completion], answer: list[str] | None = None,
                     options: list[list[str] | None] | None = None, question: list[str] | None = None, *,
                     judge: Judge | None = None, call_penalty: float = 0.2, free_calls: int = 1,
                     frame_penalty: float = 0.0, free_frames: int = 8, needs_correct: bool = True,
                     **kwargs: Any) -> list[float]:
    """Fewer tool calls / frames for the same correctness: ``parsimony_score``, and 0 for a wrong answer when
    ``needs_correct`` (so guessing fast is not paid).

    >>> look = [{"role": "assistant", "content": "<think>.</think>", "tool_calls": [{"function": {"name": "crop_video", "arguments": {}}}]},
    ...         {"role": "tool", "content": []}, {"role": "assistant", "content": "<think>.</think><answer>B</answer>"}]
    >>> parsimony_reward([look, look[-1:], look[-1:]], answer=["B", "B", "C"], options=[["x", "y", "z"]] * 3)
    [1.0, 1.0, 0.0]
    """
    n = len(completions)
    correct = [True] * n
    if needs_correct:
        if answer is None:  # a dataset without answers: nothing can be called correct (counted, not raised)
            _FAILURES["parsimony: no answer column"] += n
            log.warning("parsimony_reward(needs_correct=True) got no `answer` column; %d completions score 0", n)
            return [0.0] * n
        correct = [c > 0 for c in accuracy_reward(completions, answer, options, question, judge=judge)]
    out = []
    for comp, ok in zip(completions, correct):
        out.append(_safe(lambda c: parsimony_score(*count_tool_use(c), call_penalty, free_calls, frame_penalty,
                                                   free_frames), comp, name="parsimony") if ok else 0.0)
    return out


def _named(fn: Callable[..., list[float]], name: str, **bound: Any) -> Callable[..., list[float]]:
    """``fn`` with some keywords bound, as a plain function called ``name`` (TRL logs ``rewards/<name>/mean``)."""

    def reward(completions: list[Completion], **kwargs: Any) -> list[float]:
        return fn(completions, **(kwargs | bound))

    reward.__name__ = reward.__qualname__ = name
    reward.__doc__ = fn.__doc__
    return reward


def make_reward_funcs(cfg: RewardConfig | None = None, judge: Judge | None = None) -> tuple[list[Callable], list[float]]:
    """The three reward functions, bound to the config, and their weights (for ``GRPOConfig.reward_weights``)."""
    cfg = cfg or RewardConfig()
    judge = judge or make_judge(cfg.judge, cfg.f1_threshold)
    funcs = [_named(accuracy_reward, "accuracy", judge=judge), _named(format_reward, "format"),
             _named(parsimony_reward, "parsimony", judge=judge, call_penalty=cfg.call_penalty,
                    free_calls=cfg.free_calls, frame_penalty=cfg.frame_penalty, free_frames=cfg.free_frames,
                    needs_correct=cfg.parsimony_needs_correct)]
    return funcs, cfg.weights


def score_completion(completion: Completion, answer: str, options: list[str] | None = None, question: str = "",
                     cfg: RewardConfig | None = None, judge: Judge | None = None) -> dict[str, float]:
    """Every component and the weighted total for one rollout (what TRL logs, for one completion).

    >>> score_completion("<think>.</think><answer>B</answer>", "B", ["x", "y"])["total"]
    1.0
    """
    cfg = cfg or RewardConfig()
    funcs, weights = make_reward_funcs(cfg, judge)
    kw = {"answer": [answer], "options": [options], "question": [question]}
    out = {f.__name__: f([completion], **kw)[0] for f in funcs}
    calls, frames = count_tool_use(completion)
    out["total"] = sum(w * out[f.__name__] for f, w in zip(funcs, weights))
    return out | {"tool_calls": float(calls), "frames": float(frames)}
