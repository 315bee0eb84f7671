"""The expensive stages on many workers: shard a stage of a run folder by sample id, then merge the shards into
the very files one process would have written.

    seekerlite pipeline run --out runs/x --until stage2_verify              # the cheap stages, once
    seekerlite pipeline shard stage3_masks --run runs/x --shard 0/4         # on 4 workers (Slurm array, Ray, ...)
    seekerlite pipeline shard stage3_masks --run runs/x --shard 3/4
    seekerlite pipeline merge stage3_masks --run runs/x --shards 4          # -> runs/x/stage3_masks.jsonl, ...
    seekerlite pipeline run --out runs/x                                    # resumes after the merged stage

A sample belongs to shard ``sha256(id) mod n`` (``shard_of``): the same split on every machine, whatever the
order or the number of samples. Shard ``i`` runs the stage (with the config recorded in the run's run.json) on
its samples of the stage's input and writes ``<stage>.shard-i-of-n.jsonl`` / ``.drops.jsonl`` / ``.done.json``
into the run folder itself (the SFT stage: ``sft/sft.shard-i-of-n.jsonl``; per-sample images and prompt frames
go where a single run puts them, under names made from the sample id), so record paths stay relative to the run.
Each shard holds its own lock (``shards/<stage>/<i>-of-<n>/``), not the run's; it resumes like any stage.
``merge`` checks that every shard finished and that together they hold each input record exactly once, writes
the shards' lines in the input's order (the order a single run writes them, as every stage decides record by
record from the record and its id), marks the stage done and removes the shard files. The shardable stages are
the ones whose cost is per sample and large at paper scale: stage 3 (tracking), SFT synthesis and RL curation.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from seekerlite.pipeline.runner import PipelineConfig, stage_files
from seekerlite.pipeline.store import (
    Outcome,
    StageCounts,
    StageFiles,
    read_samples,
    run_stage,
)
from seekerlite.runlock import RunLock
from seekerlite.runs import read_run
from seekerlite.schema import Sample, from_dict
from seekerlite.strictjson import parse_json

SHARDABLE = ("stage3_masks", "sft", "rl")
INPUT_OF = {"stage3_masks": "stage2_verify", "sft": "stage4_render", "rl": "stage4_render"}  # as runner.run_pipeline


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n), 0 <= i < n.

    >>> parse_shard("1/4")
    (1, 4)
    """
    try:
        i, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise ValueError(f"--shard wants i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"--shard {text}: need 0 <= i < n")
    return i, n


def shard_of(sample_id: str, n: int) -> int:
    """The shard of a sample id: sha256 of the id, mod n (the same on every machine and Python).

    >>> shard_of("vtest-bald-direction-mc", 2), shard_of("vtest-bald-direction-mc", 1)
    (1, 0)
    """
    return int.from_bytes(hashlib.sha256(sample_id.encode("utf-8")).digest()[:8], "big") % n


def _tag(i: int, n: int) -> str:
    return f"shard-{i}-of-{n}"


def shard_files(run: Path, stage: str, i: int, n: int) -> StageFiles:
    """The files shard i/n of `stage` writes in the run folder (``<stage>.shard-i-of-n.*``)."""
    files = stage_files(run, stage)  # the stage's own id rule and record format; only the file names change
    files.out = files.out.with_name(f"{files.out.stem}.{_tag(i, n)}.jsonl")
    files.drops = run / f"{stage}.{_tag(i, n)}.drops.jsonl"
    files.done_marker = run / f"{stage}.{_tag(i, n)}.done.json"
    return files


def run_config(run: Path) -> PipelineConfig:
    """The pipeline config a run folder was started with (its run.json)."""
    info = read_run(run, levels=0)
    if info is None or info.kind != "pipeline":
        raise FileNotFoundError(f"{run}: not a pipeline run folder (no run.json); start it with `seekerlite "
                                f"pipeline run --out {run} --until {INPUT_OF['stage3_masks']}`")
    return from_dict(PipelineConfig, info.config, str(run / "run.json"))


def _stage_input(run: Path, stage: str) -> list[Sample]:
    if stage not in SHARDABLE:
        raise ValueError(f"stage {stage!r} cannot be sharded; the shardable stages are {list(SHARDABLE)}")
    src = stage_files(run, INPUT_OF[stage])
    if not src.is_done:
        raise ValueError(f"{run}: {INPUT_OF[stage]} has not finished, so {stage} has no input yet (run "
                         f"`seekerlite pipeline run --out {run} --until {INPUT_OF[stage]}`)")
    return read_samples(src.out)


def _outcomes(stage: str, samples: list[Sample], run: Path, cfg: PipelineConfig) -> Callable[[set[str]], Iterable[Outcome]]:
    """The stage function, as ``runner.run_one_stage`` calls it."""
    from seekerlite.pipeline.curate import curate_samples
    from seekerlite.pipeline.stage3_masks import mask_samples
    from seekerlite.pipeline.trajectories import synthesize_trajectories

    fns: dict[str, Callable[[set[str]], Iterable[Outcome]]] = {
        "stage3_masks": lambda skip: mask_samples(samples, run, cfg.masks, skip=skip),
        "sft": lambda skip: synthesize_trajectories(samples, run, cfg.synthesize, skip=skip, env=cfg.env),
        "rl": lambda skip: curate_samples(samples, run, cfg.curate, skip=skip, env=cfg.env),
    }
    return fns[stage]


def run_shard(run_dir: str | os.PathLike, stage: str, i: int, n: int, *, progress: bool = True) -> StageCounts:
    """Run shard i/n of `stage` in a run folder (resuming); returns the shard's counts."""
    run = Path(run_dir)
    cfg = run_config(run)
    samples = [s for s in _stage_input(run, stage) if shard_of(s.id, n) == i]
    if stage_files(run, stage).is_done:
        raise ValueError(f"{run}: {stage} is already done (merged or run whole); nothing to shard")
    files = shard_files(run, stage, i, n)
    write = None
    if stage == "sft":
        from seekerlite.trajectory import save_chat_dataset

        def write(oc: Outcome) -> None:  # as the single run's writer, into this shard's file
            path = save_chat_dataset([oc.record], run / "sft", name=files.out.name, append=True)
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    with RunLock(run / "shards" / stage / f"{i}-of-{n}"):  # two workers on one shard are refused
        return run_stage(files, _outcomes(stage, samples, run, cfg), len(samples), write=write, progress=progress)


def _lines_by_id(path: Path, id_of: Callable[[dict[str, Any]], str]) -> dict[str, bytes]:
    """Each line of a shard file (bytes, as written) by its record's input id."""
    out: dict[str, bytes] = {}
    if path.is_file():
        for k, line in enumerate(path.read_bytes().splitlines(keepends=True), 1):
            rid = str(id_of(parse_json(line.decode("utf-8"), f"{path}:{k}")))
            if rid in out:
                raise ValueError(f"{path}:{k}: record {rid!r} appears twice")
            out[rid] = line
    return out


def merge_shards(run_dir: str | os.PathLike, stage: str, n: int, keep_shards: bool = False) -> StageCounts:
    """Merge the n shards of `stage` into the stage's own files (input order), mark it done, drop the shards."""
    with RunLock(run_dir):  # the run's own files: refused while a `pipeline run` works in the folder
        return _merge(Path(run_dir), stage, n, keep_shards)


def _merge(run: Path, stage: str, n: int, keep_shards: bool) -> StageCounts:
    ids = [s.id for s in _stage_input(run, stage)]
    target = stage_files(run, stage)
    if target.is_done:
        raise ValueError(f"{run}: {stage} is already done; nothing to merge")
    if target.out.exists() or target.drops.exists():
        raise ValueError(f"{run}: {stage} was partly run whole ({target.out.name}); merge needs a stage only the "
                         f"shards ran (pipeline run --restart, or finish it with pipeline run)")
    shards = [shard_files(run, stage, i, n) for i in range(n)]
    missing = [f"{i}/{n}" for i, f in enumerate(shards) if not f.is_done]
    if missing:
        raise ValueError(f"{run}: shards {missing} of {stage} have not finished (seekerlite pipeline shard {stage} "
                         f"--run {run} --shard {missing[0]})")
    kept = [_lines_by_id(f.out, f.id_of) for f in shards]
    drops = [_lines_by_id(f.drops, lambda d: d["id"]) for f in shards]
    out, dropped = [], []
    for rid in ids:
        k = shard_of(rid, n)
        if (rid in kept[k]) == (rid in drops[k]):
            raise ValueError(f"{run}: shard {k}/{n} of {stage} has {'no' if rid not in kept[k] else 'two'} "
                             f"records for {rid!r}")
        (out if rid in kept[k] else dropped).append(kept[k].get(rid) or drops[k][rid])
    extra = sum(len(kept[k]) + len(drops[k]) for k in range(n)) - len(ids)
    if extra:
        raise ValueError(f"{run}: the shards of {stage} hold {extra} records not in {INPUT_OF[stage]}.jsonl")
    for path, lines in ((target.out, out), (target.drops, dropped)):
        if lines:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(b"".join(lines))
            tmp.replace(path)
    counts = target.counts()
    target.mark_done(counts)
    if not keep_shards:
        for f in shards:
            for p in (f.out, f.drops, f.done_marker):
                p.unlink(missing_ok=True)
        shutil.rmtree(run / "shards" / stage, ignore_errors=True)
        if (run / "shards").is_dir() and not any((run / "shards").iterdir()):
            (run / "shards").rmdir()
    return counts


def add_shard_commands(sub: Any) -> None:
    """The ``pipeline shard`` and ``pipeline merge`` sub-commands (for pipeline/cli.py's parser)."""
    s = sub.add_parser("shard", help="run one shard (i/n, by sample id) of an expensive stage of a run folder")
    s.add_argument("stage", help=" | ".join(SHARDABLE))
    s.add_argument("--run", required=True, help="the run folder (the stage's input stage has finished)")
    s.add_argument("--shard", required=True, type=str, help="i/n: this worker's shard (0-based) of n")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s = sub.add_parser("merge", help="merge the n finished shards of a stage into the run folder's own files")
    s.add_argument("stage", help=" | ".join(SHARDABLE))
    s.add_argument("--run", required=True, help="the run folder")
    s.add_argument("--shards", required=True, type=int, help="n: how many shards the stage was split into")
    s.add_argument("--keep-shards", action="store_true", help="keep the shard files after merging")


def run_shard_command(a: argparse.Namespace) -> StageCounts:
    """Run a parsed ``pipeline shard`` / ``pipeline merge`` command."""
    if a.cmd == "shard":
        i, n = parse_shard(a.shard)
        return run_shard(a.run, a.stage, i, n, progress=not a.quiet)
    if a.shards < 1:
        raise ValueError(f"--shards must be >= 1, got {a.shards}")
    return merge_shards(a.run, a.stage, a.shards, keep_shards=a.keep_shards)
