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
    ("Data pipeline", "pipeline_prompts.png", "Marked frames chosen and drawn by stage 4 (one per mark type)"),
    ("SFT", "sft_loss.png", "Cold-start SFT: the loss on the assistant's tokens per optimizer step"),
    ("GRPO", "grpo_curves.png", "GRPO: every reward component, tool use and the drift from the SFT model per step"),
    ("Evaluation", "eval_accuracy.png", "Held-out toy world: accuracy (95% bootstrap CI) by question form, with chance"),
    ("Evaluation", "eval_looks.png", "Where the trained student looked: the grid cells it asked crop_video for, "
                                     "against the cell that truly held the target"),
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
        sec["SFT"] += [f"The student imitated {sft['episodes']} oracle trajectories for {sft['steps']} optimizer steps "
                       f"({_training_kind(sft.get('backend'))}, {sft['seconds']:.0f} s); the loss on its own tokens "
                       f"went from {_fmt(sft['loss_first'])} to {_fmt(sft['loss_last'])}.", ""]
    grpo = _read_json(out / "grpo" / "summary.json")
    if grpo and grpo.get("after"):
        keys = ("total", "accuracy", "format", "parsimony", "tool_calls")
        heads = ("total reward", "accuracy", "format", "parsimony (fewer calls)", "tool calls per episode")
        lines = ["| held-out set | when | " + " | ".join(heads) + " |", "|---|---|" + "---:|" * len(keys)]
        for name, after in grpo["after"].items():
            for when, r in (("before (SFT)", grpo.get("before", {}).get(name)), ("after GRPO", after)):
                if r:
                    lines.append(f"| {name} (n={grpo['n_eval'].get(name, '?')}) | {when} | "
                                 + " | ".join(_fmt(r.get(k)) for k in keys) + " |")
        sec["GRPO"] += [f"{grpo['config']['max_steps']} optimizer steps on {grpo['n_train']} curated RL questions, "
                        "each step sampling a group of episodes per question and pushing up the better ones. Reward = "
                        "0.8 accuracy + 0.15 format + 0.05 parsimony; the mean over sampled episodes on held-out RL "
                        "questions, before and after:", "", *lines, ""]
    comp = out / "eval" / "comparison.md"
    if comp.exists():
        sec["Evaluation"] += ["Every policy on a toy world generated with a seed nothing was trained on (accuracy % with "
                              "its 95% bootstrap interval; MC and OE). *no tools* rows are the same trained student "
                              "with its tools switched off: it answers from the first turn (the marked frame and the "
                              "low-resolution overview) - the gap to its row with tools is what looking closer bought.",
                              "", comp.read_text(), ""]
    return sec


def _timings(out: Path) -> list[str]:
    steps = sorted((out / ".steps").glob("*"), key=lambda p: p.stat().st_mtime) if (out / ".steps").exists() else []
    if not steps:
        return []
    cells = [f"{p.name} {float(p.read_text()):.0f} s" for p in steps]
    return ["Time of each step (in the run that made it): " + ", ".join(cells) + ".", ""]


def _training_kind(backend: Any) -> str:
    return {"full": "every weight trained", "unsloth": "LoRA adapters via unsloth",
            "bnb-4bit": "LoRA adapters on a 4-bit base"}.get(str(backend), str(backend))


def _pct(st: dict[str, Any] | None) -> str:
    if not st:
        return "-"
    return f"{100 * st['accuracy']:.0f}% (95% CI {100 * st['ci_low']:.0f}-{100 * st['ci_high']:.0f}%, n={st['n']})"


ORACLE_LOOK = "GRPO, oracle's crop"  # the demo's row of the GRPO student answering after the oracle's crop


def summary_lines(out: str | Path) -> list[str]:
    """The report's opening box (markdown inside a ``<div class="summary">``): the task, what each step did, the
    headline result and the honest caveat, all read from the run folder."""
    out = Path(out)
    cfg = _read_json(out / "demo_config.json") or {}
    model = cfg.get("student", {}).get("model_id", "?")
    tiny = model in ("tiny", "tiny-random", "seekerlite/tiny-qwen3-vl", "tiny-pretrained")
    pretrained = model == "tiny-pretrained"
    steps: list[str] = []
    counts = _read_json(out / "pipeline" / "counts.json")
    if counts:
        by = {c["stage"]: c for c in counts}
        first = counts[0]
        n_in = first["kept"] + first["dropped"]
        srcs = ((_read_json(out / "pipeline" / "run.json") or {}).get("config") or {}).get("sources") or []
        names = ", ".join(str(x.get("name") or x.get("kind")) for x in srcs if isinstance(x, dict))
        steps.append(f"**Data pipeline**: {n_in} candidate questions{f' ({names})' if names else ''} went through "
                     f"4 checks; {by.get('sft', {}).get('kept', '?')} became SFT trajectories "
                     f"played by an oracle, {by.get('rl', {}).get('kept', '?')} became RL questions (a noisy policy "
                     "solves them sometimes).")
    sft = _read_json(out / "sft" / "summary.json")
    if sft:
        steps.append(f"**SFT**: {sft['steps']} steps imitating the oracle's trajectories (loss "
                     f"{_fmt(sft['loss_first'], 2)} → {_fmt(sft['loss_last'], 2)}): the student learns the protocol "
                     "- think, call a tool, answer with a letter.")
    grpo = _read_json(out / "grpo" / "summary.json")
    if grpo:
        tot = [(grpo.get("before", {}).get(k, {}).get("total"), v.get("total")) for k, v in grpo.get("after", {}).items()]
        change = (f"; mean reward on held-out RL questions {_fmt(tot[0][0])} → {_fmt(tot[0][1])}"
                  if tot and tot[0][0] is not None else "")
        steps.append(f"**GRPO**: {grpo['config']['max_steps']} steps of reinforcement learning with the tools in the "
                     f"loop{change}.")
    evals = _read_json(out / "eval" / "summaries.json") or {}
    chance = (_read_json(out / "eval" / "chance.json") or {}).get("mc")
    head: list[str] = []
    if evals:
        n = next(iter(evals.values()))["overall"]["n"]
        steps.append(f"**Evaluation**: every policy on {n} held-out toy-world questions nothing was trained on.")
        by = {form: {k: v.get("by_form", {}).get(form) for k, v in evals.items()} for form in ("mc", "oe")}
        for name in ("base", "SFT", "GRPO"):
            parts = []
            for form, acc in by.items():
                if acc.get(name):
                    off = acc.get(f"{name} no tools")
                    parts.append(f"{form.upper()} {_pct(acc[name])}" + (f", tools off {_pct(off)}" if off else ""))
            if parts:
                head.append(f"{name}: " + "; ".join(parts))
        looked = by["oe"].get(ORACLE_LOOK)
        if looked:
            head.append(f"GRPO answering after the oracle's crop: OE {_pct(looked)}")
        if chance is not None:
            head.append(f"guessing an MC letter: {100 * chance:.0f}%")
        if by["mc"].get("oracle"):
            head.append(f"oracle (the ceiling): {_pct(by['mc']['oracle'])}")
    caveat = []
    if cfg.get("quick"):
        caveat.append("This is a **--quick** run: it checks that every step runs, at sizes far too small to learn "
                      "anything. Its numbers mean nothing.")
    if tiny and pretrained:
        caveat.append("The student is the embedded tiny Qwen3-VL (about a million parameters), pretrained for a few "
                      "minutes to name colours and shapes in toy-world frames and crops (`seekerlite build-tiny-model "
                      "--pretrain`), never on these questions. It sees 1-2 visual tokens per object in the overview, "
                      "more in a crop: compare each trained row with its *no tools* row. With this few questions the "
                      "95% intervals are wide: differences inside them are noise; `benchmarks/learning_signal.py` "
                      "repeats this over seeds.")
    elif tiny:
        caveat.append("The student is the embedded tiny Qwen3-VL (about a million parameters) from a random "
                      "initialisation: SFT teaches it the format and the tool calls, but it was never taught to see, "
                      "so expect accuracy near chance. With this few questions the 95% intervals are wide: "
                      "differences inside them are noise.")
    else:
        caveat.append("Held-out questions come from the toy world; intervals are 95% bootstrap CIs - differences "
                      "inside them are noise.")
    lines = ['<div class="summary">', "",
             "**The task.** A student model answers a question about *one marked object* in a video (the mark is "
             "drawn on one frame) by calling tools - `view_visual_prompt()` to see the marked frame again and "
             "`crop_video(start, end, region)` to look closer - before it answers.", "",
             f"**What ran** (student `{model}`, seed {cfg.get('seed', 0)}):", "", *[f"- {x}" for x in steps], ""]
    if head:
        lines += ["**Result.** " + "; ".join(head) + ".", ""]
    lines += ["**Read this honestly.** " + " ".join(caveat), "", "</div>", ""]
    return lines


CSS = ("body{font-family:sans-serif;font-size:18px;line-height:1.45;max-width:1200px;margin:auto;padding:0 1em}"
       "img{max-width:100%}table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 10px}"
       ".summary{border:3px solid #1f5fa8;background:#eef4fb;border-radius:8px;padding:0.4em 1.2em;margin:1em 0}"
       "h2{border-bottom:2px solid #ccc;margin-top:1.6em}")


def write_report(out: str | Path) -> Path:
    """Write report.md and report.html into the run folder `out`; returns the HTML path."""
    import markdown_it

    out = Path(out)
    md = ["# seekerlite demo report", "", *summary_lines(out)]
    sec = _sections(out)
    for name in dict.fromkeys(s for s, _, _ in REPORT_FIGURES):
        md += [f"## {name}", "", *sec.get(name, [])]
        for s, fname, caption in REPORT_FIGURES:
            if s == name and (out / "figures" / fname).exists():
                md += [f"**{caption}**", "", f"![{caption}](figures/{fname})", ""]
    md += ["## Run details", "", *_timings(out), "Rebuild this page from the run folder with "
           f"`python -c \"from seekerlite.report import write_report; write_report('{out}')\"`.", ""]
    text = "\n".join(md)
    (out / "report.md").write_text(text)
    body = markdown_it.MarkdownIt("commonmark").enable("table").render(text)
    for _, fname, _ in REPORT_FIGURES:  # inline the PNGs: one file to share
        p = out / "figures" / fname
        if p.exists():
            b64 = base64.b64encode(p.read_bytes()).decode()
            body = body.replace(f'src="figures/{fname}"', f'src="data:image/png;base64,{b64}"')
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>seekerlite demo</title>"
            f"<style>{CSS}</style></head><body><!-- {_html.escape(str(out))} -->{body}</body></html>")
    path = out / "report.html"
    path.write_text(page)
    return path


def results_table(out: str | Path) -> str:
    """The README's results table, generated from a demo run folder's evaluation (never copied by hand):

        python -m seekerlite.report runs/demo
    """
    out = Path(out)
    evals = _read_json(out / "eval" / "summaries.json")
    if not evals:
        raise FileNotFoundError(f"{out / 'eval' / 'summaries.json'}: not a finished demo run (no evaluation)")
    n = next(iter(evals.values()))["overall"]["n"]
    rows = [f"| held-out toy world, {n} questions | accuracy MC (95% CI) | accuracy OE (95% CI) | tool calls / episode |",
            "|---|---|---|---|"]
    for name, s in evals.items():
        forms = s.get("by_form", {})
        rows.append(f"| {name} | {_pct(forms.get('mc'))} | {_pct(forms.get('oe'))} | "
                    f"{s['overall']['mean_tool_calls']:.2f} |")
    cfg = _read_json(out / "demo_config.json") or {}
    rows.append("")
    rows.append(f"(`python -m seekerlite.report {out}`: student `{cfg.get('student', {}).get('model_id', '?')}`, "
                f"seed {cfg.get('seed', 0)}{', --quick' if cfg.get('quick') else ''})")
    return "\n".join(rows)


if __name__ == "__main__":
    import sys

    print(results_table(sys.argv[1] if len(sys.argv) > 1 else "runs/demo"))
