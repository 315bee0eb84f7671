"""The report and its figures as an educator shows them: a summary box first, every promised figure inlined, text
large enough for a projector, nothing clipped silently, chance drawn on MC charts, axes labelled; training logs
one progress line and a per-step file; TensorBoard gets every reward component, tool-use metric and the KL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from seekerlite.report import REPORT_FIGURES, summary_lines, write_report

STATS = {"n": 12, "accuracy": 0.25, "ci_low": 0.05, "ci_high": 0.5, "answered": 1.0, "mean_tool_calls": 1.0,
         "mean_frames": 4.0}


def _summary(acc: float) -> dict:
    st = dict(STATS, accuracy=acc)
    return {"overall": st, "by_form": {"mc": st, "oe": dict(st, accuracy=0.0)}}


def _run_folder(out: Path, quick: bool) -> Path:
    """A demo run folder with every summary the report reads and a real PNG for every promised figure."""
    (out / "figures").mkdir(parents=True)
    for _, name, _ in REPORT_FIGURES:
        fig, ax = plt.subplots(figsize=(2, 1.5))
        ax.plot(np.arange(5), np.arange(5) ** 2)
        fig.savefig(out / "figures" / name)
        plt.close(fig)
    (out / "demo_config.json").write_text(json.dumps({"student": {"model_id": "tiny"}, "seed": 3, "quick": quick}))
    (out / "pipeline").mkdir()
    (out / "pipeline" / "counts.json").write_text(json.dumps(
        [{"stage": "candidates", "kept": 40, "dropped": 0, "reasons": {}},
         {"stage": "sft", "kept": 27, "dropped": 3, "reasons": {"wrong": 3}},
         {"stage": "rl", "kept": 11, "dropped": 19, "reasons": {"always_solved": 19}}]))
    (out / "sft").mkdir()
    (out / "sft" / "summary.json").write_text(json.dumps(
        {"episodes": 27, "steps": 54, "backend": "full", "seconds": 80.0, "loss_first": 7.6, "loss_last": 1.9}))
    (out / "grpo").mkdir()
    (out / "grpo" / "summary.json").write_text(json.dumps(
        {"config": {"max_steps": 30}, "n_train": 9, "n_eval": {"held_out": 4},
         "before": {"held_out": {"total": 0.08}}, "after": {"held_out": {"total": 0.31, "accuracy": 0.2}}}))
    (out / "eval").mkdir()
    (out / "eval" / "summaries.json").write_text(json.dumps(
        {"oracle": _summary(1.0), "base": _summary(0.0), "SFT": _summary(0.25), "GRPO": _summary(1 / 3)}))
    (out / "eval" / "chance.json").write_text(json.dumps({"mc": 0.25}))
    return out


@pytest.mark.parametrize("quick", [False, True])
def test_summary_box_opens_the_report_and_every_figure_is_inlined(tmp_path: Path, quick: bool) -> None:
    out = _run_folder(tmp_path / "run", quick)
    html = write_report(out).read_text()
    md = (out / "report.md").read_text()
    box = md.split('<div class="summary">', 1)[1].split("</div>", 1)[0]
    assert md.index('<div class="summary">') < md.index("## ")  # the summary comes before every section
    for words in ("The task.", "What ran", "Data pipeline", "SFT", "GRPO", "Evaluation", "Result.",
                  "Read this honestly."):
        assert words in box, words
    assert "0.080 → 0.310" in box and "guessing an MC letter: 25%" in box and "33% (95% CI 5-50%, n=12)" in box
    assert ("--quick" in box) is quick  # the caveat says a quick run means nothing, only when it was one
    assert '<div class="summary">' in html and ".summary{" in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) == len(REPORT_FIGURES)
    for _, name, caption in REPORT_FIGURES:
        assert caption in md and f"figures/{name}" not in html
    for jargon in ("F_vp", "on full", "KL to start"):
        assert jargon not in md


def test_summary_of_a_partial_run_names_only_what_ran(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "demo_config.json").write_text(json.dumps({"student": {"model_id": "tiny"}}))
    text = "\n".join(summary_lines(out))
    assert "The task." in text and "Read this honestly." in text and "Result." not in text


# ---------------------------------------------------------------------------------------------- the figures

def _font_sizes(fig) -> list[float]:
    """Font sizes of every visible text artist of a figure (figure texts, axes texts and titles, tick labels)."""
    texts = list(fig.texts) + [fig._suptitle] if fig._suptitle is not None else list(fig.texts)
    for ax in fig.axes:
        texts += list(ax.texts) + [ax.title, ax._left_title, ax.xaxis.label, ax.yaxis.label]
    return [t.get_fontsize() for t in texts if t is not None and t.get_text().strip()]


def _long_trajectory(toy_dataset):
    from seekerlite.config import EnvConfig
    from seekerlite.policies import OraclePolicy, run_episode

    samples, base = toy_dataset
    env = EnvConfig(overview_frames=10)  # more overview images than a row shows
    return run_episode(OraclePolicy(seed=0), samples[0], env, base_dir=str(base)), samples[0], base


def test_trajectory_figure_is_readable_and_clips_nothing_silently(toy_dataset) -> None:
    from seekerlite.viz import draw_trajectory

    traj, sample, base = _long_trajectory(toy_dataset)
    fig = draw_trajectory(traj, video_path=str(Path(base) / sample.video_path), max_images=6)
    sizes = _font_sizes(fig)
    assert sizes and min(sizes) >= 11  # points
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]
    overview = sum(1 for m in traj.messages if m["role"] == "user" for p in m["content"]
                   if isinstance(p, dict) and p.get("type") == "image") - 1  # the marked frame is drawn large
    assert f"+{overview - 5} more" in texts  # 10 overview frames, 5 shown and a "+5 more" tile
    question = sample.question.split()[-1]
    assert any(question in t for t in texts)  # the user turn's text is there whole, up to its last word
    options = [f"{letter}. " for letter in "ABCD"[: len(sample.options or [])]]
    assert all(any(o in t for t in texts) for o in options)
    marked = [ax for ax in fig.axes if ax.get_title(loc="left").startswith("the marked frame")]
    assert len(marked) == 1 and marked[0].get_position().width > 2.5 * min(a.get_position().width for a in fig.axes)
    plt.close(fig)


def test_accuracy_chart_draws_chance_and_labels(tmp_path: Path) -> None:
    from seekerlite.evaluate import plot_accuracy

    fig = plot_accuracy({"SFT": _summary(0.25), "GRPO": _summary(0.5)}, "form", chance={"mc": 0.25})
    ax = fig.axes[0]
    assert ax.get_ylabel() and "chance (guessing)" in [t.get_text() for t in ax.get_legend().get_texts()]
    lines = [c for c in ax.collections if c.get_linestyle() and c.get_segments()]
    assert any(np.allclose([seg[0][1] for seg in c.get_segments()], 0.25) for c in lines)
    plt.close(fig)


def test_training_curves_have_labelled_axes_and_a_legend_for_the_running_mean(tmp_path: Path) -> None:
    from seekerlite.train.curves import plot_grpo_curves

    hist = [{"step": i, "reward": 0.1, "rewards/accuracy/mean": 0.1, "kl": 0.01, "episode/tool_calls": 1.0}
            for i in range(1, 12)]
    fig = plot_grpo_curves(hist)
    for ax in fig.axes:
        if ax.get_visible() and ax.lines:
            assert ax.get_xlabel() == "optimizer step" and ax.get_ylabel()
            assert ax.get_legend() is not None  # the orange line is the running mean, and says so
    assert min(_font_sizes(fig)) >= 10
    plt.close(fig)


# ------------------------------------------------------------------------------- progress and tracking

@pytest.mark.slow  # ~30 s: one GRPO step of the tiny student with TensorBoard on
def test_grpo_logs_every_component_to_tensorboard_and_one_progress_line(toy_dataset, tmp_path: Path, capfd) -> None:
    pytest.importorskip("tensorboard")
    import torch
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from seekerlite.config import EnvConfig, StudentConfig
    from seekerlite.schema import save_jsonl
    from seekerlite.train.grpo import GRPORunConfig, train_grpo

    torch.set_num_threads(1)
    samples, base = toy_dataset
    mc = [s for s in samples if s.is_mc][:2]
    data = save_jsonl([s for s in mc], Path(base) / "tb_rl.jsonl")
    cfg = GRPORunConfig(student=StudentConfig(model_id="tiny-random"), env=EnvConfig(overview_frames=2),
                        data=str(data), output_dir=str(tmp_path / "grpo"), max_steps=1, num_generations=2,
                        per_device_train_batch_size=2, eval_fraction=0.0, eval_samples=0, max_reply_tokens=24,
                        save_steps=10_000, logging_steps=1, report_to="tensorboard")
    train_grpo(cfg, evaluate_before=False)
    printed = capfd.readouterr()
    assert "{'loss'" not in printed.out + printed.err  # no raw Trainer dicts
    assert "GRPO" in printed.err and "1/1" in printed.err  # one progress line for the phase
    log = [json.loads(line) for line in (tmp_path / "grpo" / "train_log.jsonl").read_text().splitlines()]
    assert any("rewards/accuracy/mean" in r for r in log)  # the full per-step log is in the run folder
    events = sorted((tmp_path / "grpo").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file in the run folder"
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for key in ("rewards/accuracy/mean", "rewards/format/mean", "rewards/parsimony/mean", "reward", "kl",
                "episode/tool_calls", "episode/frames", "tools/call_frequency"):
        assert f"train/{key}" in tags, (key, sorted(tags))


def test_report_to_is_checked_before_anything_runs(tmp_path: Path) -> None:
    from seekerlite.train.progress import check_report_to

    assert check_report_to("none") == "none"
    with pytest.raises(ValueError, match="want one of"):
        check_report_to("tensorbaord")


def test_results_table_is_generated_from_the_run(tmp_path: Path) -> None:
    from seekerlite.report import results_table

    out = _run_folder(tmp_path / "run", quick=False)
    table = results_table(out).splitlines()
    assert table[0].startswith("| held-out toy world, 12 questions |")
    assert "| GRPO | 33% (95% CI 5-50%, n=12) | 0% (95% CI 5-50%, n=12) | 1.00 |" in table
    with pytest.raises(FileNotFoundError, match="not a finished demo run"):
        results_table(tmp_path)
