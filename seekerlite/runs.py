"""Run folders remember how they were made: ``run.json`` holds the environment, the student, the data, the seed
and the library versions of the step that wrote the folder.

    write_run(out, RunInfo("sft", env=cfg.env, student=cfg.student, seed=cfg.seed, data=cfg.data, weights="adapter"))
    info = read_run("runs/sft")                   # or a file/folder inside a run: runs/x/sft/sft.jsonl
    env = settle(info.env, env_given, explicit, "env", info.path, override=False)   # refuse a mismatch

A later step that reads a run folder (``sft --data``, ``grpo --model``, ``eval --model``) starts from the run's
settings: what the user did not set is taken from ``run.json``; what they set differently is refused with a
message naming each field, unless they pass ``--override``. So the settings a student was trained with are the
settings it is evaluated with.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from seekerlite.config import EnvConfig, StudentConfig
from seekerlite.schema import SchemaError, from_dict, to_dict
from seekerlite.strictjson import parse_json

RUN_FILE = "run.json"
KINDS = ("pipeline", "sft", "grpo", "eval", "demo", "pretrain")
T = TypeVar("T")


class RunMismatchError(ValueError):
    """Settings given on the command line differ from those a run folder was made with."""


@dataclass
class RunInfo:
    """What ``run.json`` holds."""

    kind: str  # one of KINDS: the step that wrote the folder
    env: EnvConfig  # the environment every episode of the run used
    student: StudentConfig | None = None  # the student trained or evaluated (None: the pipeline)
    seed: int = 0
    data: str | None = None  # what the run read (a file or a run folder)
    parent: str | None = None  # the run folder it started from (SFT for GRPO), if any
    weights: str | None = None  # trained weights inside the folder, relative to it: "adapter", "model" or "."
    config: dict[str, Any] = field(default_factory=dict)  # the step's whole config
    versions: dict[str, str] = field(default_factory=dict)  # library versions (see `versions`)
    path: str = ""  # the run folder, filled in when read (not written)


def versions() -> dict[str, str]:
    """Versions of python and of the libraries a run depends on (those installed)."""
    out = {"python": platform.python_version()}
    for name in ("seekerlite", "torch", "transformers", "trl", "peft", "accelerate", "bitsandbytes", "unsloth"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def write_run(out_dir: str | os.PathLike, info: RunInfo) -> Path:
    """Write ``out_dir/run.json`` (atomically: a crash never leaves half a file); returns its path. Under
    ``accelerate launch``/``torchrun`` only rank 0 writes (the other ranks share its folder)."""
    from seekerlite.runlock import distributed_rank

    out = Path(out_dir)
    if distributed_rank() != 0:
        return out / RUN_FILE
    out.mkdir(parents=True, exist_ok=True)
    data = to_dict(info)
    data.pop("path")
    data["versions"] = data["versions"] or versions()
    path = out / RUN_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)
    return path


def find_run(path: str | os.PathLike, levels: int = 2) -> Path | None:
    """The ``run.json`` of the run folder `path` is, or lies in (at most `levels` folders up), or None."""
    p = Path(path)
    here = p if p.is_dir() else p.parent
    for d in [here, *list(here.parents)[:levels]]:
        if (d / RUN_FILE).is_file():
            return d / RUN_FILE
    return None


def read_run(path: str | os.PathLike, levels: int = 2) -> RunInfo | None:
    """The RunInfo of the run `path` belongs to (see ``find_run``), or None when there is none.

    Raises:
        SchemaError: run.json exists but is not valid (the message names the file and the field).
    """
    found = find_run(path, levels)
    if found is None:
        return None
    try:
        data = parse_json(found.read_text(encoding="utf-8"))  # bounded: depth, NaN, huge integers
    except (OSError, ValueError) as e:  # SchemaError, UnicodeDecodeError are ValueErrors
        raise SchemaError(f"{found}: unreadable run record ({e})") from None
    if not isinstance(data, dict):
        raise SchemaError(f"{found}: expected a JSON object")
    data.pop("path", None)
    try:
        info = from_dict(RunInfo, data)
    except (SchemaError, ValueError) as e:
        raise SchemaError(f"{found}: {e}") from None
    info.path = str(found.parent)
    return info


def _differences(a: Any, b: Any, prefix: str, skip: set[str]) -> list[str]:
    return [f"{prefix}.{f.name}: the run has {getattr(a, f.name)!r}, given {getattr(b, f.name)!r}"
            for f in dataclasses.fields(a)
            if f.name not in skip and getattr(a, f.name) != getattr(b, f.name)]


def settle(run_value: T, given: T, explicit: set[str], what: str, source: str, override: bool = False,
           ignore: tuple[str, ...] = ()) -> T:
    """The settings a step should use, given a run's (`run_value`) and the user's (`given`, of which the fields in
    `explicit` were set on purpose: names like ``"frames_per_call"``).

    Fields the user did not set come from the run. A field set to a different value raises RunMismatchError
    naming it, unless `override`. Fields in `ignore` always come from `given`.
    """
    kept = {f.name: getattr(given, f.name) for f in dataclasses.fields(given)  # type: ignore[arg-type]
            if f.name in explicit or f.name in ignore}
    merged = dataclasses.replace(run_value, **kept)  # type: ignore[type-var]
    if not override:
        diffs = _differences(run_value, merged, what, set(ignore))
        if diffs:
            names = ", ".join(d.split(":")[0] for d in diffs)
            raise RunMismatchError(
                f"{source} was made with other settings ({names}; drop those options to use the run's, or pass "
                f"--override to use yours):\n  " + "\n  ".join(diffs))
    return merged
