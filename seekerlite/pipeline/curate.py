"""RL sample curation: estimate each sample's pass rate with k rollouts of a policy and keep the samples that
are neither always solved nor never solved (GRPO learns nothing from a group whose rewards are all equal).

    for oc in curate_samples(samples, base_dir="runs/x", config=CurateConfig(policy="noisy-oracle:0.5", k=4)):
        print(oc.id, oc.kept, oc.info["pass_rate"])

Policies (``CurateConfig.policy``):
    any ``policies.make_policy`` spec, sampled at ``temperature``:
    "noisy-oracle:P"              the oracle's tool calls, then the right answer with probability P. A stand-in
                                  with a known pass rate that exercises curation without a model: its pass rates
                                  say nothing about how hard a sample is.
    "tiny" | a folder | a hub id  a transformers Qwen3-VL (k rollouts in one batch)
    "oracle" | "random"           the baselines (always right / mostly wrong: most samples are then dropped)
    "http(s)://host/v1#model"     an OpenAI-compatible endpoint

``mc_to_oe``: multiple-choice questions whose right option is a short phrase become open-ended (the option's
text is the reference), unless an open-ended twin with the same question is already in the input. The pass
rate is then estimated on the open-ended form, the one that is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from seekerlite.config import EnvConfig
from seekerlite.judge import answer_is_correct, make_judge, normalize_text
from seekerlite.pipeline.store import Outcome, drop
from seekerlite.policies import make_policy, run_episode, run_episodes
from seekerlite.schema import Sample, stable_seed

SCRIPTED = ("noisy-oracle", "random", "oracle")  # rollout policies with a per-rollout seed (no model to share)


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


def make_rollout_policy(spec: str, seed: int, config: CurateConfig, env: EnvConfig) -> tuple[Any, EnvConfig]:
    """(policy, env) for rollouts: ``policies.make_policy``, sampling at ``config.temperature`` (rollouts must
    differ); scripted policies get `seed`, which varies with the rollout."""
    return make_policy(spec, env, seed=seed, max_new_tokens=config.max_new_tokens, do_sample=True,
                       temperature=config.temperature)


def curate_samples(samples: Iterable[Sample], base_dir: Any = None, config: CurateConfig | None = None, *,
                   skip: Iterable[str] = (), env: EnvConfig | None = None) -> Iterator[Outcome]:
    """RL curation over an iterable of samples: k rollouts each, keep when min < pass rate < max.

    Outcome ids are the *input* ids (so a resumed run skips them; the kept record, maybe the OE form, carries
    it as ``provenance["curate"]["input_id"]``).
    """
    cfg = config or CurateConfig()
    if cfg.k < 1:
        raise ValueError(f"k must be >= 1, got {cfg.k}")
    env = env or EnvConfig()
    samples = list(samples)
    oe_questions = {(s.video_path, normalize_text(s.question)) for s in samples if not s.is_mc}
    judge = make_judge(cfg.judge)
    shared = None  # model policies are loaded once and sampled k times in one batch
    if not cfg.policy.startswith(SCRIPTED):
        shared = make_rollout_policy(cfg.policy, cfg.seed, cfg, env)
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
                trajs = run_episodes(policy, [target] * cfg.k, ep, base_dir=base_dir, batch_size=cfg.k, progress=False,
                                     judge=judge)
            else:
                trajs = []
                for r in range(cfg.k):  # rollout r: its own seed, the same in every run
                    policy, ep = make_rollout_policy(cfg.policy, stable_seed(cfg.seed, r), cfg, env)
                    trajs.append(run_episode(policy, target, ep, base_dir=base_dir, judge=judge))
        except Exception as e:
            yield drop(s.id, f"rollout_error: {type(e).__name__}: {e}")
            continue
        correct = [answer_is_correct(target, t.answer, judge) for t in trajs]
        rate = sum(correct) / len(correct)
        info = {"input_id": s.id, "pass_rate": rate, "k": cfg.k, "policy": cfg.policy, "correct": correct}
        if rate <= cfg.min_pass_rate:
            yield drop(s.id, f"never_solved: pass rate {rate:.2f} <= {cfg.min_pass_rate:g}", **info)
        elif rate >= cfg.max_pass_rate:
            yield drop(s.id, f"always_solved: pass rate {rate:.2f} >= {cfg.max_pass_rate:g}", **info)
        else:
            yield Outcome(s.id, replace(target, provenance={**target.provenance, "curate": info}), [], info)
