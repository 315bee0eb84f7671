"""Command lines derived from config dataclasses: every field is a flag, its trailing comment is its ``--help``,
and the same knob has the same flag in every command (cleanrl's ``Args`` dataclass, without a dependency).

    parser = argparse.ArgumentParser(prog="seekerlite sft")
    add_config_arguments(parser, SFTRunConfig)          # --lr, --batch-size, --frames-per-call, --model, ...
    cfg, explicit = config_from_args(SFTRunConfig, parser.parse_args(argv))

Nested config fields (``env: EnvConfig``, ``student: StudentConfig``, ``rewards: RewardConfig``) are flattened:
their fields get flags of their own names (``--frames-per-call``, ``--lora-r``). ``explicit`` is the set of
dotted field paths the user actually set (``{"learning_rate", "env.frames_per_call"}``): a step that reads a
run folder takes every other setting from its ``run.json`` (``seekerlite.runs.settle``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import io
import json
import tokenize
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")

# one flag per knob, everywhere; the first name is the one --help shows, the others are aliases (older flags)
FLAG_NAMES: dict[str, tuple[str, ...]] = {
    "model_id": ("--model", "--model-id", "--init-from"),
    "policy": ("--model", "--policy"),
    "learning_rate": ("--lr", "--learning-rate"),
    "per_device_train_batch_size": ("--batch-size", "--per-device-train-batch-size"),
    "gradient_accumulation_steps": ("--grad-accum", "--gradient-accumulation-steps"),
    "gradient_checkpointing": ("--grad-ckpt", "--gradient-checkpointing"),
    "num_train_epochs": ("--epochs", "--num-train-epochs"),
    "frames_per_call": ("--frames-per-call", "--max-frames-per-call"),
    "max_tool_rounds": ("--tool-rounds", "--max-tool-rounds", "--max-turns"),
    "output_dir": ("--out", "--output-dir"),
    "resume_from_checkpoint": ("--resume", "--resume-from-checkpoint"),
    "load_in_4bit": ("--4bit", "--load-in-4bit"),
}
FLAG_CONST: dict[str, str] = {"resume_from_checkpoint": "latest"}  # the value of the bare flag (``--resume``)


@functools.cache
def field_comments(cls: type) -> dict[str, str]:
    """{field name: its trailing ``# comment``} from the class's source (empty when the source is unavailable)."""
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    line_field: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.NAME and tok.start[1] == 4 and tok.string in names and tok.start[0] not in line_field:
            line_field[tok.start[0]] = tok.string
        elif tok.type == tokenize.COMMENT and tok.start[0] in line_field:
            out[line_field[tok.start[0]]] = tok.string.lstrip("# ").strip()
    return out


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _converter(tp: Any) -> Any:
    """A function str -> value for a field type; None when the type has no command-line form."""
    base, optional = _unwrap_optional(tp)
    origin = typing.get_origin(base)
    if base in (int, float, str):
        conv = base
    elif origin in (tuple, list):
        (item, *_) = typing.get_args(base) or (str,)
        item = str if item is Ellipsis else item
        seq = tuple if origin is tuple else list
        conv = lambda v: seq(item(x) for x in v.split(",") if x.strip())  # noqa: E731
    elif origin is dict or base is dict:
        conv = json.loads
    else:
        return None
    if not optional:
        return conv
    return lambda v: None if v.strip().lower() == "none" else conv(v)


def _is_config(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp) and isinstance(tp, type)


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, *, exclude: tuple[str, ...] = (),
                         prefix: str = "", title: str | None = None, defaults: Any = None) -> None:
    """Add a flag for every field of dataclass `cls` (nested config fields flattened) to `parser`.

    Flags default to "not given" (``argparse.SUPPRESS``) so that ``config_from_args`` knows what the user set;
    ``--help`` shows each field's comment and its default (from `defaults`, an instance, or ``cls()``).
    """
    inst = defaults if defaults is not None else cls()
    group = parser.add_argument_group(title or cls.__name__)
    comments = field_comments(cls)
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in exclude or not f.init:
            continue
        tp = hints[f.name]
        if _is_config(_unwrap_optional(tp)[0]):
            add_config_arguments(parser, _unwrap_optional(tp)[0], exclude=exclude, prefix=f"{prefix}{f.name}.",
                                 title=f"{f.name} ({_unwrap_optional(tp)[0].__name__})",
                                 defaults=getattr(inst, f.name) or None)
            continue
        flags = FLAG_NAMES.get(f.name, ("--" + f.name.replace("_", "-"),))
        default = getattr(inst, f.name)
        help_ = f"{comments.get(f.name, '')} (default: {default!r})".strip().replace("%", "%%")
        if _unwrap_optional(tp)[0] is bool:
            group.add_argument(*flags, dest=prefix + f.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_)
            continue
        conv = _converter(tp)
        if conv is None:
            continue
        bare = {"nargs": "?", "const": FLAG_CONST[f.name]} if f.name in FLAG_CONST else {}
        group.add_argument(*flags, dest=prefix + f.name, type=conv, default=argparse.SUPPRESS,
                           metavar=f.name.upper(), help=help_, **bare)


def given_fields(args: argparse.Namespace) -> set[str]:
    """The dotted field paths the user set on the command line (what ``add_config_arguments`` flags carried)."""
    return {k for k in vars(args) if not k.startswith("_")}


def apply_values(base: T, values: dict[str, Any]) -> T:
    """A copy of config `base` with dotted-path `values` (``{"env.frames_per_call": 8}``) set; unknown paths are
    ignored (they belong to other flags of the command)."""
    direct: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    names = {f.name for f in dataclasses.fields(base)}  # type: ignore[arg-type]
    for path, v in values.items():
        head, _, rest = path.partition(".")
        if head not in names:
            continue
        if rest:
            nested.setdefault(head, {})[rest] = v
        else:
            direct[head] = v
    for head, vals in nested.items():
        direct[head] = apply_values(getattr(base, head), vals)
    return dataclasses.replace(base, **direct)  # type: ignore[type-var]


def config_from_args(cls: type[T], args: argparse.Namespace, base: T | None = None) -> tuple[T, set[str]]:
    """(config, explicit dotted paths): `base` (default ``cls()``) with every flag the user gave applied."""
    values = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    cfg = apply_values(base if base is not None else cls(), values)
    return cfg, set(values)


def explicit_in(explicit: set[str], prefix: str) -> set[str]:
    """The field names under `prefix` that were set (``explicit_in({"env.x", "lr"}, "env") == {"x"}``)."""
    return {p.split(".", 1)[1] for p in explicit if p.startswith(prefix + ".")}
