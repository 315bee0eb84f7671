"""The `seekerlite` command: one sub-command per step, each with ``--help`` generated from its config dataclass.

    seekerlite demo                       # the main job on the embedded default (CPU is fine)
    seekerlite pipeline run --out runs/pipe                      # data: stages 1-4, SFT trajectories, RL samples
    seekerlite sft --data runs/pipe --out runs/sft                # cold-start SFT
    seekerlite grpo --model runs/sft --data runs/pipe --out runs/grpo   # agentic GRPO
    seekerlite eval --model runs/grpo --data toy:2@7 --out runs/eval    # evaluation (the run's own settings)
    seekerlite episode --sample FILE.jsonl --index N --model oracle --out DIR
    seekerlite toyworld --out runs/toy    # toy-world clips + instance-level QA (JSONL)
    seekerlite probe VIDEO                # fps, frames, duration, size
    seekerlite frame --video V --time T --grid --out F.png   # a frame with a pixel grid: read your box off it
    seekerlite prompts --video V --frame N --box x0,y0,x1,y1 --out DIR   # every visual-prompt type
    seekerlite track --video V --frame N --box x0,y0,x1,y1 --out track.json   # one masklet (SAM2/OpenCV)
    seekerlite build-tiny-model           # build the embedded tiny Qwen3-VL into the cache
    seekerlite export verl --data runs/pipe --out runs/verl   # multi-GPU agentic GRPO on verl

Bad input (a missing, unreadable or unwritable file, a full disk, a malformed record or config, a broken video, a
box the tracker refuses, a run folder in use or started with other settings) ends in one ``error: ...`` line that
names the file (and the field) first, and exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from seekerlite.paths import CLI_ERRORS, DEBUG_ENV, error_line

# Commands whose module parses its own flags: name -> ("module:function", help). Imported only when run.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("seekerlite.demo:main_demo", "run the whole recipe on the embedded default and write a report"),
    "pipeline": ("seekerlite.pipeline.cli:main_pipeline", "the four data stages, SFT trajectories and RL samples"),
    "track": ("seekerlite.pipeline.cli:main_track", "track one instance through a video from a box (SAM2 or OpenCV)"),
    "sft": ("seekerlite.train.sft:main_sft", "cold-start SFT (LoRA/QLoRA or full) on multi-turn tool trajectories"),
    "grpo": ("seekerlite.train.grpo:main_grpo", "agentic GRPO in the video environment (or the MC-vs-OE experiment)"),
    "eval": ("seekerlite.evaluate.cli:main_eval", "evaluate a policy (or score a V2P-Bench response file)"),
    "episode": ("seekerlite.cli:main_episode", "play one episode and write the trajectory (JSON + PNG)"),
    "toyworld": ("seekerlite.cli:main_toyworld", "generate toy-world clips with exact masks and QA"),
    "probe": ("seekerlite.cli:main_probe", "print a video's fps, frame count, duration and size"),
    "frame": ("seekerlite.frames:main_frame", "one frame as a PNG with a labelled pixel grid (find a box to mark)"),
    "prompts": ("seekerlite.cli:main_prompts", "render every visual-prompt type on one instance"),
    "build-tiny-model": ("seekerlite.models.tiny:main_build_tiny", "build the embedded tiny Qwen3-VL into the cache"),
    "plan": ("seekerlite.plan:main_plan", "tokens per episode and peak GPU memory per phase; the settings that fit"),
    "export": ("seekerlite.integrations.verl_export:main_export", "export RL samples for another engine (verl: parquet, tool YAML, launch script)"),
}


def _box(text: str) -> list[float]:
    try:
        vals = [float(v) for v in text.replace(" ", ",").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"want x0,y0,x1,y1 (pixels), got {text!r}") from None
    if len(vals) != 4:
        raise argparse.ArgumentTypeError(f"want x0,y0,x1,y1 (pixels), got {text!r}")
    return vals


def main_toyworld(argv: list[str]) -> int:
    """``seekerlite toyworld --out DIR [--n-clips N] [--seed S]``: toy-world clips and their questions."""
    from seekerlite.toyworld import ToyWorldConfig, generate_dataset

    p = argparse.ArgumentParser(prog="seekerlite toyworld", description=main_toyworld.__doc__)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n-clips", type=int, default=8, help="clips to generate")
    p.add_argument("--seed", type=int, default=0, help="world seed")
    a = p.parse_args(argv)
    if a.n_clips < 1:
        raise ValueError(f"--n-clips must be >= 1, got {a.n_clips}")
    print(f"wrote {generate_dataset(a.out, n_clips=a.n_clips, seed=a.seed, config=ToyWorldConfig(seed=a.seed))}")
    return 0


def main_probe(argv: list[str]) -> int:
    """``seekerlite probe VIDEO``: fps, frame count, duration and size."""
    from seekerlite.video import probe

    p = argparse.ArgumentParser(prog="seekerlite probe", description=main_probe.__doc__)
    p.add_argument("video")
    info = probe(p.parse_args(argv).video)
    print(json.dumps({**info.__dict__, "duration": round(info.duration, 3)}, indent=1))
    return 0


def main_prompts(argv: list[str]) -> int:
    """``seekerlite prompts --video V --frame N --box x0,y0,x1,y1 --out DIR``: every mark type on one box."""
    import matplotlib

    matplotlib.use("Agg")
    from seekerlite.video import open_video
    from seekerlite.viz import show_prompt_gallery

    p = argparse.ArgumentParser(prog="seekerlite prompts", description=main_prompts.__doc__)
    p.add_argument("--video", required=True)
    p.add_argument("--frame", type=int, required=True, help="0-based frame index")
    p.add_argument("--box", type=_box, required=True, help="x0,y0,x1,y1 in pixels")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    with open_video(a.video) as reader:
        if not 0 <= a.frame < reader.num_frames:
            raise ValueError(f"{a.video}: --frame {a.frame} is outside the video (frames 0..{reader.num_frames - 1})")
        frame = reader.get_frame(a.frame).image
    from seekerlite.frames import check_box_in_frame

    check_box_in_frame(a.box, frame.shape[1], frame.shape[0], "--box")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    show_prompt_gallery(frame, a.box, seed=a.seed).savefig(out / "prompts.png", dpi=110, bbox_inches="tight")
    print(f"wrote {out / 'prompts.png'}")
    return 0


def main_episode(argv: list[str]) -> int:
    """``seekerlite episode --sample FILE --index N --model SPEC --out DIR``: one episode, saved and drawn."""
    import matplotlib

    matplotlib.use("Agg")
    from seekerlite.cliargs import add_config_arguments, apply_values
    from seekerlite.config import EnvConfig
    from seekerlite.data import load_samples
    from seekerlite.policies import POLICY_HELP, make_policy, run_episode
    from seekerlite.schema import resolve_path
    from seekerlite.viz import draw_trajectory

    p = argparse.ArgumentParser(prog="seekerlite episode", description=main_episode.__doc__)
    p.add_argument("--sample", required=True, help="a samples JSONL file (or toy[:N][@SEED])")
    p.add_argument("--index", type=int, default=0, help="which sample (0-based)")
    p.add_argument("--model", "--policy", dest="policy", default="oracle", help=POLICY_HELP)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    add_config_arguments(p, EnvConfig, prefix="env.", title="environment")
    a = p.parse_args(argv)
    samples, base = load_samples(a.sample, out_dir=a.out)
    if not 0 <= a.index < len(samples):
        raise ValueError(f"--index {a.index} is out of range: {a.sample} has {len(samples)} samples")
    env = apply_values(EnvConfig(), {k[4:]: v for k, v in vars(a).items() if k.startswith("env.")})
    policy, env = make_policy(a.policy, env, seed=a.seed)
    sample = samples[a.index]
    traj = run_episode(policy, sample, env, base_dir=base)
    out = Path(a.out)
    path = traj.save(out)
    draw_trajectory(traj, video_path=resolve_path(sample.video_path, base)).savefig(out / "trajectory.png", dpi=90,
                                                                                   bbox_inches="tight")
    print(f"answer={traj.answer!r} correct={traj.correct} tool_calls={traj.n_tool_calls} frames={traj.n_frames}")
    print(f"wrote {path} and {out / 'trajectory.png'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seekerlite", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for name, (_, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return p


def run_command(name: str, argv: list[str]) -> int:
    """Import the command's module and run it with `argv` (the flags after the command's name)."""
    module, func = COMMANDS[name][0].split(":")
    return int(getattr(importlib.import_module(module), func)(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv or ["--help"])  # prints help / the error, exits
        return 2
    if debug:  # commands that catch their own errors (pipeline, track) re-raise them too (paths.report_error)
        before = os.environ.get(DEBUG_ENV)
        os.environ[DEBUG_ENV] = "1"
        try:
            return run_command(argv[0], argv[1:])
        finally:
            if before is None:
                os.environ.pop(DEBUG_ENV, None)
    try:
        return run_command(argv[0], argv[1:])
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except CLI_ERRORS as e:  # files and disks, bad records and configs, broken videos, busy run folders
        print(f"error: {error_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
