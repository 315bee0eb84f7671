"""The data pipeline end to end: sources -> stages 1-4 -> SFT trajectories and RL samples, in one run folder.

    cfg = load_config("demo")                     # seekerlite/configs/pipeline_demo.json
    counts = run_pipeline(cfg, "runs/x")          # re-run after an interrupt: it resumes
    print(format_counts(counts))

Run folder (every path inside the JSONL files is relative to it):

    run.json                     the config the run was started with, its env and versions (another config is
                                 refused: --restart); later steps (sft, grpo) read the env from it
    toyworld/<name>/             toy-world clips generated for a "toyworld" source
    candidates.jsonl             every source's samples, paths rebased to the run folder
    stage1_filter.jsonl ... stage4_render.jsonl      what each stage kept (+ .drops.jsonl, .done.json)
    prompts/<id>.png             rendered visual prompts (F_vp)
    sft/sft.jsonl, sft/images/   SFT chat dataset (trajectory.load_chat_dataset reads it)
    rl.jsonl                     RL samples, pass rate in provenance["curate"]
    counts.json                  kept / dropped / reasons per stage
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seekerlite.config import EnvConfig
from seekerlite.paths import file_name, inside
from seekerlite.pipeline.curate import CurateConfig, curate_samples
from seekerlite.pipeline.stage1_filter import FilterConfig, filter_samples
from seekerlite.pipeline.stage2_verify import VerifyConfig, verify_samples
from seekerlite.pipeline.stage3_masks import MaskConfig, mask_samples
from seekerlite.pipeline.stage4_render import RenderConfig, render_samples
from seekerlite.pipeline.store import (
    STAGES,
    Hook,
    Outcome,
    StageCounts,
    StageFiles,
    drop,
    read_samples,
    rebase_sample,
    run_stage,
)
from seekerlite.pipeline.trajectories import SynthConfig, synthesize_trajectories
from seekerlite.pipeline.validate import (
    ConfigError,
    check_config,
    check_stage,
    source_name,
)
from seekerlite.runlock import RunLock
from seekerlite.runs import RunInfo, write_run
from seekerlite.schema import Sample, SchemaError, from_dict, to_dict
from seekerlite.strictjson import parse_json

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
DEMO_CONFIG = CONFIG_DIR / "pipeline_demo.json"


@dataclass
class SourceConfig:
    """Where candidate questions come from."""

    kind: str  # "toyworld" (generated inside the run) | "jsonl" (seekerlite Samples or V2P-Bench records)
    path: str | None = None  # jsonl: the file; relative paths: the cwd, else the repository root
    n_clips: int = 6  # toyworld: clips to generate
    seed: int = 0  # toyworld: world seed; jsonl: seeds the max_samples subset
    forms: list[str] = field(default_factory=lambda: ["mc", "oe"])  # toyworld: question forms to generate
    families: list[str] | None = None  # toyworld: question families (ToyWorldConfig.question_families); None = the default six
    max_samples: int | None = None  # keep at most this many (a seeded subset, in file order)
    video_root: str | None = None  # V2P-Bench: the folder video_path is relative to
    frame_root: str | None = None  # V2P-Bench: the folder frame_path is relative to
    name: str | None = None  # recorded as provenance["input"]; default: the kind and seed, or the file's stem


@dataclass
class PipelineConfig:
    """Every stage's settings (each a dataclass with commented defaults)."""

    sources: list[SourceConfig] = field(default_factory=lambda: [SourceConfig("toyworld")])
    filter: FilterConfig = field(default_factory=FilterConfig)  # stage 1
    verify: VerifyConfig = field(default_factory=VerifyConfig)  # stage 2
    masks: MaskConfig = field(default_factory=MaskConfig)  # stage 3
    render: RenderConfig = field(default_factory=RenderConfig)  # stage 4
    synthesize: SynthConfig = field(default_factory=SynthConfig)  # SFT trajectories
    curate: CurateConfig = field(default_factory=CurateConfig)  # RL samples
    env: EnvConfig = field(default_factory=EnvConfig)  # the environment of the SFT and RL episodes (the student's)


def load_config(path: str | os.PathLike = "demo") -> PipelineConfig:
    """A PipelineConfig from a JSON file ("demo": the one in seekerlite/configs), checked whole before any work:
    unknown keys, wrong types and out-of-range values raise SchemaError/ConfigError naming the file and field."""
    p = DEMO_CONFIG if str(path) == "demo" else Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder, not a pipeline config (a JSON file)")
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: invalid UTF-8 (byte {e.start + 1})") from None
    d = parse_json(text, str(p))
    if not isinstance(d, dict):
        raise ConfigError(f"{p}: a pipeline config is a JSON object {{\"sources\": ...}}, got a {type(d).__name__}")
    d.pop("_comment", None)
    try:
        cfg = from_dict(PipelineConfig, d)
    except SchemaError as e:
        raise ConfigError(f"{p}: {e}", field=e.field) from None
    return check_config(cfg, str(p))


def find_file(path: str) -> Path:
    """`path` as given (absolute or relative to the cwd), else relative to the repository root."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    if (REPO_ROOT / p).exists():
        return REPO_ROOT / p
    raise FileNotFoundError(f"{path} not found (looked in {Path.cwd()} and {REPO_ROOT})")


# ---------------------------------------------------------------------------------------------- sources

def source_samples(src: SourceConfig, run_dir: Path) -> list[Sample]:
    """A source's samples with paths rebased to `run_dir` and ``provenance["input"]`` set."""
    from seekerlite.data import load_samples, subset

    name = source_name(src)
    if src.kind == "toyworld":
        from seekerlite.toyworld import generate_dataset, world_config

        out = inside(run_dir, "toyworld", file_name(name))  # a name is data: never a path out of the run
        path = out / "samples.jsonl"  # written last (atomically): present = generated
        if not path.is_file():
            fams = tuple(src.families) if src.families is not None else None
            generate_dataset(out, n_clips=src.n_clips, seed=src.seed,
                             config=world_config(src.seed, fams),
                             mc="mc" in src.forms, oe="oe" in src.forms)
        samples, base = load_samples(path)
    elif src.kind == "jsonl":
        if not src.path:
            raise ValueError("a 'jsonl' source needs a path")
        path = find_file(src.path)
        name = src.name or path.stem
        samples, base = load_samples(path, video_root=src.video_root, frame_root=src.frame_root)
    else:
        raise ValueError(f"unknown source kind {src.kind!r}; expected 'toyworld' or 'jsonl'")
    samples = subset(samples, src.max_samples, src.seed)
    out_samples = []
    for s in samples:
        s = rebase_sample(s, base, run_dir)
        s.provenance = {**s.provenance, "input": name}
        out_samples.append(s)
    return out_samples


def collect_candidates(sources: Iterable[SourceConfig], run_dir: Path, skip: Iterable[str] = ()) -> Iterator[Outcome]:
    """The 'candidates' stage: every source's samples; a repeated id is dropped (the first one wins)."""
    seen: set[str] = set()
    skip = set(skip)
    for src in sources:
        for s in source_samples(src, run_dir):
            if s.id in seen:
                if (dup := f"{s.id}@{s.provenance['input']}") not in skip:
                    yield drop(dup, f"duplicate_id: {s.id} already came from an earlier source")
                continue
            seen.add(s.id)
            if s.id not in skip:
                yield Outcome(s.id, s)


# ---------------------------------------------------------------------------------------------- running

def _sft_writer(run_dir: Path) -> Callable[[Outcome], None]:
    from seekerlite.trajectory import save_chat_dataset

    def write(oc: Outcome) -> None:
        path = save_chat_dataset([oc.record], run_dir / "sft", append=True)
        with path.open("rb") as fh:
            os.fsync(fh.fileno())

    return write


def stage_files(run_dir: Path, stage: str) -> StageFiles:
    """The files of `stage` in `run_dir` (the SFT stage writes sft/sft.jsonl; RL lines carry their input id)."""
    if stage == "sft":
        return StageFiles(run_dir, "sft", out=run_dir / "sft" / "sft.jsonl", id_of=lambda d: d["sample_id"])
    if stage == "rl":
        return StageFiles(run_dir, "rl", id_of=lambda d: d["provenance"]["curate"]["input_id"])
    return StageFiles(run_dir, stage)


def run_one_stage(stage: str, samples: list[Sample], run_dir: Path, cfg: PipelineConfig, *,
                  hook: Hook | None = None, progress: bool = True) -> StageCounts:
    """Run one stage (not 'candidates') on `samples`, whose paths resolve against `run_dir`, resuming."""
    run = Path(run_dir)
    fns: dict[str, Callable[[set[str]], Iterable[Outcome]]] = {
        "stage1_filter": lambda skip: filter_samples(samples, cfg.filter, skip=skip),
        "stage2_verify": lambda skip: verify_samples(samples, run, cfg.verify, skip=skip),
        "stage3_masks": lambda skip: mask_samples(samples, run, cfg.masks, skip=skip),
        "stage4_render": lambda skip: render_samples(samples, run, run, cfg.render, skip=skip),
        "sft": lambda skip: synthesize_trajectories(samples, run, cfg.synthesize, skip=skip, env=cfg.env),
        "rl": lambda skip: curate_samples(samples, run, cfg.curate, skip=skip, env=cfg.env),
    }
    check_stage(stage, "stage", tuple(fns))
    write = _sft_writer(run) if stage == "sft" else None
    with RunLock(run):
        return run_stage(stage_files(run, stage), fns[stage], len(samples), write=write, hook=hook, progress=progress)


def _check_config(run: Path, cfg: PipelineConfig) -> None:
    """Record the config in ``run/run.json``, or check that a run started before used the same one."""
    path, now = run / "run.json", json.loads(json.dumps(to_dict(cfg)))
    if path.is_file():
        try:
            data = parse_json(path.read_bytes().decode("utf-8"), str(path))
            if not isinstance(data, dict):
                raise SchemaError(f"{path}: expected a JSON object")
            before = data.get("config")
        except (OSError, ValueError) as e:  # SchemaError, UnicodeDecodeError are ValueErrors
            raise SchemaError(f"{path} is unreadable ({e}); pass --restart to start the run over") from None
        if before != now:
            raise ValueError(f"{run} was started with another config ({path}); resume with the same config, "
                             f"use a new --out, or pass --restart to start over")
        return
    write_run(run, RunInfo("pipeline", env=cfg.env, seed=cfg.render.seed, config=now))


def run_pipeline(config: PipelineConfig, out: str | os.PathLike, *, hook: Hook | None = None, progress: bool = True,
                 until: str | None = None) -> list[StageCounts]:
    """Run (or resume) every stage into the run folder `out`; returns the counts of the stages run.

    Args:
        config: the settings.
        out: the run folder (created; a folder started with another config, or in use by another process, is
            refused).
        hook: ``hook(stage, n)`` after every record written (tests raise from it to simulate a crash).
        progress: tqdm bars.
        until: stop after this stage (checked, with the config, before any work).
    """
    run = Path(out)
    check_stage(until, "until")
    check_config(config)
    with RunLock(run):  # a second process on this folder is refused (it would write every record twice)
        _check_config(run, config)
        counts = [run_stage(StageFiles(run, "candidates"), lambda skip: collect_candidates(config.sources, run, skip),
                            total=None, hook=hook, progress=progress)]
        prev = "candidates"
        for stage in STAGES[1:]:
            if until is not None and STAGES.index(stage) > STAGES.index(until):
                break
            src = "stage4_render" if stage in ("sft", "rl") else prev
            counts.append(run_one_stage(stage, read_samples(run / f"{src}.jsonl"), run, config, hook=hook,
                                        progress=progress))
            prev = stage
        (run / "counts.json").write_text(json.dumps([to_dict(c) for c in counts], indent=1))
    return counts


def read_counts(run_dir: str | os.PathLike) -> list[StageCounts]:
    """The counts of every finished stage of a run folder, in stage order."""
    run = Path(run_dir)
    return [stage_files(run, s).read_done() for s in STAGES if stage_files(run, s).is_done]


def format_counts(counts: list[StageCounts]) -> str:
    """A markdown table: stage, in, kept, dropped, and the drop reasons."""
    rows = ["| stage | in | kept | dropped | drop reasons |", "|---|---:|---:|---:|---|"]
    for c in counts:
        why = ", ".join(f"{k} {v}" for k, v in sorted(c.reasons.items(), key=lambda kv: -kv[1])) or "-"
        rows.append(f"| {c.stage} | {c.n_in} | {c.kept} | {c.dropped} | {why} |")
    return "\n".join(rows)


def plot_funnel(counts: list[StageCounts], ax: Any = None) -> Any:
    """A funnel chart: records in and kept per stage, the main drop reasons written beside each bar."""
    import textwrap

    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(12, 0.8 * len(counts) + 1.2))
    names = [c.stage for c in counts][::-1]
    ax.barh(names, [c.n_in for c in counts][::-1], color="#dddddd", label="records in")
    ax.barh(names, [c.kept for c in counts][::-1], color="#3b7dd8", label="kept")
    for y, c in enumerate(counts[::-1]):
        top = sorted(c.reasons.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in top[:4]) + (f", +{len(top) - 4} more" if len(top) > 4 else "")
        note = f"{c.kept}/{c.n_in}" + (("  dropped: " + shown) if top else "")
        ax.text(max(c.n_in, 1) * 1.01, y, textwrap.fill(note, 60), va="center", fontsize=10)
    ax.set_xlim(0, max((c.n_in for c in counts), default=1) * 2.6)
    ax.set_xlabel("records (questions, or trajectories in the SFT stage)", fontsize=11)
    ax.tick_params(labelsize=11)
    ax.legend(loc="lower right", fontsize=10)
    ax.set_title("What each pipeline stage kept, and why it dropped the rest", fontsize=13)
    return ax.figure
