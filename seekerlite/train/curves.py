"""Training curves: the SFT loss and the GRPO reward components, tool use and KL per step, from a Trainer's log.

    fig = plot_loss(loss_history(trainer.state.log_history))          # SFT
    plot_grpo_curves(json.load(open("runs/grpo/log_history.json")), "runs/grpo/curves.png")
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any


def loss_history(log_history: list[dict[str, Any]]) -> dict[str, list[float]]:
    """``step``, ``loss``, ``learning_rate`` (and ``mean_token_accuracy`` when TRL logs it) from the Trainer's log.

    >>> loss_history([{"loss": 2.0, "step": 5, "learning_rate": 1e-3}, {"train_runtime": 1.0, "step": 5}])["loss"]
    [2.0]
    """
    rows = [r for r in log_history if "loss" in r]
    hist = {"step": [r["step"] for r in rows], "loss": [r["loss"] for r in rows],
            "learning_rate": [r.get("learning_rate", float("nan")) for r in rows]}
    if rows and all("mean_token_accuracy" in r for r in rows):
        hist["mean_token_accuracy"] = [r["mean_token_accuracy"] for r in rows]
    return hist


def plot_loss(history: dict[str, list[float]], title: str | None = None) -> Any:
    """The training loss (and token accuracy) against the optimizer step (a matplotlib ``Figure``)."""
    from seekerlite.viz import plot_curves

    series = {"training loss (assistant tokens only)": history["loss"]}
    if "mean_token_accuracy" in history:
        series["next-token accuracy (assistant tokens)"] = history["mean_token_accuracy"]
    return plot_curves(series, x=history["step"], ncols=2, title=title,
                       ylabels={"training loss (assistant tokens only)": "cross-entropy loss",
                                "next-token accuracy (assistant tokens)": "fraction of tokens right"})


CURVE_KEYS = {"reward": "total reward", "rewards/accuracy/mean": "accuracy reward", "rewards/format/mean": "format reward",
              "rewards/parsimony/mean": "parsimony reward", "episode/tool_calls": "tool calls per episode",
              "episode/frames": "frames seen per episode", "episode/answer_chars": "answer length (characters)",
              "completions/mean_length": "model tokens per episode",
              "kl": "drift from the starting model (KL)", "loss": "GRPO loss"}
CURVE_YLABELS = {"total reward": "mean reward (0-1)", "accuracy reward": "mean (0-1)", "format reward": "mean (0-1)",
                 "parsimony reward": "mean (0-1)", "tool calls per episode": "calls", "frames seen per episode": "frames",
                 "answer length (characters)": "characters (0: no answer)", "model tokens per episode": "tokens",
                 "drift from the starting model (KL)": "KL divergence", "GRPO loss": "loss"}


def curves_from_history(history: list[dict[str, Any]]) -> tuple[list[float], dict[str, list[float]]]:
    """(steps, {label: values}) of the logged training series in CURVE_KEYS (what ``plot_curves`` draws)."""
    rows = [h for h in history if "reward" in h]
    steps = [float(h.get("step", i)) for i, h in enumerate(rows)]
    series = {label: [float(h.get(k, math.nan)) for h in rows] for k, label in CURVE_KEYS.items()
              if any(k in h for h in rows)}
    return steps, series


def plot_grpo_curves(history: list[dict[str, Any]], path: str | Path | None = None, title: str = "GRPO") -> Any:
    """Reward components, tool calls, frames, answer length and KL per step; saved as PNG when ``path`` is given."""
    from seekerlite.viz import plot_curves

    steps, series = curves_from_history(history)
    fig = plot_curves(series, x=steps, title=title, ylabels=CURVE_YLABELS)
    for ax, ys in zip(fig.axes, series.values()):  # GRPO curves are noisy: overlay a running mean (window 8)
        if len(ys) >= 8:
            smooth = [statistics.fmean(ys[max(0, i - 7):i + 1]) for i in range(len(ys))]
            ax.plot(steps, smooth, color="C1", lw=2, alpha=0.9, label="running mean of 8 steps")
            ax.legend(fontsize=9, loc="best")
    if path is None:
        return fig
    fig.savefig(path, dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return Path(path)
