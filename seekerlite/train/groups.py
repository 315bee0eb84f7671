"""One GRPO group in the open: G rollouts of one prompt, their rewards, and the advantages TRL computes.

    group = sample_group(trainer, row)          # TRL's own generation + scoring of one prompt, G times
    draw_rollout_group(group)                   # the rollouts side by side with rewards and advantages
    group_advantages([1.0, 0.0, 0.0, 1.0])      # A_i = (R_i - mean) / (std + eps)
"""

from __future__ import annotations

import statistics
from typing import Any


def group_advantages(rewards: list[float], eps: float = 1e-4) -> list[float]:
    """GRPO's advantage: a rollout's reward minus its group's mean, over the group's (sample) std + eps.

    >>> [round(a, 3) for a in group_advantages([1.0, 0.0, 0.0, 1.0])], group_advantages([0.5, 0.5])
    ([0.866, -0.866, -0.866, 0.866], [0.0, 0.0])
    """
    mean = statistics.fmean(rewards)
    std = statistics.stdev(rewards) if len(rewards) > 1 else 0.0
    return [(r - mean) / (std + eps) for r in rewards]


def sample_group(trainer: Any, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Draw one group (G rollouts of one prompt) through TRL's own generation and scoring, and return per rollout
    its messages, reward components, weighted total and the advantage TRL computed."""
    g = trainer.num_generations
    trainer._generate_and_score_completions([row] * g)  # TRL keeps what it logged in trainer._logs
    logs = trainer._logs
    comps, advs = list(logs["completion"])[-g:], list(logs["advantages"])[-g:]
    per = {name: list(v)[-g:] for name, v in logs["rewards"].items()}
    weights = dict(zip(trainer.reward_func_names, trainer.reward_weights.tolist()))
    return [{"completion": comps[i], **{n: per[n][i] for n in per},
             "total": sum(weights[n] * per[n][i] for n in per), "advantage": advs[i]} for i in range(g)]


def draw_rollout_group(group: list[dict[str, Any]], width: int = 38, max_lines: int = 30) -> Any:
    """The G rollouts of one group side by side: the model's turns (tool results as one line), rewards, advantage."""
    import textwrap

    import matplotlib.pyplot as plt

    from seekerlite.grammar import count_tool_use, turn_text

    fig, axes = plt.subplots(1, len(group), figsize=(3.6 * len(group), 6), squeeze=False)
    for ax, r in zip(axes[0], group):
        lines: list[str] = []
        for m in r["completion"]:
            if m["role"] == "assistant":
                lines += textwrap.wrap(turn_text(m).replace("\n", " "), width) + [""]
            else:
                n = sum(1 for p in m.get("content") or [] if isinstance(p, dict) and p.get("type") == "image")
                lines += [f"[tool: {n} frames]", ""]
        calls, frames = count_tool_use(r["completion"])
        ax.text(0, 1, "\n".join(lines[:max_lines]), va="top", family="monospace", fontsize=6.5, transform=ax.transAxes)
        ax.set_title(f"R={r['total']:.2f}  A={r['advantage']:+.2f}\nacc {r.get('accuracy', 0):.0f} fmt "
                     f"{r.get('format', 0):.0f} pars {r.get('parsimony', 0):.2f} | {calls} calls, {frames} frames",
                     fontsize=8, color="C2" if r["advantage"] > 0 else "C3" if r["advantage"] < 0 else "0.3")
        ax.axis("off")
    fig.tight_layout()
    return fig
