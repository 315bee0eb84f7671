"""Command lines of the data pipeline (``seekerlite pipeline ...`` and ``seekerlite track ...``).

    seekerlite pipeline run --config seekerlite/configs/pipeline_demo.json --out runs/x   # re-run: resumes
    seekerlite pipeline run --config demo --out runs/x --restart                         # start over
    seekerlite pipeline status --out runs/x                                              # counts per stage
    seekerlite pipeline step stage2_verify --input my.jsonl --out runs/y [--config C]    # one stage on a file
    seekerlite pipeline shard stage3_masks --run runs/x --shard 0/4                      # one worker's shard
    seekerlite pipeline merge stage3_masks --run runs/x --shards 4                       # shards -> the stage's files
    seekerlite track --video V --frame N --box x0,y0,x1,y1 [--backend sam2|opencv] --out track.json

``main_pipeline(argv)`` takes the arguments after ``pipeline``; ``main_track(argv)`` those after ``track``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

STEP_STAGES = ("stage1_filter", "stage2_verify", "stage3_masks", "stage4_render", "sft", "rl")  # `pipeline step` runs these


def _box(text: str) -> list[float]:
    """x0,y0,x1,y1 or "x0 y0 x1 y1" (pixels) -> 4 floats (frames.parse_box)."""
    from seekerlite.frames import box_arg

    return box_arg(text)


def _points(text: str) -> list[list[float]]:
    """'x,y;x,y' -> [[x, y], [x, y]]."""
    try:
        pts = [[float(v) for v in p.split(",")] for p in text.replace(" ", "").split(";") if p]
    except ValueError:
        raise argparse.ArgumentTypeError(f"want x,y;x,y;... (numbers), got {text!r}") from None
    if not pts or any(len(p) != 2 for p in pts):
        raise argparse.ArgumentTypeError(f"want x,y;x,y;..., got {text!r}")
    return pts


def pipeline_parser() -> argparse.ArgumentParser:
    from seekerlite.cliargs import add_config_arguments
    from seekerlite.config import EnvConfig

    p = argparse.ArgumentParser(prog="seekerlite pipeline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("run", help="run (or resume) every stage into a run folder")
    s.add_argument("--config", default="demo", help="a pipeline JSON config, or 'demo' (seekerlite/configs/pipeline_demo.json)")
    s.add_argument("--out", required=True, help="the run folder")
    s.add_argument("--restart", action="store_true", help="delete what an earlier run wrote in --out, then run")
    s.add_argument("--until", default=None, help="stop after this stage")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_arguments(s, EnvConfig, prefix="env.", title="environment of the SFT and RL episodes (overrides the config's env)")
    s = sub.add_parser("status", help="print the counts of a run folder's finished stages")
    s.add_argument("--out", required=True)
    s = sub.add_parser("step", help="run one stage on a samples file (seekerlite JSONL or V2P-Bench) into a run folder")
    s.add_argument("stage", help="stage1_filter | stage2_verify | stage3_masks | stage4_render | sft | rl")
    s.add_argument("--input", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--config", default=None, help="settings of the stage (default: every stage's defaults)")
    s.add_argument("--quiet", action="store_true")
    add_config_arguments(s, EnvConfig, prefix="env.", title="environment of the SFT and RL episodes (overrides the config's env)")
    from seekerlite.pipeline.shard import add_shard_commands

    add_shard_commands(sub)  # pipeline shard / pipeline merge (many workers)
    return p


def main_pipeline(argv: list[str] | None = None) -> int:
    from seekerlite.cliargs import apply_values
    from seekerlite.paths import CLI_ERRORS, report_error
    from seekerlite.pipeline.runner import (
        PipelineConfig,
        format_counts,
        load_config,
        read_counts,
        run_one_stage,
        run_pipeline,
    )
    from seekerlite.pipeline.store import clear_run, rebase_sample
    from seekerlite.pipeline.validate import check_config, check_stage
    from seekerlite.runlock import RunLock

    a = pipeline_parser().parse_args(argv)
    env_flags = {k: v for k, v in vars(a).items() if k.startswith("env.")}
    try:  # everything is checked (config, stage names) before the run folder is touched
        if a.cmd == "run":
            check_stage(a.until, "--until")
            cfg = check_config(apply_values(load_config(a.config), env_flags), a.config)
            with RunLock(a.out):  # held from --restart's clearing to the end of the run
                if a.restart:
                    clear_run(a.out)
                counts = run_pipeline(cfg, a.out, progress=not a.quiet, until=a.until)
            print(format_counts(counts))
            print(f"run folder: {a.out} (SFT: {Path(a.out) / 'sft' / 'sft.jsonl'}, RL: {Path(a.out) / 'rl.jsonl'})")
        elif a.cmd in ("shard", "merge"):
            from seekerlite.pipeline.shard import run_shard_command

            print(format_counts([run_shard_command(a)]))
        elif a.cmd == "status":
            counts = read_counts(a.out)
            print(format_counts(counts) if counts else f"{a.out}: no finished stage")
        else:
            from seekerlite.data import load_samples

            check_stage(a.stage, "stage", STEP_STAGES)
            cfg = apply_values(load_config(a.config) if a.config else PipelineConfig(), env_flags)
            check_config(cfg, a.config or "the default config")
            run = Path(a.out)
            with RunLock(run):  # before anything is written (a toy-world input is generated)
                samples, base = load_samples(a.input)
                samples = [rebase_sample(s, base, run) for s in samples]
                print(format_counts([run_one_stage(a.stage, samples, run, cfg, progress=not a.quiet)]))
        return 0
    except CLI_ERRORS as e:
        return report_error(e)


def track_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seekerlite track", description="Track one instance through a video from a box "
                                "(or points) on one frame; write per-frame boxes and RLE masks (JSON).")
    p.add_argument("--video", required=True)
    p.add_argument("--frame", type=int, required=True, help="0-based index of the frame the box/points are on")
    p.add_argument("--box", type=_box, default=None, help="x0,y0,x1,y1 in pixels")
    p.add_argument("--points", type=_points, default=None, help="sam2 only: x,y;x,y in pixels (on the instance)")
    p.add_argument("--backend", choices=("sam2", "opencv"), default="opencv")
    p.add_argument("--checkpoint", default=None, help="sam2: a .pt file, a hub id (facebook/sam2.1-hiera-tiny), or "
                   "'random' (untrained weights: meaningless masks, for testing the code path)")
    p.add_argument("--sam2-config", default=None, help="sam2: model config matching the checkpoint")
    p.add_argument("--image-size", type=int, default=None, help="sam2: model input side (default 1024; 256 is faster)")
    p.add_argument("--device", default=None, help="sam2: cuda | cpu (default: cuda when available)")
    p.add_argument("--seed", type=int, default=0, help="opencv: seeds MIL's random features")
    p.add_argument("--out", required=True, help="output JSON file")
    return p


def main_track(argv: list[str] | None = None) -> int:
    from seekerlite.paths import CLI_ERRORS, check_output_file, report_error, writing
    from seekerlite.tracking import SAM2_DEFAULT_CONFIG, track_video

    a = track_parser().parse_args(argv)
    try:
        if a.box is None and a.points is None:
            raise ValueError("give --box (or --points with --backend sam2)")
        check_output_file(a.out)  # before tracking: an --out that cannot be written is refused at once
        if a.backend == "sam2":
            kw = dict(checkpoint=a.checkpoint, config=a.sam2_config or SAM2_DEFAULT_CONFIG, image_size=a.image_size,
                      device=a.device)
        else:
            kw = dict(seed=a.seed)
        if a.box is not None:  # a box reaching outside the frame is a mistake, not something to clip silently
            from seekerlite.frames import check_box_in_frame
            from seekerlite.video import probe

            info = probe(a.video)
            check_box_in_frame(a.box, info.width, info.height, f"{a.video}: --box")
        tr = track_video(a.video, a.frame, box=a.box, points=a.points, backend=a.backend, **kw)
    except CLI_ERRORS as e:
        return report_error(e)
    m = tr.masklet
    out = {"video": str(a.video), "fps": tr.fps, "num_frames": len(m.frame_indices), "backend": tr.backend,
           "prompt": {"frame": a.frame, "box": a.box, "points": a.points}, "seconds": tr.seconds,
           "visible_span": list(tr.visible_span) if tr.visible_span else None,
           "frames": [{"frame": f, "time": round(tr.time_of(f), 3), "box": b, "rle": m.rles[i] if m.rles else None}
                      for i, (f, b) in enumerate(zip(m.frame_indices, m.boxes))]}
    try:
        with writing(a.out):
            Path(a.out).write_text(json.dumps(out))
    except CLI_ERRORS as e:
        return report_error(e)
    vis = len(m.visible_frames())
    span = "never" if tr.visible_span is None else f"{tr.visible_span[0]:.2f}-{tr.visible_span[1]:.2f} s"
    sheet = _track_sheet(a.video, m, a.out)
    print(f"{tr.backend}: {vis}/{len(m.frame_indices)} frames with the instance, visible {span}, "
          f"tracked in {tr.seconds:.1f} s; wrote {a.out}")
    if sheet is not None:
        print(f"check the track by eye: {sheet} (the tracked box on 8 frames)")
    return 0


def _track_sheet(video: str, masklet: object, out_json: str) -> Path | None:
    """Write <out>.png next to the track's JSON: the tracked box on 8 frames (frames.contact_sheet)."""
    from seekerlite.frames import contact_sheet, save_png
    from seekerlite.paths import CLI_ERRORS
    from seekerlite.video import open_video

    try:
        with open_video(video) as reader:
            return save_png(contact_sheet(reader, masklet), Path(out_json).with_suffix(".png"))
    except CLI_ERRORS as e:  # the JSON is written: a failed picture is a warning, not a failed track
        print(f"warning: no contact sheet ({e})", file=sys.stderr)
        return None


if __name__ == "__main__":
    sys.exit(main_pipeline())
