"""Writing an evaluation down: markdown tables, accuracy charts with intervals, results.json and transcripts.

    write_results(result, "runs/eval")     # results.json, results.md, accuracy_by_<group>.png, transcripts
    print(comparison_table({"SFT": r1.summary, "GRPO": r2.summary}, "form"))
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seekerlite.evaluate.metrics import GROUPS, EpisodeRecord
from seekerlite.judge import SCORING_RULES
from seekerlite.paths import file_name, inside
from seekerlite.trajectory import Trajectory


@dataclass
class EvalResult:
    policy: str
    records: list[EpisodeRecord]
    summary: dict[str, Any]
    trajectories: list[Trajectory | None] = field(default_factory=list)  # None where an episode crashed
    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    data: str = ""
    scoring_rule: str = "seekerlite"  # a key of judge.SCORING_RULES: which rule decided "right"


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
    parts = [f"# Evaluation: {result.policy}", "", f"data: `{result.data}`  ", f"episodes: {len(result.records)}  ",
             f"scoring: {SCORING_RULES[result.scoring_rule]} (`{result.scoring_rule}`)", ""]
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
                  title: str | None = None, chance: float | dict[str, float] | None = None) -> Any:
    """Bars of accuracy with 95% CI error bars: one bar per group value (group=None: overall), one colour per
    policy. Accepts one summary or ``{policy name: summary}``. Returns a matplotlib Figure.

    `chance`: the accuracy of guessing (e.g. 0.25 for 4-option MC), a dashed line across the chart; or
    ``{group value: level}`` (``{"mc": 0.25}``) for a dashed line over those groups only."""
    import matplotlib.pyplot as plt

    if "overall" in summaries:
        summaries = {"": summaries}
    key = "overall" if group is None else f"by_{group}"
    cats = ["all"] if group is None else sorted({k for s in summaries.values() for k in s.get(key, {})})
    width = 0.8 / max(1, len(summaries))
    fig, ax = plt.subplots(figsize=(max(5.5, len(cats) * max(1.3, 0.45 * len(summaries)) + 3.0), 4.2))  # inches
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
    levels = chance if isinstance(chance, dict) else {c: chance for c in cats} if chance is not None else {}
    for i, c in enumerate(cats):
        if levels.get(c) is not None:
            ax.hlines(levels[c], i - 0.45, i + 0.45, colors="black", linestyles="--", lw=1.5,
                      label="chance (guessing)" if i == min(k for k, cc in enumerate(cats) if levels.get(cc) is not None)
                      else None)
    labels = [f"{c}\nn={'/'.join(map(str, sorted(ns[c])))}" for c in cats]
    ax.set_xticks(np.arange(len(cats)), labels, fontsize=11)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (95% CI)", fontsize=11)
    ax.set_xlabel({"form": "question form (mc: multiple choice, oe: open-ended)"}.get(group or "", group or ""),
                  fontsize=11)
    ax.set_title(title or (f"accuracy by {group.replace('_', ' ')}" if group else "accuracy"), fontsize=13)
    if len(summaries) > 1 or next(iter(summaries)) or levels:
        ax.legend(fontsize=11, loc="upper left", bbox_to_anchor=(1.0, 1.0))
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
    data = {"policy": result.policy, "data": result.data, "scoring_rule": result.scoring_rule,
            "scoring": SCORING_RULES[result.scoring_rule], "config": result.config, "notes": result.notes,
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
                t.save(inside(out, "transcripts", f"{k:04d}_{file_name(r.sample_id)}"))
    return out / "results.json"
