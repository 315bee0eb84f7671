"""Running an evaluation: a policy over a sample set, every episode scored by the one judge, then summarized.

    result = evaluate("runs/grpo", samples, base, EvalConfig())      # any policy spec (policies.POLICY_HELP)
    result = evaluate("no-tool:runs/grpo", samples, base)            # the same student without tools
    records = records_from_responses("V2P-Bench/data/Qwen2.5-VL-72B-Instruct.jsonl")   # the benchmark's own rule

Scoring: ``judge.answer_is_correct`` of ``grammar.final_answer`` - the verdict the GRPO reward gives. MC by the
strict option letter; OE by the judge of ``EvalConfig.judge`` ("rule", "local:<model>", "http(s)://host/v1#model").
An episode without an answer, or one that crashed (``on_error="record"``), is wrong. Scoring a V2P-Bench response
file keeps the benchmark's own rule (the response's first character), so its numbers compare with the published
table; every results file says which rule produced it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from seekerlite.config import EnvConfig
from seekerlite.data import subset
from seekerlite.evaluate.metrics import (
    EpisodeRecord,
    format_stats,
    region_looks,
    summarize,
)
from seekerlite.evaluate.tables import EvalResult
from seekerlite.judge import Judge, make_judge, v2p_letter
from seekerlite.policies import HFPolicy, Policy, inner_spec, make_policy, run_episodes
from seekerlite.schema import Sample
from seekerlite.trajectory import Trajectory


@dataclass
class EvalConfig:
    """How an evaluation runs; the defaults run the tiny student on a held-out toy world on a CPU."""

    policy: str = "tiny"  # what to evaluate: oracle | random | no-tool[:SPEC] | oracle-look:SPEC | tiny | a run, adapter or model folder | a hub id | an endpoint URL
    env: EnvConfig = field(default_factory=EnvConfig)  # the environment (a run folder's own is used unless set here)
    data: str = "toy:2@7"  # samples JSONL, a V2P-Bench annotation file, or toy[:N_CLIPS][@SEED] (a fresh toy world)
    output_dir: str = "runs/eval"  # results.json, results.md, figures, transcripts
    responses: str | None = None  # score a V2P-Bench response file (its own first-character rule) instead of running a policy
    base_model: str | None = None  # base of an adapter folder, when not the one its adapter_config.json records
    backend: str = "auto"  # how a model policy is loaded: "auto" | "unsloth" | "bnb-4bit" | "full"
    judge: str = "rule"  # OE scoring: "rule" | "local:<model folder or id>" | "http(s)://host/v1#<model>"
    n_bootstrap: int = 1000  # bootstrap resamples per confidence interval; 0 skips the intervals
    seed: int = 0  # seeds policies, the bootstrap and the max_samples subset
    max_samples: int | None = None  # evaluate a seeded random subset of this size (order kept); None = all
    batch_size: int = 4  # episodes advanced together by a model policy; lower if out of memory
    max_new_tokens: int = 128  # per model reply
    save_images: int = 10  # transcripts saved with their images for the first N episodes (the rest as text)
    on_error: str = "record"  # an episode that raises: "record" (counted wrong, error kept) or "raise"
    video_root: str | None = None  # V2P-Bench: folder video_path is relative to (default <data dir>/videos)
    frame_root: str | None = None  # V2P-Bench: folder frame_path is relative to (default <data dir>/frames)
    locate_prompt_frames: bool = False  # V2P-Bench: find each marked frame's time in its video


def sample_groups(sample: Sample) -> dict[str, Any]:
    """The group labels of a sample (the fields of EpisodeRecord that summarize() breaks accuracy down by)."""
    vp = sample.visual_prompt
    return {"prompt_type": sample.extra.get("prompt_type") or (vp.prompt_type if vp else "none"),
            "task": sample.task, "dimension": sample.dimension or "none", "form": "mc" if sample.is_mc else "oe",
            "length": sample.extra.get("length")}


def _run_all(policy: Policy, samples: list[Sample], env: EnvConfig, base_dir: Any, batch_size: int, on_error: str,
             progress: bool, judge: Judge) -> list[Trajectory | BaseException]:
    """run_episodes in chunks; a chunk that raises is replayed one episode at a time, so one bad video costs one
    episode (recorded as its exception) instead of the whole run."""
    from tqdm.auto import tqdm

    out: list[Trajectory | BaseException] = []
    bar = tqdm(total=len(samples), desc=f"eval ({getattr(policy, 'name', 'policy')})", disable=not progress)
    for i in range(0, len(samples), batch_size):
        chunk = samples[i:i + batch_size]
        try:
            out += run_episodes(policy, chunk, env, base_dir=base_dir, batch_size=batch_size, progress=False, judge=judge)
        except Exception:
            if on_error == "raise":
                raise
            for s in chunk:
                try:
                    out += run_episodes(policy, [s], env, base_dir=base_dir, batch_size=1, progress=False, judge=judge)
                except Exception as e:  # noqa: BLE001 - recorded, counted wrong, reported in the notes
                    out.append(e)
        bar.update(len(chunk))
    bar.close()
    return out


def policy_run(spec: str) -> Any:
    """The RunInfo of the run folder a policy spec names (``runs/sft``, ``no-tool:runs/sft``, ``oracle-look:runs/sft``,
    ``runs/sft/adapter``),
    or None for scripted policies, hub ids and folders no run wrote."""
    from pathlib import Path

    from seekerlite.runs import read_run

    inner = inner_spec(spec)
    return read_run(inner, levels=1) if inner and Path(inner).is_dir() else None


def settle_with_policy(cfg: EvalConfig, explicit: set[str] | None = None, override: bool = False) -> EvalConfig:
    """The config with the environment of the run the policy comes from: what was not set is the run's, a
    different setting is refused unless `override` (``runs.settle``). ``explicit=None``: every field is given."""
    from dataclasses import fields, replace

    from seekerlite.cliargs import explicit_in
    from seekerlite.runs import settle

    info = policy_run(cfg.policy)
    if info is None:
        return cfg
    given = {f.name for f in fields(EnvConfig)} if explicit is None else explicit_in(explicit, "env")
    return replace(cfg, env=settle(info.env, cfg.env, given, "env", info.path, override))


def evaluate(policy: Policy | str | None, samples: list[Sample], base_dir: Any = None,
             config: EvalConfig | None = None, *, judge: Judge | None = None, progress: bool = True) -> EvalResult:
    """Play `policy` (an object, a spec string, or None for ``config.policy``) on every sample, score each episode
    and summarize. A spec runs in the env its ``make_policy`` gives (no tools for ``no-tool:``); an object in
    ``config.env``. `judge` (a ``Judge``: ``(prediction, reference, question) -> score``) overrides the OE judge."""
    from seekerlite.config import StudentConfig

    cfg = config or EvalConfig()
    policy = cfg.policy if policy is None else policy
    env = cfg.env
    if isinstance(policy, str):
        student = StudentConfig(model_id=policy, backend=cfg.backend) if cfg.backend != "auto" else None
        policy, env = make_policy(policy, cfg.env, student=student, seed=cfg.seed, base_model=cfg.base_model,
                                  max_new_tokens=cfg.max_new_tokens)
    samples = subset(samples, cfg.max_samples, cfg.seed)
    oe_judge = judge or make_judge(cfg.judge)
    outcomes = _run_all(policy, samples, env, base_dir, cfg.batch_size, cfg.on_error, progress, oe_judge)
    records, trajs, notes = [], [], []
    for s, t in zip(samples, outcomes):
        groups = sample_groups(s)
        if isinstance(t, BaseException):
            records.append(EpisodeRecord(s.id, False, reference=s.answer, finish_reason="error",
                                         error=f"{type(t).__name__}: {t}", **groups))
            trajs.append(None)
            continue
        looks = region_looks(s, t.tool_log)
        records.append(EpisodeRecord(
            s.id, bool(t.correct), answer=t.answer, reference=s.answer, n_tool_calls=t.n_tool_calls,
            n_tool_errors=sum(not r.ok for r in t.tool_log), n_frames=t.n_frames, n_turns=len(t.turns),
            finish_reason=t.finish_reason, n_region_calls=len(looks), n_region_hits=sum(x["hit"] for x in looks),
            looks=[[x["cell"], x["true_cell"]] for x in looks], **groups))
        trajs.append(t)
    if any(not s.is_mc for s in samples):
        judge_name = getattr(oe_judge, "name", None) or getattr(oe_judge, "__name__", type(oe_judge).__name__)
        notes.append(f"OE answers scored by the {judge_name} judge")
    if n_err := sum(r.finish_reason == "error" for r in records):
        first = next(r for r in records if r.error)
        notes.append(f"{n_err} episode(s) raised and count as wrong; first: {first.sample_id}: {first.error}")
        if n_err == len(records):
            raise RuntimeError(f"every episode failed; first error: {first.error}")
    if any(s.extra.get("prompt_time_known") is False for s in samples):
        notes.append("some marked frames have no known timestamp (V2P-Bench): the first turn shows them at 0.0 s")
    name = getattr(policy, "name", type(policy).__name__)
    conf = {**asdict(cfg), "policy": name, "env": asdict(env)}
    return EvalResult(name, records, summarize(records, cfg.n_bootstrap, cfg.seed), trajs, conf, notes,
                      data=f"{len(samples)} samples under {base_dir}")


def records_from_responses(path: str) -> list[EpisodeRecord]:
    """Score a V2P-Bench response file (its records plus ``response``) with the benchmark's own rule: the answer is
    the response's first character when it is an option letter (``judge.v2p_letter``)."""
    from seekerlite.v2p import load_v2p

    records = []
    for s in load_v2p(path, check_files=False):
        resp = s.extra["v2p"].get("response")
        if resp is None:
            raise ValueError(f"{path}: record {s.provenance['record'] + 1} has no 'response' field")
        answer = v2p_letter(str(resp), len(s.options or []))
        records.append(EpisodeRecord(s.id, answer is not None and answer == s.answer, answer=answer,
                                     reference=s.answer, n_turns=1, finish_reason="answer" if answer else "no_action",
                                     **sample_groups(s)))
    return records


def evaluate_format(model: Any, processor: Any, samples: list[Sample], base_dir: str, env: EnvConfig | None = None,
                    max_new_tokens: int = 96, batch_size: int = 8) -> tuple[dict[str, float], list[Trajectory]]:
    """Play ``samples`` greedily with ``HFPolicy`` in the environment; returns (``format_stats``, trajectories)."""
    model.eval()
    policy = HFPolicy(model, processor, max_new_tokens=max_new_tokens, name="model")
    trajs = run_episodes(policy, samples, env or EnvConfig(), base_dir=base_dir, batch_size=batch_size, progress=False)
    return format_stats(trajs), trajs
