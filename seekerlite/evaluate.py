"""Evaluation: run a policy over a sample set; accuracy overall and by prompt type, task and dimension.

    seekerlite eval --model tiny   --data sample_data/annotations/vtest_samples.jsonl --out runs/eval/tiny
    seekerlite eval --model oracle --data toy:4 --out runs/eval/toy-oracle        # a fresh 4-clip toy world
    seekerlite eval --model runs/sft/adapter --data V2P-Bench/dataset_info.jsonl --out runs/eval/v2p-sft
    seekerlite eval --responses V2P-Bench/data/Qwen2.5-VL-72B-Instruct.jsonl --out runs/eval/qwen72b   # score replies

Policies (``--model``): "oracle" and "random" (seekerlite.policies), "tiny" (the embedded tiny Qwen3-VL), a model
folder or hub id, a LoRA adapter folder (one with ``adapter_config.json``; its base model is the one it records,
or ``--base-model``), and "no-tool[:SPEC]": SPEC (default "tiny") gets the same opening turn and one reply, with
a tool budget of 0; a tool call there ends the episode without an answer, which counts as wrong. "no-tool:random"
is a uniform guess (chance level).

Scoring: MC answers by option letter (``policies.answer_is_correct``); OE answers by a ``Judge`` from
``seekerlite.train.rewards`` ("rule" or "llm") when that module is there, else by normalized exact match (noted in
the results). An episode without an answer, or one that crashed (``on_error="record"``), is wrong.
Accuracy comes with a 95% percentile-bootstrap interval (resampling episodes within each group).

Output (``write_results``): results.json (config, summary, one record per episode), results.md (tables),
accuracy_by_<group>.png (bars with CI error bars), transcripts.jsonl (every conversation, images left out) and
transcripts/<k>_<sample id>/ (``Trajectory.save`` with images) for the first ``save_images`` episodes.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from seekerlite.policies import EpisodeConfig, OraclePolicy, Policy, RandomPolicy, answer_is_correct, run_episodes
from seekerlite.protocol import normalize_choice
from seekerlite.schema import Sample, load_jsonl
from seekerlite.trajectory import Trajectory

GROUPS = ("prompt_type", "task", "dimension", "form", "length")  # record fields accuracy is broken down by
POLICY_HELP = "oracle | random | tiny | no-tool[:SPEC] | a model folder or hub id | a LoRA adapter folder"


@dataclass
class EvalConfig:
    """How an evaluation runs; the defaults run on a CPU."""

    policy: str = "tiny"  # see POLICY_HELP (ignored when `evaluate` is given a Policy object)
    base_model: str | None = None  # base of an adapter folder, when not the one its adapter_config.json records
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)  # tool budgets, frame sizes, max turns
    judge: str = "rule"  # OE scoring: "rule" (string rules) or "llm" (a judge model)
    judge_model: str | None = None  # judge="llm": a model folder/id or an http(s)://host/v1#model endpoint
    n_bootstrap: int = 1000  # bootstrap resamples per confidence interval; 0 skips the intervals
    seed: int = 0  # seeds policies, the bootstrap and the max_samples subset
    max_samples: int | None = None  # evaluate a seeded random subset of this size (order kept); None = all
    batch_size: int = 4  # episodes advanced together by a model policy; lower if out of memory
    max_new_tokens: int = 128  # per model reply
    save_images: int = 10  # transcripts saved with their images for the first N episodes (the rest as text)
    on_error: str = "record"  # an episode that raises: "record" (counted wrong, error kept) or "raise"


@dataclass
class EpisodeRecord:
    """One scored episode: what the metrics are computed from."""

    sample_id: str
    correct: bool
    prompt_type: str = "none"  # the visual prompt's type ("unknown" for V2P records that do not name it)
    task: str = "unknown"
    dimension: str = "none"  # V2P-Bench code, "none" when the sample has none
    form: str = "mc"  # "mc" | "oe"
    length: str | None = None  # V2P-Bench duration bucket ("short" | "medium" | "long"), if known
    answer: str | None = None  # the final answer text, None when the episode gave none
    reference: str = ""  # the key (MC letter) or the OE reference
    n_tool_calls: int = 0  # valid or not
    n_tool_errors: int = 0
    n_frames: int = 0  # frames returned by crop_video
    n_turns: int = 0  # assistant turns
    finish_reason: str = "answer"  # "answer" | "no_action" | "max_turns" | "error"
    error: str | None = None


@dataclass
class EvalResult:
    policy: str
    records: list[EpisodeRecord]
    summary: dict[str, Any]
    trajectories: list[Trajectory | None] = field(default_factory=list)  # None where an episode crashed
    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    data: str = ""


# ----------------------------------------------------------------------------------------------- metrics

def bootstrap_ci(values: Any, n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of `values` (0/1 correctness, or any numbers).

    >>> bootstrap_ci([1, 1, 1, 1])
    (1.0, 1.0)
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0 or n_bootstrap <= 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_bootstrap, x.size))].mean(axis=1)  # (n_bootstrap,)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return (float(lo), float(hi))


def group_stats(records: list[EpisodeRecord], n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """n, accuracy with its 95% CI, answered rate, mean tool calls and frames of a list of records."""
    c = [r.correct for r in records]
    lo, hi = bootstrap_ci(c, n_bootstrap, seed)
    n = len(records)
    mean = (lambda xs: float(np.mean(xs)) if n else math.nan)
    return {"n": n, "n_correct": int(sum(c)), "accuracy": mean(c), "ci_low": lo, "ci_high": hi,
            "answered": mean([r.answer is not None for r in records]),
            "mean_tool_calls": mean([r.n_tool_calls for r in records]), "mean_frames": mean([r.n_frames for r in records]),
            "mean_tool_errors": mean([r.n_tool_errors for r in records])}


def summarize(records: list[EpisodeRecord], n_bootstrap: int = 1000, seed: int = 0,
              by: tuple[str, ...] = GROUPS) -> dict[str, Any]:
    """``{"overall": stats, "by_<group>": {value: stats}}`` (see ``group_stats``); a group whose value is None for
    every record (e.g. ``length`` outside V2P-Bench) is left out, other None values count as "none"."""
    out: dict[str, Any] = {"overall": group_stats(records, n_bootstrap, seed)}
    for g in by:
        values = [getattr(r, g) for r in records]
        if all(v is None for v in values):
            continue
        keys = sorted({"none" if v is None else str(v) for v in values})
        out[f"by_{g}"] = {k: group_stats([r for r, v in zip(records, values) if ("none" if v is None else str(v)) == k],
                                         n_bootstrap, seed) for k in keys}
    return out


# ----------------------------------------------------------------------------------------------- scoring

class Scorer:
    """Decides whether an episode's answer is right. MC: by option letter. OE: by ``custom`` when given (any
    ``(sample, answer) -> bool`` callable), else by a ``seekerlite.train.rewards`` judge built from ``judge``
    ("rule", or "llm" with ``judge_model`` a local model folder/id or an ``http(s)://host/v1#model`` endpoint);
    a judge score >= 0.5 counts as right. ``note`` says which."""

    def __init__(self, judge: str = "rule", judge_model: str | None = None, custom: Any = None) -> None:
        from seekerlite.train.rewards import make_judge

        self.custom = custom
        if custom is not None:
            self.note = f"OE answers scored by {getattr(custom, '__name__', type(custom).__name__)}"
            return
        if judge == "rule":
            spec = "rule"
        elif judge == "llm":
            if not judge_model:
                raise ValueError("judge='llm' needs judge_model: a local model folder/id or 'http(s)://host/v1#model'")
            spec = judge_model if judge_model.startswith(("http://", "https://")) else f"local:{judge_model}"
        else:
            raise ValueError(f"unknown judge {judge!r}: use 'rule' or 'llm'")
        self.judge = make_judge(spec)
        self.note = f"OE answers scored by the {judge} judge ({type(self.judge).__name__})"

    def __call__(self, sample: Sample, answer: str | None) -> bool:
        if answer is None:
            return False
        if sample.is_mc:
            return answer_is_correct(sample, answer)
        if self.custom is not None:
            return bool(self.custom(sample, answer))
        return float(self.judge(answer, sample.answer, sample.question)) >= 0.5


# ----------------------------------------------------------------------------------------------- policies

def _is_adapter(spec: str) -> bool:
    return (Path(spec).expanduser() / "adapter_config.json").is_file()


def load_policy_model(spec: str, base_model: str | None = None) -> tuple[Any, Any]:
    """(model, processor) for "tiny", a model folder / hub id, or a LoRA adapter folder (loaded onto its base)."""
    import torch

    from seekerlite.models import TINY_MODEL_ID, load_student

    four_bit = torch.cuda.is_available()  # NF4 on a GPU; float32 on a CPU (no warning)
    if not _is_adapter(spec):
        student = load_student(TINY_MODEL_ID if spec == "tiny" else spec, lora=None, load_in_4bit=four_bit)
        return student.model, student.processor
    from peft import PeftModel

    adapter = Path(spec).expanduser()
    base = base_model or json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{adapter}/adapter_config.json names no base model; pass base_model (--base-model)")
    student = load_student(base, lora=None, load_in_4bit=four_bit)
    model = PeftModel.from_pretrained(student.model, str(adapter)).eval()
    processor = student.processor
    if (adapter / "tokenizer_config.json").is_file() or (adapter / "processor_config.json").is_file():
        from transformers import AutoProcessor

        from seekerlite.models import _try_add_response_schema

        processor = AutoProcessor.from_pretrained(str(adapter))  # the trainer may have saved its own
        _try_add_response_schema(processor)
    return model, processor


def make_policy(spec: str, episode: EpisodeConfig | None = None, *, seed: int = 0, base_model: str | None = None,
                max_new_tokens: int = 128) -> tuple[Policy, EpisodeConfig]:
    """A policy from its spec (see POLICY_HELP) and the episode config it runs under (no-tool: 1 turn, 0 tools)."""
    from seekerlite.policies import HFPolicy

    episode = episode or EpisodeConfig()
    if spec == "no-tool" or spec.startswith("no-tool:"):
        inner = spec.partition(":")[2] or "tiny"
        if inner == "random":
            policy: Policy = RandomPolicy(seed=seed, p_answer=1.0)
        else:
            policy, _ = make_policy(inner, episode, seed=seed, base_model=base_model, max_new_tokens=max_new_tokens)
        policy.name = f"no-tool:{inner}"
        return policy, replace(episode, max_turns=1, env=replace(episode.env, max_tool_calls=0))
    if spec == "oracle":
        return OraclePolicy(seed=seed), episode
    if spec == "random":
        return RandomPolicy(seed=seed), episode
    model, processor = load_policy_model(spec, base_model)
    return HFPolicy(model, processor, max_new_tokens=max_new_tokens, name=spec), episode


# ----------------------------------------------------------------------------------------------- running

def sample_groups(sample: Sample) -> dict[str, Any]:
    """The group labels of a sample (the fields of EpisodeRecord that summarize() breaks accuracy down by)."""
    vp = sample.visual_prompt
    return {"prompt_type": sample.extra.get("prompt_type") or (vp.prompt_type if vp else "none"),
            "task": sample.task, "dimension": sample.dimension or "none", "form": "mc" if sample.is_mc else "oe",
            "length": sample.extra.get("length")}


def load_samples(path: str | Path, *, video_root: str | None = None, frame_root: str | None = None,
                 locate_prompt_frames: bool = False) -> tuple[list[Sample], Path]:
    """(samples, base_dir) from seekerlite's JSONL or a V2P-Bench annotation file (told apart by its fields)."""
    from seekerlite.v2p import is_v2p_file, load_v2p

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such data file: {path}")
    if is_v2p_file(path):
        return load_v2p(path, video_root, frame_root, locate_prompt_frames=locate_prompt_frames), path.parent
    return load_jsonl(path), path.parent


def subset(samples: list[Sample], max_samples: int | None, seed: int = 0) -> list[Sample]:
    """A seeded random subset of at most `max_samples`, in the original order."""
    if max_samples is None or max_samples >= len(samples):
        return list(samples)
    keep = np.sort(np.random.default_rng(seed).choice(len(samples), size=max_samples, replace=False))
    return [samples[i] for i in keep]


def _run_all(policy: Policy, samples: list[Sample], episode: EpisodeConfig, base_dir: Any, batch_size: int,
             on_error: str, progress: bool) -> list[Trajectory | BaseException]:
    """run_episodes in chunks; a chunk that raises is replayed one episode at a time, so one bad video costs one
    episode (recorded as its exception) instead of the whole run."""
    from tqdm.auto import tqdm

    out: list[Trajectory | BaseException] = []
    bar = tqdm(total=len(samples), desc=f"eval ({getattr(policy, 'name', 'policy')})", disable=not progress)
    for i in range(0, len(samples), batch_size):
        chunk = samples[i:i + batch_size]
        try:
            out += run_episodes(policy, chunk, episode, base_dir=base_dir, batch_size=batch_size, progress=False)
        except Exception:
            if on_error == "raise":
                raise
            for s in chunk:
                try:
                    out += run_episodes(policy, [s], episode, base_dir=base_dir, batch_size=1, progress=False)
                except Exception as e:  # noqa: BLE001 - recorded, counted wrong, reported in the notes
                    out.append(e)
        bar.update(len(chunk))
    bar.close()
    return out


def evaluate(policy: Policy | str | None, samples: list[Sample], base_dir: Any = None,
             config: EvalConfig | None = None, *, judge: Any = None, progress: bool = True) -> EvalResult:
    """Play `policy` (an object, a spec string, or None for ``config.policy``) on every sample, score each episode
    and summarize. A Policy object runs under ``config.episode`` as given; `judge` (a ``(sample, answer) -> bool``
    callable) overrides how OE answers are scored (see ``Scorer``)."""
    cfg = config or EvalConfig()
    policy = cfg.policy if policy is None else policy
    if isinstance(policy, str):
        policy, episode = make_policy(policy, cfg.episode, seed=cfg.seed, base_model=cfg.base_model,
                                      max_new_tokens=cfg.max_new_tokens)
    else:
        episode = cfg.episode
    samples = subset(samples, cfg.max_samples, cfg.seed)
    scorer = Scorer(cfg.judge, cfg.judge_model, custom=judge)
    outcomes = _run_all(policy, samples, episode, base_dir, cfg.batch_size, cfg.on_error, progress)
    records, trajs, notes = [], [], []
    for s, t in zip(samples, outcomes):
        groups = sample_groups(s)
        if isinstance(t, BaseException):
            records.append(EpisodeRecord(s.id, False, reference=s.answer, finish_reason="error",
                                         error=f"{type(t).__name__}: {t}", **groups))
            trajs.append(None)
            continue
        t.correct = scorer(s, t.answer)
        records.append(EpisodeRecord(
            s.id, t.correct, answer=t.answer, reference=s.answer, n_tool_calls=t.n_tool_calls,
            n_tool_errors=sum(not r.ok for r in t.tool_log), n_frames=t.n_frames, n_turns=len(t.turns),
            finish_reason=t.finish_reason, **groups))
        trajs.append(t)
    if any(not s.is_mc for s in samples):
        notes.append(scorer.note)
    if n_err := sum(r.finish_reason == "error" for r in records):
        first = next(r for r in records if r.error)
        notes.append(f"{n_err} episode(s) raised and count as wrong; first: {first.sample_id}: {first.error}")
        if n_err == len(records):
            raise RuntimeError(f"every episode failed; first error: {first.error}")
    if any(s.extra.get("prompt_time_known") is False for s in samples):
        notes.append("some marked frames have no known timestamp (V2P-Bench): the first turn shows them at 0.0 s")
    name = getattr(policy, "name", type(policy).__name__)
    conf = {**asdict(cfg), "policy": name}
    return EvalResult(name, records, summarize(records, cfg.n_bootstrap, cfg.seed), trajs, conf, notes,
                      data=f"{len(samples)} samples under {base_dir}")


def records_from_responses(path: str | Path) -> list[EpisodeRecord]:
    """Score a V2P-Bench response file (its records plus ``response``) without running anything: the answer is
    the ``<answer>`` of the response if it has one, else its option letter (``normalize_choice``), else its first
    character when that is a letter in range (the benchmark's own rule)."""
    from seekerlite.protocol import parse_reply
    from seekerlite.v2p import load_v2p

    records = []
    for s in load_v2p(path, check_files=False):
        resp = s.extra["v2p"].get("response")
        if resp is None:
            raise ValueError(f"{path}: record {s.provenance['record'] + 1} has no 'response' field")
        text = parse_reply(resp).answer or str(resp).strip()
        answer = normalize_choice(text, s.options) or (text[:1].upper() if text[:1].upper() in "ABCDEFGHIJ" else None)
        records.append(EpisodeRecord(s.id, answer_is_correct(s, answer), answer=answer, reference=s.answer,
                                     n_turns=1, finish_reason="answer" if answer else "no_action", **sample_groups(s)))
    return records


# ----------------------------------------------------------------------------------------------- reports

def _pct(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def markdown_table(summary: dict[str, Any], group: str | None = None) -> str:
    """One markdown table: the overall row (group=None) or one row per value of ``by_<group>``."""
    rows = {"all": summary["overall"]} if group is None else summary.get(f"by_{group}", {})
    lines = [f"| {group or 'set'} | n | accuracy % | 95% CI | answered % | tool calls | frames |", "|---|---:|---:|---|---:|---:|---:|"]
    for k, st in rows.items():
        lines.append(f"| {k} | {st['n']} | {_pct(st['accuracy'])} | {_pct(st['ci_low'])}–{_pct(st['ci_high'])} | "
                     f"{_pct(st['answered'])} | {st['mean_tool_calls']:.2f} | {st['mean_frames']:.1f} |")
    return "\n".join(lines)


def markdown_report(result: EvalResult) -> str:
    """results.md: the policy, the data, notes, then the overall table and one table per group."""
    parts = [f"# Evaluation: {result.policy}", "", f"data: `{result.data}`  ", f"episodes: {len(result.records)}", ""]
    parts += [f"- {n}" for n in result.notes] + ([""] if result.notes else [])
    parts += ["## Overall", "", markdown_table(result.summary), ""]
    for g in GROUPS:
        if f"by_{g}" in result.summary:
            parts += [f"## By {g.replace('_', ' ')}", "", markdown_table(result.summary, g), ""]
    return "\n".join(parts)


def comparison_table(summaries: dict[str, dict[str, Any]], group: str | None = None) -> str:
    """Markdown: one row per policy (overall), or policies x values of a group (accuracy % [CI])."""
    if group is None:
        return "\n".join(["| policy | n | accuracy % | 95% CI | tool calls | frames |", "|---|---:|---:|---|---:|---:|"] + [
            f"| {name} | {s['overall']['n']} | {_pct(s['overall']['accuracy'])} | {_pct(s['overall']['ci_low'])}–"
            f"{_pct(s['overall']['ci_high'])} | {s['overall']['mean_tool_calls']:.2f} | {s['overall']['mean_frames']:.1f} |"
            for name, s in summaries.items()])
    keys = sorted({k for s in summaries.values() for k in s.get(f"by_{group}", {})})
    lines = ["| policy | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for name, s in summaries.items():
        cells = [s.get(f"by_{group}", {}).get(k) for k in keys]
        lines.append(f"| {name} | " + " | ".join("-" if c is None else f"{_pct(c['accuracy'])} ({c['n']})" for c in cells) + " |")
    return "\n".join(lines)


def plot_accuracy(summaries: dict[str, dict[str, Any]] | dict[str, Any], group: str | None = "prompt_type",
                  title: str | None = None) -> Any:
    """Bars of accuracy with 95% CI error bars: one bar per group value (group=None: overall), one colour per
    policy. Accepts one summary or ``{policy name: summary}``. Returns a matplotlib Figure."""
    import matplotlib.pyplot as plt

    if "overall" in summaries:
        summaries = {"": summaries}
    key = "overall" if group is None else f"by_{group}"
    cats = ["all"] if group is None else sorted({k for s in summaries.values() for k in s.get(key, {})})
    width = 0.8 / max(1, len(summaries))
    fig, ax = plt.subplots(figsize=(max(4.0, len(cats) * max(0.95, 0.35 * len(summaries)) + 2.5), 3.4))  # inches
    ns: dict[str, set[int]] = {c: set() for c in cats}
    for j, (name, s) in enumerate(summaries.items()):
        stats = [s["overall"] if group is None else s.get(key, {}).get(c) for c in cats]
        acc = np.array([st["accuracy"] if st else np.nan for st in stats])
        lo = np.array([st["ci_low"] if st else np.nan for st in stats])
        hi = np.array([st["ci_high"] if st else np.nan for st in stats])
        x = np.arange(len(cats)) + (j - (len(summaries) - 1) / 2) * width
        err = np.nan_to_num(np.stack([acc - lo, hi - acc]).clip(min=0))  # (2, n_cats) below/above the bar
        ax.bar(x, np.nan_to_num(acc), width, yerr=err, capsize=3, label=name or None)
        for c, st in zip(cats, stats):
            if st:
                ns[c].add(st["n"])
    labels = [f"{c}\nn={'/'.join(map(str, sorted(ns[c])))}" for c in cats]
    ax.set_xticks(np.arange(len(cats)), labels, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_title(title or (f"accuracy by {group.replace('_', ' ')}" if group else "accuracy"))
    if len(summaries) > 1 or next(iter(summaries)):
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def _text_only(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def part(p: Any) -> Any:
        return {**p, "image": "<image>"} if isinstance(p, dict) and p.get("type") == "image" else p

    return [{**m, "content": [part(p) for p in m["content"]]} if isinstance(m.get("content"), list) else m
            for m in messages]


def write_results(result: EvalResult, out_dir: str | Path, save_images: int | None = None) -> Path:
    """Write results.json, results.md, accuracy_by_<group>.png, transcripts.jsonl and transcripts/ (see module
    docstring) under out_dir; returns the path of results.json."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_img = result.config.get("save_images", 10) if save_images is None else save_images
    data = {"policy": result.policy, "data": result.data, "config": result.config, "notes": result.notes,
            "summary": result.summary, "records": [asdict(r) for r in result.records]}
    (out / "results.json").write_text(json.dumps(data, indent=1, default=str))
    (out / "results.md").write_text(markdown_report(result))
    for g in ("prompt_type", "task", "dimension"):
        if f"by_{g}" in result.summary:
            fig = plot_accuracy(result.summary, g, title=f"{result.policy}: accuracy by {g.replace('_', ' ')}")
            fig.savefig(out / f"accuracy_by_{g}.png", dpi=100, bbox_inches="tight")
            plt.close(fig)
    with (out / "transcripts.jsonl").open("w", encoding="utf-8") as fh:
        for k, (r, t) in enumerate(zip(result.records, result.trajectories)):
            rec = {"sample_id": r.sample_id, "policy": result.policy, "correct": r.correct, "answer": r.answer,
                   "reference": r.reference, "finish_reason": r.finish_reason, "error": r.error,
                   "messages": _text_only(t.messages) if t is not None else []}
            fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
            if t is not None and k < n_img:
                t.save(out / "transcripts" / f"{k:04d}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', r.sample_id)}")
    return out / "results.json"


def load_results(path: str | Path) -> dict[str, Any]:
    """A results.json (or its folder) as a dict: policy, data, config, notes, summary, records."""
    path = Path(path)
    return json.loads((path / "results.json" if path.is_dir() else path).read_text())


# ----------------------------------------------------------------------------------------------- CLI

def add_eval_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments of ``seekerlite eval`` (so cli.py can mount them on its subparser)."""
    p.add_argument("--model", "--policy", dest="model", default="tiny", help=POLICY_HELP)
    p.add_argument("--data", help="seekerlite samples JSONL, a V2P-Bench annotation file, or toy[:N_CLIPS]")
    p.add_argument("--responses", help="score a V2P-Bench response file instead of running a policy")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--base-model", help="base model of an adapter folder (default: the one it records)")
    p.add_argument("--video-root", help="V2P-Bench: folder video_path is relative to (default <data dir>/videos)")
    p.add_argument("--frame-root", help="V2P-Bench: folder frame_path is relative to (default <data dir>/frames)")
    p.add_argument("--locate-prompt-frames", action="store_true", help="V2P-Bench: find each marked frame's time")
    p.add_argument("--max-samples", type=int, help="a seeded random subset of this size")
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--judge", choices=("rule", "llm"), default="rule", help="OE scoring")
    p.add_argument("--judge-model", help="model for --judge llm")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--max-turns", type=int, default=6)
    p.add_argument("--max-tool-calls", type=int, default=5)
    p.add_argument("--save-images", type=int, default=10, help="transcripts saved with images for the first N")
    return p


def run_eval_cli(a: argparse.Namespace) -> int:
    """``seekerlite eval`` given parsed arguments; prints the overall table and where the results are."""
    out = Path(a.out)
    if a.responses:
        records = records_from_responses(a.responses)
        result = EvalResult(f"responses:{Path(a.responses).stem}", records, summarize(records, a.n_bootstrap, a.seed),
                            [None] * len(records), {"responses": a.responses, "n_bootstrap": a.n_bootstrap,
                                                    "seed": a.seed}, data=a.responses)
    else:
        if not a.data:
            raise ValueError("give --data (or --responses)")
        if a.data == "toy" or a.data.startswith("toy:"):
            from seekerlite.synth import ToyWorldConfig, generate_dataset

            n = int(a.data.partition(":")[2] or 4)
            path = generate_dataset(out / "toy", n_clips=n, seed=a.seed, config=ToyWorldConfig(seed=a.seed))
            samples, base = load_jsonl(path), path.parent
        else:
            samples, base = load_samples(a.data, video_root=a.video_root, frame_root=a.frame_root,
                                         locate_prompt_frames=a.locate_prompt_frames)
        episode = EpisodeConfig(max_turns=a.max_turns)
        episode.env.max_tool_calls = a.max_tool_calls
        cfg = EvalConfig(policy=a.model, base_model=a.base_model, episode=episode, judge=a.judge,
                         judge_model=a.judge_model, n_bootstrap=a.n_bootstrap, seed=a.seed, max_samples=a.max_samples,
                         batch_size=a.batch_size, max_new_tokens=a.max_new_tokens, save_images=a.save_images)
        result = evaluate(a.model, samples, base, cfg)
        result.data = a.data
    path = write_results(result, out)
    print(markdown_table(result.summary))
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {path}, {out / 'results.md'} and the figures/transcripts next to them")
    return 0


def main_eval(argv: list[str] | None = None) -> int:
    """Entry point of ``seekerlite eval`` (also ``python -m seekerlite.evaluate``)."""
    parser = add_eval_arguments(argparse.ArgumentParser(prog="seekerlite eval", description=__doc__,
                                                        formatter_class=argparse.RawDescriptionHelpFormatter))
    a = parser.parse_args(argv)
    try:
        return run_eval_cli(a)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    import matplotlib

    matplotlib.use("Agg")
    warnings.simplefilter("default")
    sys.exit(main_eval())
