"""RL sample curation: estimate each sample's pass rate with k rollouts of a policy and keep the samples that
are neither always solved nor never solved (GRPO learns nothing from a group whose rewards are all equal).

    for oc in curate_samples(samples, base_dir="runs/x", config=CurateConfig(policy="noisy-oracle:0.5", k=4)):
        print(oc.id, oc.kept, oc.info["pass_rate"])

Policies (``CurateConfig.policy``):
    "noisy-oracle:P"              ``NoisyOraclePolicy``: the oracle's tool calls, then the right answer with
                                  probability P. A stand-in with a known pass rate that exercises curation without
                                  a model: its pass rates say nothing about how hard a sample is.
    "tiny" | a folder | a hub id  a transformers Qwen3-VL, *sampling* at ``temperature`` (k rollouts in one batch)
    "oracle" | "random"           the baselines (always right / mostly wrong: most samples are then dropped)
    "http(s)://host/v1#model"     an OpenAI-compatible endpoint at ``temperature``

``mc_to_oe``: multiple-choice questions whose right option is a short phrase become open-ended (the option's
text is the reference), unless an open-ended twin with the same question is already in the input. The pass
rate is then estimated on the open-ended form, the one that is kept.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from seekerlite.pipeline.resume import Outcome, drop, stable_seed
from seekerlite.policies import (
    EpisodeConfig,
    OraclePolicy,
    PolicyReply,
    normalize_text,
    run_episode,
    run_episodes,
)
from seekerlite.schema import OPTION_LETTERS, Sample


@dataclass
class CurateConfig:
    """How pass rates are estimated and which samples are kept."""

    policy: str = "noisy-oracle:0.5"  # see the module docstring
    k: int = 4  # rollouts per sample
    min_pass_rate: float = 0.0  # keep samples whose pass rate is strictly above this...
    max_pass_rate: float = 1.0  # ...and strictly below this
    mc_to_oe: bool = False  # turn MC questions with a short right option into OE
    oe_max_words: int = 6  # mc_to_oe: longest option text (words) that becomes an OE reference
    temperature: float = 1.0  # model policies: sampling temperature (rollouts must differ)
    max_new_tokens: int = 128  # model policies: tokens per reply
    judge: str = "rule"  # how OE answers are judged (see train.rewards.make_judge)
    seed: int = 0  # with the sample id and rollout index, seeds every rollout


class NoisyOraclePolicy:
    """The oracle's tool calls, then the right answer with probability `p_correct` and a wrong one otherwise.

    Honest about what it is: a policy with a *known* pass rate, for exercising curation without a model.
    """

    def __init__(self, p_correct: float = 0.5, seed: int = 0) -> None:
        if not 0.0 <= p_correct <= 1.0:
            raise ValueError(f"p_correct must be in [0, 1], got {p_correct}")
        self.p_correct, self.seed = p_correct, seed
        self.oracle = OraclePolicy(seed=seed)
        self.name = f"noisy-oracle:{p_correct:g}"

    def act(self, messages: list[dict[str, Any]], env: Any) -> PolicyReply:
        reply = self.oracle.act(messages, env)
        if "<answer>" not in reply.text:
            return reply  # a tool call: the oracle's own
        s = env.sample
        rng = random.Random(stable_seed(self.seed, s.id, "answer"))
        if rng.random() < self.p_correct:
            return reply
        wrong = rng.choice([c for c in OPTION_LETTERS[: len(s.options)] if c != s.answer]) if s.is_mc else "I cannot tell"
        return PolicyReply(f"<think>I am not sure what I saw.</think><answer>{wrong}</answer>")


def to_open_ended(sample: Sample, max_words: int = 6) -> Sample | None:
    """The OE form of an MC sample (reference = the right option's text), or None when it does not read as one
    (a long option, or a question that talks about its options).

    >>> s = Sample(id="a", video_path="v.mp4", question="What colour is the marked ball?", answer="B", options=["red", "blue"])
    >>> o = to_open_ended(s); o.id, o.answer, o.options
    ('a~oe', 'blue', None)
    """
    if not sample.is_mc:
        return None
    text = sample.answer_text
    if len(text.split()) > max_words or re.search(r"\b(?:options?|following|above|below|choices?)\b", sample.question, re.IGNORECASE):
        return None
    return replace(sample, id=f"{sample.id}~oe", options=None, answer=text,
                   extra={**sample.extra, "form": "oe"}, provenance={**sample.provenance, "converted_from": sample.id})


def make_rollout_policy(spec: str, seed: int, config: CurateConfig, episode: EpisodeConfig) -> tuple[Any, EpisodeConfig]:
    """(policy, episode config) for one rollout (``seed`` varies with the rollout for the noisy oracle)."""
    if spec.startswith("noisy-oracle"):
        p = float(spec.partition(":")[2] or 0.5)
        return NoisyOraclePolicy(p, seed=seed), episode
    if spec == "random":
        from seekerlite.policies import RandomPolicy

        return RandomPolicy(seed=seed), episode
    from seekerlite.pipeline.synthesize import make_teacher

    policy, episode = make_teacher(spec, seed, config.max_new_tokens, config.temperature, episode)
    if hasattr(policy, "gen_kwargs"):  # a transformers policy: rollouts must be sampled to differ
        policy.gen_kwargs.update(do_sample=True, temperature=config.temperature)
    return policy, episode


def curate_samples(samples: Iterable[Sample], base_dir: Any = None, config: CurateConfig | None = None, *,
                   skip: Iterable[str] = (), episode: EpisodeConfig | None = None) -> Iterator[Outcome]:
    """RL curation over an iterable of samples: k rollouts each, keep when min < pass rate < max.

    Outcome ids are the *input* ids (so a resumed run skips them; the kept record, maybe the OE form, carries
    it as ``provenance["curate"]["input_id"]``).
    """
    from seekerlite.pipeline.synthesize import make_answer_checker

    cfg = config or CurateConfig()
    if cfg.k < 1:
        raise ValueError(f"k must be >= 1, got {cfg.k}")
    episode = episode or EpisodeConfig()
    samples = list(samples)
    oe_questions = {(s.video_path, normalize_text(s.question)) for s in samples if not s.is_mc}
    check = make_answer_checker(cfg.judge)
    shared = None  # model policies are loaded once and sampled k times in one batch
    if not cfg.policy.startswith(("noisy-oracle", "random", "oracle")):
        shared = make_rollout_policy(cfg.policy, cfg.seed, cfg, episode)
    skip = set(skip)
    for s in samples:
        if s.id in skip:
            continue
        target = s
        if cfg.mc_to_oe and s.is_mc and (s.video_path, normalize_text(s.question)) not in oe_questions:
            target = to_open_ended(s, cfg.oe_max_words) or s
        try:
            if shared is not None:
                import torch

                torch.manual_seed(stable_seed(cfg.seed, s.id))
                policy, ep = shared
                trajs = run_episodes(policy, [target] * cfg.k, ep, base_dir=base_dir, batch_size=cfg.k, progress=False)
            else:
                trajs = []
                for r in range(cfg.k):  # rollout r: its own seed, the same in every run
                    policy, ep = make_rollout_policy(cfg.policy, stable_seed(cfg.seed, r), cfg, episode)
                    trajs.append(run_episode(policy, target, ep, base_dir=base_dir))
        except Exception as e:
            yield drop(s.id, f"rollout_error: {type(e).__name__}: {e}")
            continue
        correct = [check(target, t.answer) for t in trajs]
        rate = sum(correct) / len(correct)
        info = {"input_id": s.id, "pass_rate": rate, "k": cfg.k, "policy": cfg.policy, "correct": correct}
        if rate <= cfg.min_pass_rate:
            yield drop(s.id, f"never_solved: pass rate {rate:.2f} <= {cfg.min_pass_rate:g}", **info)
        elif rate >= cfg.max_pass_rate:
            yield drop(s.id, f"always_solved: pass rate {rate:.2f} >= {cfg.max_pass_rate:g}", **info)
        else:
            yield Outcome(s.id, replace(target, provenance={**target.provenance, "curate": info}), [], info)
