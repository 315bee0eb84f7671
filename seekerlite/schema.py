"""Typed records that flow through seekerlite, and their JSON Lines I/O.

One shape end to end:
    VideoInfo   what a decoded video is (fps, frames, size)
    Masklet     one instance through time: per-frame boxes + COCO RLE masks
    VisualPrompt the marked frame shown to the model (which frame, which mark, where it is saved)
    Sample      a question about one instance of one video (MC or OE) + everything above

Loading is strict: a malformed line raises `SchemaError` naming the file, the line and the field;
nothing is silently dropped.

    >>> s = Sample(id="a", video_path="v.mp4", question="What colour is it?", answer="red")
    >>> Sample.from_dict(s.to_dict()) == s
    True
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

PROMPT_TYPES: tuple[str, ...] = (
    "rectangle", "ellipse", "triangle", "arrow", "point", "scribble",
    "mask_contour", "mask_overlay", "set_of_mark",
)
"""Visual-prompt types seekerlite can render (the paper's eight plus a filled mask overlay)."""

OTHER_PROMPT = "other"
"""Prompt type of a marked frame loaded from elsewhere (e.g. V2P-Bench) whose kind of mark is not known."""

OPTION_LETTERS = "ABCDEFGHIJ"

Box = list[float]  # [x0, y0, x1, y1] in pixels of the full frame, x1 > x0, y1 > y0


class SchemaError(ValueError):
    """A record or a JSONL file does not match the schema. The message names file, line and field."""


# ----------------------------------------------------------------------------- masks as RLE

def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """Encode a boolean (H, W) mask as COCO RLE ``{"size": [H, W], "counts": str}`` (JSON-safe).

    >>> m = np.zeros((4, 5), bool); m[1:3, 2:4] = True
    >>> bool((decode_mask(encode_mask(m)) == m).all())
    True
    """
    from pycocotools import mask as mask_utils

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode_mask(rle: dict[str, Any]) -> np.ndarray:
    """Decode a COCO RLE dict back to a boolean (H, W) mask."""
    from pycocotools import mask as mask_utils

    counts = rle["counts"]
    coco = {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    if isinstance(counts, list):  # uncompressed RLE (as some tools write it)
        coco = mask_utils.frPyObjects(coco, *rle["size"])
    return mask_utils.decode(coco).astype(bool)


def mask_to_box(mask: np.ndarray) -> Box | None:
    """Tight [x0, y0, x1, y1] pixel box of a mask (x1, y1 exclusive), or None when the mask is empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes.

    >>> box_iou([0, 0, 2, 2], [1, 1, 3, 3])
    0.14285714285714285
    """
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


# ----------------------------------------------------------------------------- records

@dataclass
class VideoInfo:
    """What a video is, as decoded. Times in seconds."""

    path: str
    fps: float  # frames per second
    num_frames: int
    width: int  # pixels
    height: int  # pixels

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the end of the last."""
        return self.num_frames / self.fps if self.fps > 0 else 0.0


@dataclass
class Masklet:
    """One instance through time. Entry i of `boxes`/`rles` belongs to video frame `frame_indices[i]`.

    A frame where the instance is not visible is simply absent (or has box None).
    """

    instance_id: str
    frame_indices: list[int]
    boxes: list[Box | None]  # pixels, [x0, y0, x1, y1]
    rles: list[dict[str, Any] | None] = field(default_factory=list)  # COCO RLE per frame, or empty
    label: str | None = None  # a short noun ("pedestrian", "red circle"), if known
    source: str = "manual"  # manual | synth | sam2 | opencv

    def __post_init__(self) -> None:
        if len(self.boxes) != len(self.frame_indices):
            raise SchemaError(f"masklet {self.instance_id!r}: {len(self.boxes)} boxes for {len(self.frame_indices)} frames")
        if self.rles and len(self.rles) != len(self.frame_indices):
            raise SchemaError(f"masklet {self.instance_id!r}: {len(self.rles)} rles for {len(self.frame_indices)} frames")
        for b in self.boxes:
            if b is not None and (len(b) != 4 or b[2] <= b[0] or b[3] <= b[1]):
                raise SchemaError(f"masklet {self.instance_id!r}: bad box {b} (want [x0, y0, x1, y1], x1>x0, y1>y0)")

    def _pos(self, frame_index: int) -> int | None:
        try:
            return self.frame_indices.index(frame_index)
        except ValueError:
            return None

    def box_at(self, frame_index: int) -> Box | None:
        """Box at a video frame index, or None where the instance is not annotated/visible."""
        i = self._pos(frame_index)
        return None if i is None else self.boxes[i]

    def mask_at(self, frame_index: int) -> np.ndarray | None:
        """Boolean (H, W) mask at a frame, or None where there is none."""
        i = self._pos(frame_index)
        if i is None or not self.rles or self.rles[i] is None:
            return None
        return decode_mask(self.rles[i])

    def visible_frames(self) -> list[int]:
        """Frame indices where the instance has a box."""
        return [f for f, b in zip(self.frame_indices, self.boxes) if b is not None]

    def span(self, fps: float) -> tuple[float, float] | None:
        """(first, last+1 frame) of visibility in seconds, or None if never visible."""
        vis = self.visible_frames()
        if not vis:
            return None
        return (min(vis) / fps, (max(vis) + 1) / fps)


@dataclass
class VisualPrompt:
    """The marked frame: which frame, which mark, and where the rendered image is saved."""

    frame_index: int | None  # None when the marked frame's place in the video is unknown (loaded benchmarks)
    timestamp: float | None  # seconds; None when unknown
    prompt_type: str  # one of PROMPT_TYPES, or OTHER_PROMPT for a loaded, already-marked frame
    image_path: str | None = None  # rendered F_vp (relative paths resolve against the JSONL's folder)
    box: Box | None = None  # the instance's box on that frame, pixels

    def __post_init__(self) -> None:
        if self.prompt_type not in PROMPT_TYPES and self.prompt_type != OTHER_PROMPT:
            raise SchemaError(f"prompt_type {self.prompt_type!r} is not one of {PROMPT_TYPES + (OTHER_PROMPT,)}")


@dataclass
class Sample:
    """A question about one instance of one video. MC when `options` is set (answer = a letter), else OE."""

    id: str
    video_path: str  # relative paths resolve against the JSONL's folder
    question: str
    answer: str  # MC: "A".."J"; OE: free-text reference
    options: list[str] | None = None
    visual_prompt: VisualPrompt | None = None
    masklet: Masklet | None = None
    span: list[float] | None = None  # [t0, t1] seconds where the instance/event matters
    task: str = "unknown"  # e.g. "attribute", "action", "counting", "temporal"
    dimension: str | None = None  # V2P-Bench dimension code (OA, HA, ...), if any
    provenance: dict[str, Any] = field(default_factory=dict)  # where it came from, stage verdicts
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.question.strip():
            raise SchemaError(f"sample {self.id!r}: empty question")
        if self.options is not None:
            if not 2 <= len(self.options) <= len(OPTION_LETTERS):
                raise SchemaError(f"sample {self.id!r}: {len(self.options)} options (want 2..{len(OPTION_LETTERS)})")
            letters = OPTION_LETTERS[: len(self.options)]
            if self.answer not in letters:
                raise SchemaError(f"sample {self.id!r}: MC answer {self.answer!r} is not one of {list(letters)}")
        if self.span is not None and (len(self.span) != 2 or self.span[1] < self.span[0]):
            raise SchemaError(f"sample {self.id!r}: span {self.span} must be [t0, t1] with t1 >= t0")

    @property
    def is_mc(self) -> bool:
        return self.options is not None

    @property
    def answer_text(self) -> str:
        """The answer as text: the option's text for MC, the reference for OE."""
        if self.options is None:
            return self.answer
        return self.options[OPTION_LETTERS.index(self.answer)]

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sample:
        return from_dict(cls, d)


# ----------------------------------------------------------------------------- generic (de)serialisation

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
            raise SchemaError(f"field '{where}': expected an object, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise SchemaError(f"field '{where}': expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp) or (Any,)
        return [_check(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise SchemaError(f"field '{where}': expected an object, got {type(value).__name__}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaError(f"field '{where}': expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"field '{where}': expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise SchemaError(f"field '{where}': expected a string, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise SchemaError(f"field '{where}': expected true/false, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], d: dict[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from a dict, checking every field's type. Unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(d) - names
    if unknown:
        raise SchemaError(f"{where or cls.__name__}: unknown field(s) {sorted(unknown)}")
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        path = f"{where}.{f.name}" if where else f.name
        if f.name not in d:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SchemaError(f"field '{path}' is missing")
            continue
        kwargs[f.name] = _check(d[f.name], hints[f.name], path)
    try:
        return cls(**kwargs)
    except SchemaError as e:
        raise SchemaError(f"{where + ': ' if where else ''}{e}") from None


# ----------------------------------------------------------------------------- JSONL

def iter_jsonl(path: str | os.PathLike, cls: type[T] = Sample) -> Iterator[T]:  # type: ignore[assignment]
    """Yield records of `cls` from a JSON Lines file; blank lines are skipped, anything else malformed raises.

    Raises:
        FileNotFoundError: the file does not exist.
        SchemaError: "<file>:<line>: <field>: <what is wrong>".
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such JSONL file: {path}")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise SchemaError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(obj, dict):
                raise SchemaError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            try:
                yield from_dict(cls, obj)
            except SchemaError as e:
                raise SchemaError(f"{path}:{lineno}: {e}") from None


def load_jsonl(path: str | os.PathLike, cls: type[T] = Sample) -> list[T]:  # type: ignore[assignment]
    """All records of a JSON Lines file (see `iter_jsonl`)."""
    return list(iter_jsonl(path, cls))


def save_jsonl(records: Iterable[Any], path: str | os.PathLike, append: bool = False) -> Path:
    """Write dataclass records (or plain dicts) one per line. Writes to a temp file then renames, unless appending."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r if isinstance(r, dict) else to_dict(r), ensure_ascii=False) + "\n" for r in records]
    if append:
        with path.open("a", encoding="utf-8") as fh:
            fh.writelines(lines)
            fh.flush()
            os.fsync(fh.fileno())
        return path
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.writelines(lines)
    tmp.replace(path)
    return path


def stable_seed(*parts: Any) -> int:
    """A 31-bit seed from any values, e.g. a record's id (same values, same seed, in every process).

    >>> stable_seed("a", 1) == stable_seed("a", 1) != stable_seed("a", 2)
    True
    """
    import hashlib

    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "big") >> 1


def resolve_path(p: str, base: str | os.PathLike | None) -> str:
    """Resolve a record's relative path against the folder of the file it came from."""
    if base is None or os.path.isabs(p):
        return p
    return str(Path(base) / p)
