"""The MC-vs-OE experiment: the same questions trained once as multiple choice and once open-ended.

    seekerlite grpo --experiment mc-vs-oe --model runs/sft --out runs/mc_vs_oe

The paper's reward-hacking finding: a policy paid for picking one of four letters can earn 25 % without looking,
so MC training may guess more and look less; OE rewards pay only for the right words (MC-RL 43.8 vs OE-RL 74.5
on V2P-Bench in the paper).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from seekerlite.train.grpo import GRPORunConfig, load_samples, settle_with_runs, train_grpo


def run_mc_vs_oe(cfg: GRPORunConfig, explicit: set[str] | None = None, override: bool = False) -> dict[str, Any]:
    """Train twice from the same start, on the MC and on the OE version of the same toy-world questions, and score
    the start and both policies on held-out OE and MC questions (accuracy, tool calls, frames).

    The paper's point: with MC rewards a policy is paid for picking one of four letters, which it can do
    (25 % by chance) without looking; OE rewards pay only for the right words, so looking matters more.
    Writes output_dir/{mc,oe}/ (two ordinary runs), mc_vs_oe.json, mc_vs_oe.md and mc_vs_oe.png.
    """
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = settle_with_runs(cfg, explicit, override)
    _, held_out, _ = load_samples(replace(cfg, form="both"))
    sets = {"oe": [s for s in held_out if not s.is_mc][: cfg.eval_samples],
            "mc": [s for s in held_out if s.is_mc][: cfg.eval_samples]}
    toy = out / f"toy-{cfg.toy_clips}-{cfg.toy_seed}" / "samples.jsonl"
    data = cfg.data or str(toy)  # both runs read the same samples
    results: dict[str, Any] = {}
    for form in ("mc", "oe"):
        run = replace(cfg, form=form, data=data, output_dir=str(out / form))
        summary = train_grpo(run, eval_sets=sets, evaluate_before=form == "mc", override=True)
        if "before" in summary:
            results["start"] = summary["before"]
        results[f"trained on {form.upper()}"] = summary["after"]
    (out / "mc_vs_oe.json").write_text(json.dumps(results, indent=1))
    (out / "mc_vs_oe.md").write_text(mc_vs_oe_table(results))
    plot_mc_vs_oe(results, out / "mc_vs_oe.png")
    return results


def mc_vs_oe_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A markdown table: one row per policy, OE/MC accuracy and tool use on the held-out questions."""
    lines = ["| policy | OE accuracy | MC accuracy | OE total reward | tool calls / episode (OE) | frames / episode (OE) |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        oe, mc = r.get("oe", {}), r.get("mc", {})
        lines.append(f"| {name} | {oe.get('accuracy', math.nan):.3f} | {mc.get('accuracy', math.nan):.3f} | "
                     f"{oe.get('total', math.nan):.3f} | {oe.get('tool_calls', math.nan):.2f} | {oe.get('frames', math.nan):.1f} |")
    return "\n".join(lines) + "\n"


def plot_mc_vs_oe(results: dict[str, dict[str, dict[str, float]]], path: str | Path | None = None) -> Any:
    """Bars: OE accuracy, MC accuracy and OE tool calls of the start and of the two trained policies."""
    import matplotlib.pyplot as plt

    metrics = [("oe", "accuracy", "OE accuracy"), ("mc", "accuracy", "MC accuracy"), ("oe", "tool_calls", "tool calls (OE)")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3))
    for ax, (split, key, title) in zip(axes, metrics):
        names = list(results)
        ax.bar(range(len(names)), [results[n].get(split, {}).get(key, math.nan) for n in names], color=["0.6", "C0", "C1"][: len(names)])
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
