"""The demo's report: report.md (PNG links) and report.html (one self-contained file, every figure inlined).

Built only from what the demo's steps left in the run folder, so it can be rebuilt at any time:

    python -c "from seekerlite.report import write_report; write_report('runs/demo')"
"""

from __future__ import annotations

import base64
import html as _html
import json
from pathlib import Path
from typing import Any

# (section, figure file in figures/, caption): every figure the report promises, in order.
REPORT_FIGURES = [
    ("Data", "real_annotations.png", "Real footage (OpenCV's vtest.avi): the hand-checked pedestrian boxes"),
    ("Data", "prompts_real.png", "Every visual-prompt type on one pedestrian"),
    ("Data", "toy_masks.png", "Toy world: the exact per-frame mask of the target"),
    ("Data", "prompts_toy.png", "Every visual-prompt type on a toy-world object (from its exact mask)"),
    ("Tool environment", "trajectory_toy.png", "An oracle trajectory on a toy-world question"),
    ("Tool environment", "trajectory_real.png", "An oracle trajectory on a real-video question"),
    ("Data pipeline", "pipeline_funnel.png", "What each pipeline stage kept, and why it dropped the rest"),
    ("Data pipeline", "pipeline_prompts.png", "Visual-prompt frames chosen and rendered by stage 4"),
    ("SFT", "sft_loss.png", "Cold-start SFT: loss on assistant tokens"),
    ("GRPO", "grpo_curves.png", "GRPO: every reward component, tool use and KL per step"),
    ("Evaluation", "eval_accuracy.png", "Held-out toy world: accuracy (95% bootstrap CI) by question form"),
    ("Evaluation", "trajectory_student.png", "The trained student in the environment (held-out question)"),
]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def _fmt(x: Any, nd: int = 3) -> str:
    return f"{x:.{nd}f}" if isinstance(x, (int, float)) else "-"


def _sections(out: Path) -> dict[str, list[str]]:
    """Markdown text of every section, from the run folder's summaries (missing steps are skipped)."""
    sec: dict[str, list[str]] = {k: [] for k, _, _ in REPORT_FIGURES}
    rows = _read_json(out / "episodes" / "summary.json")
    if rows:
        sec["Tool environment"] += [
            "Scripted policies in the tool environment (the oracle knows the answer's span and box: it is the ceiling "
            "and the SFT teacher).", "",
            "| data | policy | episodes | accuracy | tool calls / ep | frames / ep |", "|---|---|---:|---:|---:|---:|",
            *[f"| {r['data']} | {r['policy']} | {r['n']} | {r['accuracy']:.2f} | {r['tool_calls']} | {r['frames']} |"
              for r in rows], ""]
    counts = out / "pipeline" / "counts.md"
    if counts.exists():
        sec["Data pipeline"] += ["Toy-world clips, the real sample questions and hand-written noisy candidates went "
                                 "through the four stages; the oracle's right, well-formed episodes became SFT data and "
                                 "samples a noisy policy solves sometimes (not always, not never) became RL data.", "",
                                 counts.read_text(), ""]
    sft = _read_json(out / "sft" / "summary.json")
    if sft:
        sec["SFT"] += [f"{sft['episodes']} trajectories, {sft['steps']} steps on {sft['backend']} in {sft['seconds']} s: "
                       f"loss {_fmt(sft['loss_first'])} → {_fmt(sft['loss_last'])}.", ""]
    grpo = _read_json(out / "grpo" / "summary.json")
    if grpo and grpo.get("after"):
        keys = ("total", "accuracy", "format", "parsimony", "tool_calls")
        lines = ["| held-out set | when | " + " | ".join(keys) + " |", "|---|---|" + "---:|" * len(keys)]
        for name, after in grpo["after"].items():
            for when, r in (("before (SFT)", grpo.get("before", {}).get(name)), ("after GRPO", after)):
                if r:
                    lines.append(f"| {name} (n={grpo['n_eval'].get(name, '?')}) | {when} | "
                                 + " | ".join(_fmt(r.get(k)) for k in keys) + " |")
        sec["GRPO"] += [f"{grpo['config']['max_steps']} steps on {grpo['n_train']} curated RL samples. Mean reward "
                        "components of sampled episodes on held-out RL samples:", "", *lines, ""]
    comp = out / "eval" / "comparison.md"
    if comp.exists():
        sec["Evaluation"] += ["Every policy on a toy world generated with a seed nothing was trained on (accuracy % with "
                              "its 95% bootstrap interval; MC and OE). On the tiny random-init student this shows the "
                              "recipe's mechanics (format learned, tools called), not real visual understanding.", "",
                              comp.read_text(), ""]
    return sec


def _timings(out: Path) -> list[str]:
    steps = sorted((out / ".steps").glob("*"), key=lambda p: p.stat().st_mtime) if (out / ".steps").exists() else []
    if not steps:
        return []
    cells = [f"{p.name} {float(p.read_text()):.0f} s" for p in steps]
    return ["Steps (time of the run that made them): " + ", ".join(cells) + ".", ""]


def write_report(out: str | Path) -> Path:
    """Write report.md and report.html into the run folder `out`; returns the HTML path."""
    import markdown_it

    out = Path(out)
    cfg = _read_json(out / "demo_config.json") or {}
    md = ["# seekerlite demo report", "",
          f"Student: `{cfg.get('student', {}).get('model_id', '?')}`{' (quick sizes)' if cfg.get('quick') else ''}; seed {cfg.get('seed', 0)}.",
          "", *_timings(out)]
    sec = _sections(out)
    for name in dict.fromkeys(s for s, _, _ in REPORT_FIGURES):
        md += [f"## {name}", "", *sec.get(name, [])]
        for s, fname, caption in REPORT_FIGURES:
            if s == name and (out / "figures" / fname).exists():
                md += [f"**{caption}**", "", f"![{caption}](figures/{fname})", ""]
    text = "\n".join(md)
    (out / "report.md").write_text(text)
    body = markdown_it.MarkdownIt("commonmark").enable("table").render(text)
    for _, fname, _ in REPORT_FIGURES:  # inline the PNGs: one file to share
        p = out / "figures" / fname
        if p.exists():
            b64 = base64.b64encode(p.read_bytes()).decode()
            body = body.replace(f'src="figures/{fname}"', f'src="data:image/png;base64,{b64}"')
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>seekerlite demo</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:0 1em}img{max-width:100%}"
            "table{border-collapse:collapse}td,th{border:1px solid #999;padding:3px 8px}</style></head><body>"
            f"<!-- {_html.escape(str(out))} -->{body}</body></html>")
    path = out / "report.html"
    path.write_text(page)
    return path
