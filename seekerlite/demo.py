"""`seekerlite demo`: the whole recipe on the embedded default, end to end, with a report.

    seekerlite demo                              # tiny student, CPU, ~10-15 min on 2 cores -> runs/demo/report.html
    seekerlite demo --quick                      # smaller everything (~3-5 min): a smoke test of the whole path
    seekerlite demo --model Qwen/Qwen3-VL-2B-Instruct --out runs/demo-2b    # the real recipe, on a GPU

The steps (each is skipped on a re-run when it finished before, so an interrupted demo resumes):
    1. toyworld      clips of moving shapes with exact masks + instance-level QA           -> toyworld/
    2. figures       hand-annotated pedestrians in real footage, every visual-prompt type  -> figures/
    3. episodes      the oracle and a random policy in the tool environment                -> episodes/
    4. pipeline      the four data stages on toy world + real clips -> SFT and RL data     -> pipeline/
    5. sft           cold-start SFT of the student on the pipeline's oracle trajectories   -> sft/
    6. grpo          agentic GRPO from the SFT weights on the pipeline's curated RL samples (MC) -> grpo/
    7. eval          base / SFT / GRPO (+ oracle and a no-tool guesser) on a held-out toy world -> eval/
    8. report        report.md + a self-contained report.html (every figure inlined)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from seekerlite.config import (  # noqa: E402
    TINY_PRETRAINED,
    EnvConfig,
    StudentConfig,
    is_tiny,
    student_preset,
)
from seekerlite.schema import Sample, load_jsonl, resolve_path  # noqa: E402

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
QUICK_NOTE = ("[demo] --quick checks the wiring: every step runs end to end at sizes far too small to learn anything "
              "(a few SFT steps, GRPO groups that give no gradient). Its numbers mean nothing; run without --quick "
              "for the demo.")


@dataclass
class DemoConfig:
    """What the demo runs. The defaults suit the embedded tiny student on 2 CPU cores; `for_model` scales up."""

    output_dir: str = "runs/demo"  # run folder (re-running resumes: finished steps are reused)
    student: StudentConfig = field(default_factory=lambda: student_preset(TINY_PRETRAINED))  # the student: "tiny-pretrained" (the shipped perception-pretrained base), "tiny-random", a model folder or a hub id
    env: EnvConfig = field(default_factory=EnvConfig)  # what the student sees, in every step (pipeline, SFT, GRPO, eval)
    seed: int = 0  # seeds the toy worlds, training and the evaluation
    pipeline: str = "demo"  # pipeline config: "demo" (seekerlite/configs/pipeline_demo.json) or a JSON path
    quick: bool = False  # a smaller pipeline and shorter training: the same path in a few minutes (tests use it)
    toy_clips: int = 128  # toy-world clips the pipeline turns into SFT and RL data (about 3.5 questions each)
    question_families: tuple[str, ...] = ("recolor", "contact", "exit_edge")  # toy-world families trained and evaluated on (toyworld.TOOL_TASKS: a well-chosen crop answers them, the first turn does not)
    no_tool_share: float = 0.5  # SFT: share of episodes also trained without tools, so the same student can be evaluated both ways
    sft_epochs: float = 1.0  # passes over the pipeline's SFT trajectories (~650 steps with the no-tool forms and the pretrained base's rehearsal); more episodes once each kept the base's perception better than few episodes four times (train.rehearsal)
    sft_lr: float = 5e-3  # high for the tiny model; ~1e-4 with LoRA on a real checkpoint
    grpo_steps: int = 20  # GRPO optimizer steps (~5 s each for the tiny model on 2 CPU cores)
    grpo_form: str = "oe"  # RL questions trained on: "mc" | "oe" | "both" (OE: the reward follows what the student saw; the tiny student cannot map a colour to its MC letter)
    grpo_lr: float = 1e-4  # GRPORunConfig.for_model's for the student: 1e-4 the pretrained tiny base, 1e-3 the random one (benchmarks/results/grpo_cpu.md), ~1e-5 with LoRA on a real checkpoint
    grpo_eval_samples: int = 16  # held-out RL samples GRPO scores before/after (reward components)
    eval_clips: int = 16  # clips of the held-out evaluation toy world (about 3.5 questions each, MC and OE)
    eval_world_seed: int = 7  # not the pipeline's (0): no evaluation clip was trained on
    max_new_tokens: int = 96  # per model reply in the evaluation
    report_to: str = "none"  # experiment tracking of SFT and GRPO, as in TRL: "none" | "tensorboard" | "wandb" | "trackio"

    @classmethod
    def for_model(cls, model_id: str, **kw: Any) -> DemoConfig:
        """Settings for a real checkpoint (QLoRA, small learning rates); the tiny default otherwise."""
        from seekerlite.train.grpo import GRPORunConfig

        grpo_lr = GRPORunConfig.for_model(model_id).learning_rate
        if is_tiny(model_id):
            return cls(student=student_preset(model_id), **({"grpo_lr": grpo_lr} | kw))
        return cls(student=student_preset(model_id), **({"sft_lr": 1e-4, "grpo_lr": grpo_lr, "sft_epochs": 2.0,
                                                          "max_new_tokens": 256} | kw))

    def quick_sizes(self) -> DemoConfig:
        """The --quick variant: the same steps at a fraction of the size."""
        return replace(self, quick=True, sft_epochs=min(self.sft_epochs, 2.0), grpo_steps=min(self.grpo_steps, 3),
                       grpo_form="both", grpo_eval_samples=min(self.grpo_eval_samples, 4), eval_clips=1)  # both: 2 clips hold too few OE questions alone


# ---------------------------------------------------------------------------------------------- bookkeeping

def _step(out: Path, name: str, fn: Callable[[], object]) -> None:
    """Run `fn` once: a marker file records completion so a second run reuses the result."""
    marker = out / ".steps" / name
    if marker.exists():
        print(f"[demo] {name}: done before, reused", flush=True)
        return
    t = time.perf_counter()
    print(f"[demo] {name} ...", flush=True)
    fn()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{time.perf_counter() - t:.1f}\n")
    print(f"[demo] {name}: {time.perf_counter() - t:.1f} s", flush=True)


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def _real_samples() -> tuple[list[Sample], Path]:
    path = SAMPLE_DATA / "annotations" / "vtest_samples.jsonl"
    return load_jsonl(path), path.parent


def _masklets_of(samples: list[Sample]) -> list:
    seen, out = set(), []
    for s in samples:
        if s.masklet is not None and s.masklet.instance_id not in seen:
            seen.add(s.masklet.instance_id)
            out.append(s.masklet)
    return out


def pipeline_config(cfg: DemoConfig) -> Any:
    """The pipeline's settings: the demo config, or (quick) 2 toy clips, the hand-made masklets, no model scorer."""
    from seekerlite.pipeline import load_config

    pc = load_config(cfg.pipeline)
    pc.env = cfg.env  # SFT episodes and RL rollouts in the environment GRPO and the evaluation use
    for src in pc.sources:
        if src.kind == "toyworld":
            src.families, src.n_clips = list(cfg.question_families), cfg.toy_clips
    if cfg.quick:
        for src in pc.sources:
            if src.kind == "toyworld":
                src.n_clips = 2
        pc.filter.scorer = None
        pc.masks.use_manual_masklets = True
        pc.curate.k = 2
    return pc


# ---------------------------------------------------------------------------------------------- the steps

def run_demo(out: str | Path | None = None, seed: int = 0, *, config: DemoConfig | None = None) -> Path:
    """Run every demo step into the run folder and return the path of the HTML report."""
    cfg = config or DemoConfig(seed=seed)
    if out is not None:
        cfg = replace(cfg, output_dir=str(out))
    from seekerlite.models.loading import import_unsloth_first

    import_unsloth_first(cfg.student)  # before any step imports transformers, when unsloth will be the backend
    from seekerlite.train.progress import check_report_to

    check_report_to(cfg.report_to)  # before anything is written
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    saved, now = out / "demo_config.json", json.loads(json.dumps(asdict(cfg) | {"output_dir": str(out)}))  # as JSON reads it back (tuples -> lists)
    if saved.exists() and json.loads(saved.read_text()) != now:
        raise ValueError(f"{out} holds a demo run with other settings ({saved}); use another --out, or delete {out}")
    saved.write_text(json.dumps(now, indent=1))
    toy_jsonl = out / "toyworld" / "samples.jsonl"
    from seekerlite.train.progress import quiet_libraries

    quiet_libraries(four_bit=cfg.student.load_in_4bit or cfg.student.backend == "bnb-4bit")
    print(f"[demo] {cfg.student.model_id} student, seed {cfg.seed} -> {out} (full training logs: */train_log.jsonl)",
          flush=True)
    if cfg.quick:
        print(QUICK_NOTE, flush=True)

    from seekerlite.toyworld import ToyWorldConfig, generate_dataset

    _step(out, "toyworld", lambda: generate_dataset(out / "toyworld", n_clips=2 if cfg.quick else 4, seed=cfg.seed,
                                                    config=ToyWorldConfig(seed=cfg.seed)))
    _step(out, "figures", lambda: _figures(out, cfg, load_jsonl(toy_jsonl), toy_jsonl.parent))
    _step(out, "episodes", lambda: _episodes(out, cfg, load_jsonl(toy_jsonl), toy_jsonl.parent))
    _step(out, "pipeline", lambda: _pipeline(out, cfg))
    _step(out, "sft", lambda: _sft(out, cfg))
    _step(out, "grpo", lambda: _grpo(out, cfg))
    _step(out, "eval", lambda: _eval(out, cfg))
    from seekerlite.report import write_report

    path = write_report(out)
    print(f"[demo] report: {path}  (and {out / 'report.md'})", flush=True)
    return path


def _figures(out: Path, cfg: DemoConfig, toy: list[Sample], toy_base: Path) -> None:
    """Real footage with its hand-checked boxes, every prompt type (real and toy), the toy world's exact masks."""
    from seekerlite.video import open_video
    from seekerlite.viz import show_masklets, show_prompt_gallery

    figs = out / "figures"
    real, real_base = _real_samples()
    s = real[0]
    with open_video(resolve_path(s.video_path, real_base)) as r:
        idx = [i for i in (s.visual_prompt.frame_index + k * 10 for k in range(4)) if i < r.num_frames]
        frames = [r.get_frame(i) for i in idx]
        masklets = _masklets_of(real)
        boxes = [[m.box_at(i) for m in masklets] for i in idx]
        _save(show_masklets([f.image for f in frames], [[None] * len(b) for b in boxes], boxes,
                            [f"t={f.timestamp:.1f}s" for f in frames]), figs / "real_annotations.png")
        vp = s.visual_prompt
        _save(show_prompt_gallery(r.get_frame(vp.frame_index).image, vp.box, seed=cfg.seed), figs / "prompts_real.png")
    t = toy[0]
    with open_video(resolve_path(t.video_path, toy_base)) as r:
        idx = list(range(0, r.num_frames, max(1, r.num_frames // 4)))[:4]
        frames = [r.get_frame(i).image for i in idx]
        i = t.visual_prompt.frame_index
        frame = r.get_frame(i).image
    _save(show_masklets(frames, [[t.masklet.mask_at(k)] for k in idx], [[t.masklet.box_at(k)] for k in idx],
                        [f"frame {k}" for k in idx]), figs / "toy_masks.png")
    _save(show_prompt_gallery(frame, t.masklet.box_at(i), t.masklet.mask_at(i), seed=cfg.seed), figs / "prompts_toy.png")


def _episodes(out: Path, cfg: DemoConfig, toy: list[Sample], toy_base: Path) -> None:
    """The oracle (the ceiling, and the SFT teacher) and a random tool user, on toy and real samples."""
    from seekerlite.policies import OraclePolicy, RandomPolicy, run_episodes
    from seekerlite.viz import draw_trajectory

    real, real_base = _real_samples()
    rows = []
    for name, samples, base in [("toy", toy, toy_base), ("real", real, real_base)]:
        for policy in (OraclePolicy(seed=cfg.seed), RandomPolicy(seed=cfg.seed)):
            trajs = run_episodes(policy, samples, cfg.env, base_dir=base, progress=False)
            rows.append({"data": name, "policy": policy.name, "n": len(trajs),
                         "accuracy": round(sum(bool(t.correct) for t in trajs) / max(1, len(trajs)), 3),
                         "tool_calls": round(sum(t.n_tool_calls for t in trajs) / len(trajs), 2),
                         "frames": round(sum(t.n_frames for t in trajs) / len(trajs), 2)})
            if policy.name == "oracle":
                trajs[0].save(out / "episodes" / f"{name}_oracle")
                _save(draw_trajectory(trajs[0], video_path=resolve_path(samples[0].video_path, base)),
                      out / "figures" / f"trajectory_{name}.png")
    (out / "episodes").mkdir(parents=True, exist_ok=True)
    (out / "episodes" / "summary.json").write_text(json.dumps(rows, indent=1))


def _pipeline(out: Path, cfg: DemoConfig) -> None:
    """Stages 1-4, SFT trajectory synthesis and RL curation; the funnel and a gallery of rendered prompts."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from seekerlite.pipeline import format_counts, plot_funnel, run_pipeline

    run = out / "pipeline"
    counts = run_pipeline(pipeline_config(cfg), run, progress=True)
    (run / "counts.md").write_text(format_counts(counts) + "\n")
    _save(plot_funnel(counts), out / "figures" / "pipeline_funnel.png")
    rendered = load_jsonl(run / "stage4_render.jsonl")
    picks, seen = [], set()
    for s in sorted(rendered, key=lambda s: s.provenance.get("input") == "toyworld"):  # real footage first
        vp = s.visual_prompt
        if vp.image_path and vp.prompt_type not in seen:  # one sample per prompt type
            seen.add(vp.prompt_type)
            picks.append(s)
    picks = picks[:8]
    fig, axes = plt.subplots(2, 4, figsize=(14, 6))
    for ax in axes.flat:
        ax.axis("off")
    for ax, s in zip(axes.flat, picks):
        ax.imshow(Image.open(resolve_path(s.visual_prompt.image_path, run)))
        ax.set_title(f"{s.visual_prompt.prompt_type.replace('_', ' ')} · frame {s.visual_prompt.frame_index}",
                     fontsize=12)
    fig.suptitle("Stage 4: the frame chosen for each question, with the target marked (one per mark type)", fontsize=14)
    _save(fig, out / "figures" / "pipeline_prompts.png")


def _sft(out: Path, cfg: DemoConfig) -> None:
    """Cold-start SFT on the pipeline's trajectories (sft/sft.jsonl), then the loss curve."""
    import shutil

    from seekerlite.train.sft import SFTRunConfig, train_sft

    sft_cfg = replace(SFTRunConfig.for_model(cfg.student.model_id, env=cfg.env,
                                             data=str(out / "pipeline"), output_dir=str(out / "sft"),
                                             num_train_epochs=cfg.sft_epochs, learning_rate=cfg.sft_lr, seed=cfg.seed,
                                             save_steps=10_000, logging_steps=2, report_to=cfg.report_to,
                                             no_tool_share=cfg.no_tool_share),
                      student=cfg.student)  # for_model sets its own student preset; the demo's wins
    summary = train_sft(sft_cfg)
    shutil.copy(out / "sft" / "loss.png", out / "figures" / "sft_loss.png")
    print(f"[demo] SFT: {summary['episodes']} episodes, {summary['steps']} steps, loss {summary['loss_first']:.3f} -> "
          f"{summary['loss_last']:.3f} in {summary['seconds']} s", flush=True)


def _grpo(out: Path, cfg: DemoConfig) -> None:
    """GRPO from the SFT weights on the pipeline's curated RL samples (rl.jsonl); reward curves."""
    import shutil

    from seekerlite.train.grpo import GRPORunConfig, train_grpo

    g = GRPORunConfig.for_model(str(out / "sft"), env=cfg.env, data=str(out / "pipeline"), form=cfg.grpo_form,
                                output_dir=str(out / "grpo"), max_steps=cfg.grpo_steps, learning_rate=cfg.grpo_lr,
                                seed=cfg.seed, save_steps=10_000, eval_samples=cfg.grpo_eval_samples,
                                report_to=cfg.report_to)
    summary = train_grpo(g)
    shutil.copy(out / "grpo" / "curves.png", out / "figures" / "grpo_curves.png")
    for name, after in summary["after"].items():
        before = summary.get("before", {}).get(name, {})
        print(f"[demo] GRPO {name}: total reward {before.get('total', float('nan')):.3f} -> {after['total']:.3f}",
              flush=True)


def eval_policies(out: Path, cfg: DemoConfig) -> dict[str, str]:
    """name -> policy spec of what the demo evaluates (trained runs that are missing are left out)."""
    from seekerlite.policies import inner_spec
    from seekerlite.report import ORACLE_LOOK

    specs = {"oracle": "oracle", "no-tool guess": "no-tool:random", "base": cfg.student.model_id,
             "SFT no tools": f"no-tool:{out / 'sft'}", "SFT": str(out / "sft"),
             "GRPO no tools": f"no-tool:{out / 'grpo'}", "GRPO": str(out / "grpo"),
             ORACLE_LOOK: f"oracle-look:{out / 'grpo'}"}
    return {k: v for k, v in specs.items() if not k.startswith(("SFT", "GRPO"))
            or (Path(inner_spec(v)) / "run.json").exists()}


def _eval(out: Path, cfg: DemoConfig) -> None:
    """Every policy on a held-out toy world (a seed nothing was trained on): tables, bars, one GRPO transcript."""
    from seekerlite.data import load_samples
    from seekerlite.evaluate import (
        EvalConfig,
        comparison_table,
        evaluate,
        plot_accuracy,
        write_results,
    )
    from seekerlite.viz import draw_trajectory

    samples, base = load_samples(f"toy:{cfg.eval_clips}@{cfg.eval_world_seed}", out_dir=out / "eval",
                                 families=cfg.question_families)
    ecfg = EvalConfig(env=cfg.env, n_bootstrap=1000, seed=cfg.seed, max_new_tokens=cfg.max_new_tokens, save_images=2)
    summaries, results = {}, {}
    for name, spec in eval_policies(out, cfg).items():
        print(f"[demo] eval: {name} ({spec}) on {len(samples)} held-out questions", flush=True)
        results[name] = evaluate(spec, samples, base, ecfg, progress=False)
        write_results(results[name], out / "eval" / name.replace(" ", "_"), save_images=2)
        summaries[name] = results[name].summary
    (out / "eval" / "comparison.md").write_text(comparison_table(summaries) + "\n\n" + comparison_table(summaries, "form")
                                                + "\n")
    (out / "eval" / "summaries.json").write_text(json.dumps(summaries, indent=1, default=str))
    mc = [s for s in samples if s.is_mc]
    chance = {"mc": sum(1 / len(s.options) for s in mc) / len(mc)} if mc else {}  # guessing a letter; OE: 0
    (out / "eval" / "chance.json").write_text(json.dumps(chance))
    _save(plot_accuracy(summaries, "form", title="Held-out toy world: accuracy by question form", chance=chance),
          out / "figures" / "eval_accuracy.png")
    last = "GRPO" if "GRPO" in results else "base"
    from seekerlite.viz import plot_look_heatmap

    looks = [x for rec in results[last].records for x in (rec.looks or [])]
    _save(plot_look_heatmap(looks, title=f"Where the {last} student looked: {len(looks)} crops with a region, "
                                         f"{len(samples)} held-out questions"), out / "figures" / "eval_looks.png")
    r = results[last]
    k = next((i for i, rec in enumerate(r.records) if rec.n_tool_calls > 0), 0)
    sample = next(s for s in samples if s.id == r.records[k].sample_id)
    _save(draw_trajectory(r.trajectories[k], video_path=resolve_path(sample.video_path, base)),
          out / "figures" / "trajectory_student.png")


def main_demo(argv: list[str] | None = None) -> int:
    """``seekerlite demo [--quick] [--model ID] [--out DIR] ...``: every step, then the report."""
    import argparse

    from seekerlite.cliargs import add_config_arguments, config_from_args

    p = argparse.ArgumentParser(prog="seekerlite demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p, DemoConfig)
    args = p.parse_args(argv)
    model = getattr(args, "student.model_id", TINY_PRETRAINED)
    cfg, _ = config_from_args(DemoConfig, args, base=DemoConfig.for_model(model))
    if cfg.quick:
        cfg = cfg.quick_sizes()
    from seekerlite.runlock import RunLock

    with RunLock(cfg.output_dir):  # one process per run folder (its steps lock their own sub-folders)
        report = run_demo(config=cfg)
    print(f"demo report: {report}")
    return 0
