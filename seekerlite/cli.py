"""The `seekerlite` command.

    seekerlite demo                       # the main job on the embedded default (CPU is fine)
    seekerlite toyworld --out runs/toy    # toy-world clips + instance-level QA (JSONL)
    seekerlite probe VIDEO                # fps, frames, duration, size
    seekerlite prompts --video V --frame N --box x0,y0,x1,y1 --out DIR   # every visual-prompt type
    seekerlite episode --sample FILE.jsonl --index N --policy oracle|random|tiny|MODEL_DIR --out DIR
    seekerlite eval --model oracle|random|no-tool:tiny|tiny|MODEL_DIR --data FILE.jsonl|V2P.jsonl|toy:N --out DIR
    seekerlite pipeline run --config seekerlite/configs/pipeline_demo.json --out runs/pipe   # data stages
    seekerlite track --video V --frame N --box x0,y0,x1,y1 --out track.json   # one masklet (SAM2/OpenCV)
    seekerlite sft --help                 # cold-start SFT on tool trajectories
    seekerlite grpo --help                # agentic GRPO (or --experiment mc-vs-oe)
    seekerlite build-tiny-model           # build the embedded tiny Qwen3-VL into the cache
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _box(text: str) -> list[float]:
    vals = [float(v) for v in text.split(",")]
    if len(vals) != 4:
        raise argparse.ArgumentTypeError(f"want x0,y0,x1,y1 got {text!r}")
    return vals


def cmd_toyworld(a: argparse.Namespace) -> int:
    from seekerlite.synth import ToyWorldConfig, generate_dataset

    path = generate_dataset(a.out, n_clips=a.n_clips, seed=a.seed, config=ToyWorldConfig(seed=a.seed))
    print(f"wrote {path}")
    return 0


def cmd_probe(a: argparse.Namespace) -> int:
    from seekerlite.video import probe

    info = probe(a.video)
    print(json.dumps({**info.__dict__, "duration": info.duration}, indent=1))
    return 0


def cmd_prompts(a: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from seekerlite.video import open_video
    from seekerlite.viz import show_prompt_gallery

    with open_video(a.video) as reader:
        frame = reader.get_frame(a.frame).image
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    fig = show_prompt_gallery(frame, a.box, seed=a.seed)
    fig.savefig(out / "prompts.png", dpi=110, bbox_inches="tight")
    print(f"wrote {out / 'prompts.png'}")
    return 0


def _make_policy(spec: str, seed: int):
    from seekerlite.policies import HFPolicy, OraclePolicy, RandomPolicy

    if spec == "oracle":
        return OraclePolicy(seed=seed)
    if spec == "random":
        return RandomPolicy(seed=seed)
    from seekerlite.models import TINY_MODEL_ID, load_student

    student = load_student(TINY_MODEL_ID if spec == "tiny" else spec, lora=None)
    return HFPolicy(student.model, student.processor, name=spec)


def cmd_episode(a: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from seekerlite.policies import run_episode
    from seekerlite.schema import load_jsonl, resolve_path
    from seekerlite.viz import draw_trajectory

    samples = load_jsonl(a.sample)
    if not 0 <= a.index < len(samples):
        print(f"error: --index {a.index} is out of range: {a.sample} has {len(samples)} samples", file=sys.stderr)
        return 2
    sample, base = samples[a.index], str(Path(a.sample).parent)
    traj = run_episode(_make_policy(a.policy, a.seed), sample, base_dir=base)
    out = Path(a.out)
    path = traj.save(out)
    fig = draw_trajectory(traj, video_path=resolve_path(sample.video_path, base))
    fig.savefig(out / "trajectory.png", dpi=90, bbox_inches="tight")
    print(f"answer={traj.answer!r} correct={traj.correct} tool_calls={traj.n_tool_calls} frames={traj.n_frames}")
    print(f"wrote {path} and {out / 'trajectory.png'}")
    return 0


def cmd_build_tiny(a: argparse.Namespace) -> int:
    from seekerlite.models import main_build_tiny

    return main_build_tiny(a.rest) or 0


def cmd_demo(a: argparse.Namespace) -> int:
    from seekerlite.demo import DemoConfig, run_demo

    cfg = DemoConfig.for_model(a.model, out=a.out, seed=a.seed) if a.model else DemoConfig(out=a.out, seed=a.seed)
    if a.quick:
        cfg = cfg.quick_sizes()
    report = run_demo(config=cfg)
    print(f"demo report: {report}")
    return 0


# Commands with their own parsers (`seekerlite <cmd> --help` documents their flags).
DELEGATED = {"pipeline": "run the four data stages, SFT synthesis and RL curation (run/status/step)",
             "track": "track one instance through a video from a box (SAM2 or OpenCV)",
             "sft": "QLoRA/LoRA cold-start SFT on multi-turn tool trajectories",
             "grpo": "agentic GRPO in the video environment (or the MC-vs-OE experiment)"}


def _delegate(name: str):
    """A command function that hands the rest of the command line to the module that owns `name`."""
    def run(a: argparse.Namespace) -> int:
        if name in ("pipeline", "track"):
            from seekerlite.pipeline.cli import main_pipeline, main_track

            return (main_pipeline if name == "pipeline" else main_track)(a.rest)
        if name == "sft":
            from seekerlite.train.sft import main_sft

            return main_sft(a.rest)
        from seekerlite.train.grpo import main_grpo

        return main_grpo(a.rest)

    return run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seekerlite", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("demo", help="run the main job on the embedded default and write a report")
    s.add_argument("--out", default="runs/demo", help="run folder; re-running reuses finished steps")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--model", default=None, help="student: a hub id or model folder (default: the embedded tiny "
                   "Qwen3-VL); a real model gets LoRA/QLoRA settings and wants a GPU")
    s.add_argument("--quick", action="store_true", help="a smaller run of every step (a few minutes)")
    s.set_defaults(fn=cmd_demo)

    s = sub.add_parser("toyworld", help="generate toy-world clips with exact masks and QA")
    s.add_argument("--out", required=True)
    s.add_argument("--n-clips", type=int, default=8)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(fn=cmd_toyworld)

    s = sub.add_parser("probe", help="print a video's fps, frame count, duration and size")
    s.add_argument("video")
    s.set_defaults(fn=cmd_probe)

    s = sub.add_parser("prompts", help="render every visual-prompt type on one instance")
    s.add_argument("--video", required=True)
    s.add_argument("--frame", type=int, required=True)
    s.add_argument("--box", type=_box, required=True, help="x0,y0,x1,y1 in pixels")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(fn=cmd_prompts)

    s = sub.add_parser("episode", help="play one episode and write the trajectory (JSON + PNG)")
    s.add_argument("--sample", required=True, help="a samples JSONL file")
    s.add_argument("--index", type=int, default=0)
    s.add_argument("--policy", default="oracle", help="oracle | random | tiny | a model folder or hub id")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(fn=cmd_episode)

    from seekerlite.evaluate import add_eval_arguments, run_eval_cli

    s = sub.add_parser("eval", help="evaluate a policy or model on samples (seekerlite JSONL, V2P-Bench, toy)")
    add_eval_arguments(s)
    s.set_defaults(fn=run_eval_cli)

    for name, help_ in DELEGATED.items():  # listed for --help; `main` hands their flags to their own parsers
        sub.add_parser(name, help=help_, add_help=False)

    s = sub.add_parser("build-tiny-model", help="build the embedded tiny Qwen3-VL into the cache")
    s.add_argument("rest", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd_build_tiny)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:  # their own parsers see every flag, --help included
        args = argparse.Namespace(fn=_delegate(argv[0]), rest=argv[1:])
    else:
        args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (FileNotFoundError, ValueError, RuntimeError) as e:  # bad input (VideoError is a RuntimeError): a clear message
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
