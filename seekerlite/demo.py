"""`seekerlite demo`: the main job on the embedded default, end to end, with a report.

    seekerlite demo --out runs/demo

What runs today (each step is skipped on a re-run when its output exists):
    1. toy world      clips of moving shapes with exact masks + instance-level QA      -> toyworld/
    2. real footage   the hand-annotated pedestrians of sample_data (OpenCV's vtest)   -> figures/
    3. prompts        every visual-prompt type on a real pedestrian and a toy object   -> figures/
    4. episodes       the oracle and a random policy in the tool environment           -> episodes/
    5. report         report.md + a self-contained report.html                          -> report.html
The pipeline, SFT, GRPO and evaluation steps join this list as they land (see the issues).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from seekerlite.schema import Sample, load_jsonl, resolve_path  # noqa: E402

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"


def _step(out: Path, name: str, fn: Callable[[], object]) -> None:
    """Run `fn` once: a marker file records completion so a second run reuses the result."""
    marker = out / ".steps" / name
    if marker.exists():
        print(f"[demo] {name}: done before, reused")
        return
    t = time.perf_counter()
    print(f"[demo] {name} ...", flush=True)
    fn()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{time.perf_counter() - t:.1f}\n")
    print(f"[demo] {name}: {time.perf_counter() - t:.1f} s", flush=True)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def _real_samples() -> tuple[list[Sample], Path]:
    path = SAMPLE_DATA / "annotations" / "vtest_samples.jsonl"
    return load_jsonl(path), path.parent


def run_demo(out: str | Path = "runs/demo", seed: int = 0) -> Path:
    """Run every demo step into `out` and return the path of the HTML report."""
    from seekerlite.policies import OraclePolicy, RandomPolicy, run_episodes
    from seekerlite.synth import ToyWorldConfig, generate_dataset
    from seekerlite.video import open_video
    from seekerlite.viz import draw_trajectory, show_masklets, show_prompt_gallery

    out = Path(out)
    figs = out / "figures"
    toy_jsonl = out / "toyworld" / "samples.jsonl"

    _step(out, "toyworld", lambda: generate_dataset(out / "toyworld", n_clips=4, seed=seed, config=ToyWorldConfig(seed=seed)))
    toy = load_jsonl(toy_jsonl)
    real, real_base = _real_samples()

    def real_figures() -> None:
        s = real[0]
        with open_video(resolve_path(s.video_path, real_base)) as r:
            idx = [s.visual_prompt.frame_index + k * 10 for k in range(4)]
            idx = [i for i in idx if i < r.num_frames]
            frames = [r.get_frame(i) for i in idx]
            boxes = [[m.box_at(i) for m in _masklets_of(real)] for i in idx]
            fig = show_masklets([f.image for f in frames], [[None] * len(b) for b in boxes], boxes,
                                [f"t={f.timestamp:.1f}s" for f in frames])
            _save(fig, figs / "real_annotations.png")
            vp = s.visual_prompt
            _save(show_prompt_gallery(r.get_frame(vp.frame_index).image, vp.box, seed=seed), figs / "prompts_real.png")

    def toy_figures() -> None:
        s = toy[0]
        with open_video(resolve_path(s.video_path, toy_jsonl.parent)) as r:
            step = max(1, r.num_frames // 4)
            idx = list(range(0, r.num_frames, step))[:4]
            frames = [r.get_frame(i).image for i in idx]
        fig = show_masklets(frames, [[s.masklet.mask_at(i)] for i in idx], [[s.masklet.box_at(i)] for i in idx],
                            [f"frame {i}" for i in idx])
        _save(fig, figs / "toy_masks.png")
        i = s.visual_prompt.frame_index
        with open_video(resolve_path(s.video_path, toy_jsonl.parent)) as r:
            frame = r.get_frame(i).image
        _save(show_prompt_gallery(frame, s.masklet.box_at(i), s.masklet.mask_at(i), seed=seed), figs / "prompts_toy.png")

    def episodes() -> None:
        rows = []
        for name, samples, base in [("toy", toy, toy_jsonl.parent), ("real", real, real_base)]:
            for policy in (OraclePolicy(seed=seed), RandomPolicy(seed=seed)):
                trajs = run_episodes(policy, samples, base_dir=base, progress=False)
                acc = sum(bool(t.correct) for t in trajs) / max(1, len(trajs))
                rows.append({"data": name, "policy": policy.name, "n": len(trajs), "accuracy": round(acc, 3),
                             "tool_calls": round(sum(t.n_tool_calls for t in trajs) / len(trajs), 2),
                             "frames": round(sum(t.n_frames for t in trajs) / len(trajs), 2)})
                if policy.name == "oracle":
                    t = trajs[0]
                    t.save(out / "episodes" / f"{name}_oracle")
                    video = resolve_path(samples[0].video_path, base)
                    _save(draw_trajectory(t, video_path=video), figs / f"trajectory_{name}.png")
        (out / "episodes").mkdir(parents=True, exist_ok=True)
        (out / "episodes" / "summary.json").write_text(json.dumps(rows, indent=1))

    _step(out, "real_figures", real_figures)
    _step(out, "toy_figures", toy_figures)
    _step(out, "episodes", episodes)
    return write_report(out)


def _masklets_of(samples: list[Sample]) -> list:
    seen, out = set(), []
    for s in samples:
        if s.masklet is not None and s.masklet.instance_id not in seen:
            seen.add(s.masklet.instance_id)
            out.append(s.masklet)
    return out


REPORT_FIGURES = [
    ("real_annotations.png", "Real footage (OpenCV's vtest.avi): hand-checked pedestrian boxes"),
    ("prompts_real.png", "Every visual-prompt type on one pedestrian"),
    ("toy_masks.png", "Toy world: exact per-frame mask of the target"),
    ("prompts_toy.png", "Every visual-prompt type on a toy-world object (from its exact mask)"),
    ("trajectory_toy.png", "An oracle trajectory on a toy-world sample"),
    ("trajectory_real.png", "An oracle trajectory on a real-video sample"),
]


def write_report(out: Path) -> Path:
    """report.md (PNG links) and report.html (images inlined: one file to share)."""
    rows = json.loads((out / "episodes" / "summary.json").read_text())
    table = ["| data | policy | episodes | accuracy | tool calls / ep | frames / ep |", "|---|---|---|---|---|---|"]
    table += [f"| {r['data']} | {r['policy']} | {r['n']} | {r['accuracy']:.2f} | {r['tool_calls']} | {r['frames']} |" for r in rows]
    md = ["# seekerlite demo report", "", "Episodes in the tool environment:", "", *table, ""]
    html = ["<html><head><meta charset='utf-8'><title>seekerlite demo</title><style>body{font-family:sans-serif;"
            "max-width:1100px;margin:auto}img{max-width:100%}table{border-collapse:collapse}td,th{border:1px solid #999;"
            "padding:3px 8px}</style></head><body><h1>seekerlite demo report</h1><h2>Episodes</h2><table>",
            "<tr><th>data</th><th>policy</th><th>episodes</th><th>accuracy</th><th>tool calls / ep</th><th>frames / ep</th></tr>"]
    html += [f"<tr><td>{r['data']}</td><td>{r['policy']}</td><td>{r['n']}</td><td>{r['accuracy']:.2f}</td>"
             f"<td>{r['tool_calls']}</td><td>{r['frames']}</td></tr>" for r in rows]
    html.append("</table>")
    for name, caption in REPORT_FIGURES:
        p = out / "figures" / name
        if not p.exists():
            continue
        md += [f"## {caption}", "", f"![{caption}](figures/{name})", ""]
        b64 = base64.b64encode(p.read_bytes()).decode()
        html.append(f"<h2>{caption}</h2><img alt='{name}' src='data:image/png;base64,{b64}'>")
    html.append("</body></html>")
    (out / "report.md").write_text("\n".join(md))
    path = out / "report.html"
    path.write_text("\n".join(html))
    return path
