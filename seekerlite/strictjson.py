"""Strict, bounded JSON: what every seekerlite loader parses records, configs and stage files with.

    parse_json('{"a": [1, 2.5]}', "x.json")     # {'a': [1, 2.5]}; SchemaError "x.json: ..." when out of bounds
    for lineno, obj in iter_json_lines("s.jsonl"): ...   # every non-blank line, parsed the same way

Refused, naming the file, the line and the field: invalid UTF-8, invalid JSON, NaN / Infinity and numbers that
overflow, integers of more than ``MAX_INT_DIGITS`` digits, nesting deeper than ``MAX_JSON_DEPTH`` levels. So no
loader downstream meets a RecursionError, an OverflowError or a NaN. A UTF-8 byte-order mark and CRLF line ends
are accepted. (``SchemaError`` lives here, the lowest layer, and is re-exported by ``seekerlite.schema``.)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

MAX_JSON_DEPTH = 64  # nesting of arrays/objects in one record; deeper is refused (no RecursionError downstream)
MAX_INT_DIGITS = 18  # digits of a JSON integer (|n| < 10**18); longer is refused (no huge-integer overflow later)


class SchemaError(ValueError):
    """A record or a JSONL file does not match the schema. The message names file, line and field.

    ``field`` is the dotted field path when one field is to blame (``"visual_prompt.frame_index"``).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def field_error(field_name: str, detail: str) -> SchemaError:
    """SchemaError "field '<name>': <detail>" with ``field`` set."""
    return SchemaError(f"field '{field_name}': {detail}", field=field_name)



# ----------------------------------------------------------------------------- typed records from JSON

T = TypeVar("T")


def to_dict(record: Any) -> dict[str, Any]:
    """A dataclass record as plain JSON-ready dicts/lists (None fields kept, so files are self-describing)."""
    return dataclasses.asdict(record)


def _check(value: Any, tp: Any, where: str) -> Any:
    """Validate/convert `value` against type hint `tp`; raise SchemaError naming `where`."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _check(value, a, where)
            except SchemaError as e:
                errors.append(str(e))
        raise SchemaError(errors[0] if len(errors) == 1 else f"field '{where}': {value!r} matches none of {tp}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise field_error(where, f"expected an object, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise field_error(where, f"expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp) or (Any,)
        return [_check(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise field_error(where, f"expected an object, got {type(value).__name__}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise field_error(where, f"expected a number, got {value!r}")
        if not math.isfinite(value) or abs(value) >= 10 ** MAX_INT_DIGITS:
            raise field_error(where, f"expected a finite number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise field_error(where, f"expected an integer, got {value!r}")
        if abs(value) >= 10 ** MAX_INT_DIGITS:
            raise field_error(where, f"integer {value} is too large")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise field_error(where, f"expected a string, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise field_error(where, f"expected true/false, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], d: dict[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from a dict, checking every field's type. Unknown keys are an error."""
    if not isinstance(d, dict):
        raise SchemaError(f"{where or cls.__name__}: expected a JSON object, got {type(d).__name__}", field=where or None)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(d) - names
    if unknown:
        raise SchemaError(f"{where or cls.__name__}: unknown field(s) {sorted(map(str, unknown))}", field=where or None)
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        path = f"{where}.{f.name}" if where else f.name
        if f.name not in d:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SchemaError(f"field '{path}' is missing", field=path)
            continue
        kwargs[f.name] = _check(d[f.name], hints[f.name], path)
    try:
        return cls(**kwargs)
    except SchemaError as e:
        if e.field is not None and where:  # name the field by its whole path: 'visual_prompt.frame_index'
            full = f"{where}.{e.field}"
            raise SchemaError(str(e).replace(f"field '{e.field}'", f"field '{full}'", 1), field=full) from None
        raise SchemaError(f"{where + ': ' if where else ''}{e}", field=e.field) from None
    except (ValueError, TypeError) as e:  # a config's own __post_init__ check
        raise SchemaError(f"{where + ': ' if where else ''}{e}", field=where or None) from None


# ----------------------------------------------------------------------------- bounded parsing

class _BigInt(int):
    """A JSON integer too long to accept, kept (as 0) only so the scan below can name its field."""

    digits = 0


def _json_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits <= MAX_INT_DIGITS:
        return int(text)
    big = _BigInt(0)
    big.digits = digits
    return big


def _short(path: str) -> str:
    return (path[:40] + "...") if len(path) > 40 else (path or "(top)")


def _clean(obj: Any, limit: int) -> bool:
    """Whether a parsed JSON value is within the bounds `_scan` checks (a fast pass that builds no paths)."""
    stack = [(obj, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        x, depth = pop()
        if isinstance(x, (dict, list)):
            if depth > limit:
                return False
            for v in (x.values() if isinstance(x, dict) else x):
                if isinstance(v, (dict, list)):
                    push((v, depth + 1))
                elif isinstance(v, _BigInt) or (isinstance(v, float) and not math.isfinite(v)):
                    return False
        elif isinstance(x, _BigInt) or (isinstance(x, float) and not math.isfinite(x)):
            return False
    return True


def _scan(obj: Any, limit: int) -> str | None:
    """The first problem in a parsed JSON value ("field 'a.b[2]': ..."), or None. An explicit stack: no recursion,
    so depth is checked (> `limit` levels), and so are non-finite numbers and over-long integers."""
    stack: list[tuple[Any, int, str]] = [(obj, 1, "")]
    while stack:
        x, depth, path = stack.pop()
        if isinstance(x, dict):
            if depth > limit:
                return f"field '{_short(path)}': nested deeper than {limit} levels"
            stack.extend((v, depth + 1, f"{path}.{k}" if path else str(k)) for k, v in reversed(x.items()))
        elif isinstance(x, list):
            if depth > limit:
                return f"field '{_short(path)}': nested deeper than {limit} levels"
            stack.extend((v, depth + 1, f"{path}[{i}]") for i, v in reversed(list(enumerate(x))))
        elif isinstance(x, _BigInt):
            return f"field '{path}': an integer of {x.digits} digits (at most {MAX_INT_DIGITS})"
        elif isinstance(x, float) and not math.isfinite(x):
            return f"field '{path}': {x} is not a finite number"
    return None


def parse_json(text: str, where: str = "") -> Any:
    """Parse one JSON document strictly and with bounds: NaN/Infinity, numbers that overflow, integers of more than
    ``MAX_INT_DIGITS`` digits and nesting deeper than ``MAX_JSON_DEPTH`` are refused, naming the field.

    Raises:
        SchemaError: "<where>: invalid JSON (...)" or "<where>: field '<path>': ...".

    >>> parse_json('{"a": [1, 2.5]}')
    {'a': [1, 2.5]}
    """
    prefix = f"{where}: " if where else ""
    try:
        obj = json.loads(text, parse_int=_json_int)
    except json.JSONDecodeError as e:
        raise SchemaError(f"{prefix}invalid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise SchemaError(f"{prefix}invalid JSON (nested deeper than {MAX_JSON_DEPTH} levels)") from None
    except ValueError as e:
        raise SchemaError(f"{prefix}invalid JSON ({e})") from None
    problem = None if _clean(obj, MAX_JSON_DEPTH) else _scan(obj, MAX_JSON_DEPTH)
    if problem is not None:
        raise SchemaError(f"{prefix}{problem}", field=problem.split("'")[1])
    return obj


def iter_json_lines(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON value) for every non-blank line of a JSON Lines file, with ``parse_json``'s bounds.

    A UTF-8 byte-order mark and CRLF line ends are accepted; bytes that are not UTF-8 are refused.

    Raises:
        FileNotFoundError: the file does not exist (or is a folder).
        SchemaError: "<file>:<line>: ..." for invalid UTF-8 or invalid JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such JSONL file: {path}" + (" (it is a folder)" if path.is_dir() else ""))
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise SchemaError(f"{path}:{lineno}: invalid UTF-8 (byte {e.start + 1} of the line)") from None
            if lineno == 1:
                line = line.removeprefix("\ufeff")
            if line.strip():
                yield lineno, parse_json(line, f"{path}:{lineno}")


# ----------------------------------------------------------------------------- ranges of config fields

Range = tuple[float | None, float | None]  # (lowest allowed, highest allowed); None = no bound


def check_ranges(cfg: Any, ranges: dict[str, Range], optional: tuple[str, ...] = ()) -> None:
    """SchemaError naming the first field of dataclass `cfg` that is not a finite number in its range (fields in
    `optional` may also be None): what a config's ``__post_init__`` calls, so that a bad value is refused when the
    config is made, before any work (not after a model loaded).

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class C:
    ...     steps: int = 0
    >>> try:
    ...     check_ranges(C(), {"steps": (1, None)})
    ... except SchemaError as e:
    ...     print(e)
    C: field 'steps': 0 (want >= 1)
    """
    for name, (lo, hi) in ranges.items():
        x = getattr(cfg, name)
        if x is None and name in optional:
            continue
        ok = isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
        if not ok or (lo is not None and x < lo) or (hi is not None and x > hi):
            want = " and ".join(w for w in (f">= {lo:g}" if lo is not None else "",
                                            f"<= {hi:g}" if hi is not None else "") if w) or "a finite number"
            raise SchemaError(f"{type(cfg).__name__}: field '{name}': {x!r} (want {want})", field=name)
