"""Resumable stage files: every stage appends one record at a time, counts what it kept and dropped (with
reasons), and resumes where it stopped.

    files = StageFiles("runs/x", "stage1_filter")
    counts = run_stage(files, lambda skip: filter_samples(samples, skip=skip), total=len(samples))

A run folder holds, per stage ``S``:

    S.jsonl          records the stage kept (Samples; the SFT stage writes sft/sft.jsonl instead)
    S.drops.jsonl    {"id", "stage", "reasons": ["code: detail", ...], "info": {...}} per dropped record
    S.done.json      written last: the stage's counts; a finished stage is never run again

Resuming is by record id: a record whose id is already in ``S.jsonl`` or ``S.drops.jsonl`` is skipped; every
line is flushed and fsynced as it is written; a line torn by a crash is cut off before resuming. Stages decide
record by record from the record itself and seeds derived from its id (``stable_seed``), never from how many
records came before, so an interrupted run resumes to the same files as an uninterrupted one. A damaged line
anywhere else (not the last) is not guessed at: it raises SchemaError naming the file and line, with the hint to
start over (``--restart``). One process at a time works in a run folder (``seekerlite.runlock``).
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from seekerlite.paths import writing
from seekerlite.runlock import LOCK_FILE
from seekerlite.schema import (
    Sample,
    SchemaError,
    from_dict,
    load_jsonl,
    resolve_path,
    to_dict,
)
from seekerlite.strictjson import iter_json_lines, parse_json

RESTART_HINT = "the run folder is damaged: pass --restart to start the run over (or repair the line)"

STAGES = ("candidates", "stage1_filter", "stage2_verify", "stage3_masks", "stage4_render", "sft", "rl")
"""Stage names, in order; also their file names in a run folder."""

Hook = Callable[[str, int], None]  # (stage, records written by this call) -> None; raise to simulate a crash


@dataclass
class Outcome:
    """What a stage made of one record: kept (``record`` set) or dropped (``reasons`` say why)."""

    id: str
    record: Any = None  # what the stage keeps (a Sample; a Trajectory in the SFT stage); None = dropped
    reasons: list[str] = field(default_factory=list)  # "code: detail"; the code before ':' is what gets counted
    info: dict[str, Any] = field(default_factory=dict)  # the stage's measurements, stored with drops

    @property
    def kept(self) -> bool:
        return self.record is not None


def drop(id: str, reasons: list[str] | str, **info: Any) -> Outcome:
    """A dropped record's outcome."""
    return Outcome(id, None, [reasons] if isinstance(reasons, str) else list(reasons), info)


def reason_code(reason: str) -> str:
    """'too_short: 3 words' -> 'too_short'."""
    return reason.split(":", 1)[0].strip()


@dataclass
class StageCounts:
    """What one stage kept and dropped, counted from its files."""

    stage: str
    kept: int
    dropped: int
    reasons: dict[str, int] = field(default_factory=dict)  # reason code -> records dropped for it (a record may have several)
    seconds: float | None = None  # wall time of the call that finished the stage (not of earlier, interrupted calls)

    @property
    def n_in(self) -> int:
        return self.kept + self.dropped


# ---------------------------------------------------------------------------------------------- files of a stage

def _repair_tail(path: Path) -> None:
    """Cut a last line that a crash left half-written (no newline, or not JSON)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    end = len(data) if data.endswith(b"\n") else data.rfind(b"\n") + 1
    lines = data[:end].split(b"\n")[:-1] if end else []
    if lines:
        try:
            json.loads(lines[-1])
        except json.JSONDecodeError:
            end -= len(lines[-1]) + 1
    if end != len(data):
        with path.open("r+b") as fh:
            fh.truncate(end)


def _append_line(path: Path, obj: dict[str, Any]) -> None:
    try:
        line = json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as e:  # NaN/Infinity: the strict loader would refuse the line later, so refuse it now
        raise SchemaError(f"{path}: record {obj.get('id')!r} holds a non-finite number ({e})") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    with writing(path), path.open("a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def _lines(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    """(line number, object) of a stage file; a damaged line raises SchemaError naming file and line."""
    if not path.is_file():
        return
    try:
        for lineno, obj in iter_json_lines(path):
            if not isinstance(obj, dict):
                raise SchemaError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj
    except SchemaError as e:
        raise SchemaError(f"{e}; {RESTART_HINT}", field=e.field) from None


def _ids(path: Path, id_of: Callable[[dict[str, Any]], str]) -> list[str]:
    out = []
    for lineno, obj in _lines(path):
        try:
            out.append(str(id_of(obj)))
        except (KeyError, TypeError) as e:
            raise SchemaError(f"{path}:{lineno}: the record has no id ({type(e).__name__}: {e}); {RESTART_HINT}") from None
    return out


def _by_id(record: dict[str, Any]) -> str:
    return record["id"]


class StageFiles:
    """The files of one stage in a run folder (see module docstring)."""

    def __init__(self, run_dir: str | os.PathLike, stage: str, out: str | os.PathLike | None = None,
                 id_of: Callable[[dict[str, Any]], str] = _by_id) -> None:
        """`out`: where kept records go (default ``<run>/<stage>.jsonl``); `id_of`: the input id of a kept line."""
        self.run_dir, self.stage, self.id_of = Path(run_dir), stage, id_of
        self.out = Path(out) if out is not None else self.run_dir / f"{stage}.jsonl"
        self.drops = self.run_dir / f"{stage}.drops.jsonl"
        self.done_marker = self.run_dir / f"{stage}.done.json"

    def processed_ids(self) -> set[str]:
        """Ids already kept or dropped (after cutting torn lines)."""
        _repair_tail(self.out)
        _repair_tail(self.drops)
        return set(_ids(self.out, self.id_of)) | set(_ids(self.drops, _by_id))

    def keep(self, record: Any) -> None:
        _append_line(self.out, record if isinstance(record, dict) else to_dict(record))

    def drop(self, outcome: Outcome) -> None:
        _append_line(self.drops, {"id": outcome.id, "stage": self.stage, "reasons": outcome.reasons, "info": outcome.info})

    def counts(self, seconds: float | None = None) -> StageCounts:
        reasons: Counter[str] = Counter()
        dropped = 0
        for lineno, obj in _lines(self.drops):
            dropped += 1
            if not isinstance(obj.get("reasons"), list):
                raise SchemaError(f"{self.drops}:{lineno}: field 'reasons': expected a list; {RESTART_HINT}")
            reasons.update({reason_code(str(r)) for r in obj["reasons"]})
        kept = len(set(_ids(self.out, self.id_of)))
        return StageCounts(self.stage, kept, dropped, dict(sorted(reasons.items())), seconds)

    @property
    def is_done(self) -> bool:
        return self.done_marker.is_file()

    def mark_done(self, counts: StageCounts) -> None:
        tmp = self.done_marker.with_suffix(".tmp")
        with writing(tmp):
            tmp.write_text(json.dumps(to_dict(counts), indent=1))
        tmp.replace(self.done_marker)

    def read_done(self) -> StageCounts:
        """The counts a finished stage recorded; SchemaError (file named, --restart hint) if the file is damaged."""
        try:
            return from_dict(StageCounts, parse_json(self.done_marker.read_bytes().decode("utf-8")))
        except (SchemaError, ValueError) as e:  # UnicodeDecodeError is a ValueError
            raise SchemaError(f"{self.done_marker}: not a stage record ({e}); {RESTART_HINT}") from None


def run_stage(files: StageFiles, outcomes: Callable[[set[str]], Iterable[Outcome]], total: int | None, *,
              write: Callable[[Outcome], None] | None = None, hook: Hook | None = None,
              progress: bool = True) -> StageCounts:
    """Run one stage into its files, resuming: ``outcomes(skip_ids)`` yields an Outcome per record not yet done.

    Args:
        files: where the stage writes.
        outcomes: the stage function, called with the ids to skip.
        total: records in the stage's input (for the progress bar; None if unknown).
        write: how a kept outcome is stored (default: its record as one JSON line in ``files.out``).
        hook: called after every record written, e.g. to interrupt a run in a test.
        progress: show a tqdm bar.

    Returns:
        The stage's counts, read back from its files (so a resumed stage counts every record once).
    """
    if files.is_done:
        return files.read_done()
    t0 = time.perf_counter()
    done = files.processed_ids()
    bar = tqdm(total=total, initial=len(done), desc=files.stage, unit="rec", disable=not progress)
    n = 0
    for oc in outcomes(done):
        if oc.id in done:
            continue
        if oc.kept:
            (write or (lambda o: files.keep(o.record)))(oc)
        else:
            files.drop(oc)
        done.add(oc.id)
        n += 1
        bar.update(1)
        if hook is not None:
            hook(files.stage, n)
    bar.close()
    counts = files.counts(seconds=round(time.perf_counter() - t0, 2))
    files.mark_done(counts)
    return counts


# ---------------------------------------------------------------------------------------------- paths of samples

def rebase_sample(sample: Sample, base_dir: str | os.PathLike | None, run_dir: str | os.PathLike) -> Sample:
    """Make a sample's relative paths (video, marked frame) resolve against `run_dir` instead of `base_dir`."""
    def move(p: str | None) -> str | None:
        if p is None or base_dir is None:
            return p
        full = resolve_path(p, base_dir)
        return os.path.relpath(full, run_dir) if not os.path.isabs(p) else p

    d = to_dict(sample)
    d["video_path"] = move(sample.video_path)
    if sample.visual_prompt is not None:
        d["visual_prompt"]["image_path"] = move(sample.visual_prompt.image_path)
    v2p = d.get("extra", {}).get("v2p")
    if isinstance(v2p, dict) and isinstance(v2p.get("frame_paths"), list):
        v2p["frame_paths"] = [move(p) for p in v2p["frame_paths"]]
    return Sample.from_dict(d)


def read_samples(path: str | os.PathLike) -> list[Sample]:
    """A stage's kept samples (empty list if the file is not there)."""
    return load_jsonl(path) if Path(path).is_file() else []


def clear_run(run_dir: str | os.PathLike) -> None:
    """Delete what the pipeline wrote in a run folder (only its own files and folders)."""
    run = Path(run_dir)
    for stage in STAGES:
        for suffix in (".jsonl", ".drops.jsonl", ".done.json"):
            (run / f"{stage}{suffix}").unlink(missing_ok=True)
    for name in ("run.json", "counts.json", "funnel.png"):
        (run / name).unlink(missing_ok=True)
    for name in ("toyworld", "prompts", "sft"):
        shutil.rmtree(run / name, ignore_errors=True)


def compare_runs(a: str | os.PathLike, b: str | os.PathLike) -> list[str]:
    """Files (relative paths) that differ between two run folders or exist in only one; stage timing files
    (``*.done.json``, ``counts.json``) are left out. ``[]``: the runs hold the same records, byte for byte."""
    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*")
                if p.is_file() and not p.name.endswith((".done.json", "counts.json")) and p.name != LOCK_FILE}
    ra, rb = Path(a), Path(b)
    fa, fb = files(ra), files(rb)
    return sorted((fa ^ fb) | {f for f in fa & fb if not filecmp.cmp(ra / f, rb / f, shallow=False)})
