"""Typed records that flow through seekerlite, and their JSON Lines I/O.

One shape end to end:
    VideoInfo   what a decoded video is (fps, frames, size)
    Masklet     one instance through time: per-frame boxes + COCO RLE masks
    VisualPrompt the marked frame shown to the model (which frame, which mark, where it is saved)
    Sample      a question about one instance of one video (MC or OE) + everything above

Loading is strict: a malformed line raises `SchemaError` naming the file, the line and the field;
nothing is silently dropped (parsing and the typed ``from_dict`` are ``seekerlite.strictjson``'s; every number is
checked finite and in range here).

    >>> s = Sample(id="a", video_path="v.mp4", question="What colour is it?", answer="red")
    >>> Sample.from_dict(s.to_dict()) == s
    True
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from seekerlite.strictjson import (
    SchemaError,
    field_error,
    from_dict,
    iter_json_lines,
    to_dict,
)

PROMPT_TYPES: tuple[str, ...] = (
    "rectangle", "ellipse", "triangle", "arrow", "point", "scribble",
    "mask_contour", "mask_overlay", "set_of_mark",
)
"""Visual-prompt types seekerlite can render (the paper's eight plus a filled mask overlay)."""

OTHER_PROMPT = "other"
"""Prompt type of a marked frame loaded from elsewhere (e.g. V2P-Bench) whose kind of mark is not known."""

OPTION_LETTERS = "ABCDEFGHIJ"
MAX_ID_CHARS = 512  # longest sample id

Box = list[float]  # [x0, y0, x1, y1] in pixels of the full frame, x1 > x0, y1 > y0


def check_finite(field_name: str, x: float, minimum: float | None = None) -> None:
    """Raise SchemaError unless `x` is a finite number (and >= `minimum`)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise field_error(field_name, f"{x!r} is not a finite number")
    if minimum is not None and x < minimum:
        raise field_error(field_name, f"{x!r} is below {minimum:g}")


def check_box(field_name: str, box: Any) -> None:
    """Raise SchemaError unless `box` is [x0, y0, x1, y1]: 4 finite pixel coordinates >= 0, x1 > x0, y1 > y0."""
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise field_error(field_name, f"bad box {box!r} (want [x0, y0, x1, y1], 4 numbers)")
    for k, v in enumerate(box):
        check_finite(f"{field_name}[{k}]", v, 0.0)
    if not (box[2] > box[0] and box[3] > box[1]):
        raise field_error(field_name, f"bad box {list(box)} (want [x0, y0, x1, y1], x1>x0, y1>y0)")


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

    def __post_init__(self) -> None:
        check_finite("fps", self.fps, 0.0)
        for name in ("num_frames", "width", "height"):
            if getattr(self, name) < 0:
                raise field_error(name, f"{getattr(self, name)} is negative")

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
            raise field_error("boxes", f"masklet {self.instance_id!r}: {len(self.boxes)} boxes for {len(self.frame_indices)} frames")
        if self.rles and len(self.rles) != len(self.frame_indices):
            raise field_error("rles", f"masklet {self.instance_id!r}: {len(self.rles)} rles for {len(self.frame_indices)} frames")
        for k, f in enumerate(self.frame_indices):
            if f < 0:
                raise field_error(f"frame_indices[{k}]", f"frame index {f} is negative")
        if len(set(self.frame_indices)) != len(self.frame_indices):
            raise field_error("frame_indices", f"masklet {self.instance_id!r}: a frame index is repeated")
        for k, b in enumerate(self.boxes):
            if b is not None:
                check_box(f"boxes[{k}]", b)
        for k, r in enumerate(self.rles):
            if r is not None:
                size = r.get("size") if isinstance(r, dict) else None
                if (not isinstance(size, list) or len(size) != 2 or
                        any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in size)
                        or not isinstance(r.get("counts"), (str, list))):
                    raise field_error(f"rles[{k}]", "want a COCO RLE {\"size\": [H, W], \"counts\": ...} with H, W >= 1")

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
    timestamp: float | None = None  # seconds; None when unknown (the env and stage 4 derive it from frame_index)
    prompt_type: str = "rectangle"  # one of PROMPT_TYPES, or OTHER_PROMPT for a loaded, already-marked frame
    image_path: str | None = None  # rendered F_vp (relative paths resolve against the JSONL's folder)
    box: Box | None = None  # the instance's box on that frame, pixels

    def __post_init__(self) -> None:
        if self.prompt_type not in PROMPT_TYPES and self.prompt_type != OTHER_PROMPT:
            raise field_error("prompt_type", f"prompt_type {self.prompt_type!r} is not one of {PROMPT_TYPES + (OTHER_PROMPT,)}")
        if self.frame_index is not None and self.frame_index < 0:
            raise field_error("frame_index", f"frame index {self.frame_index} is negative")
        if self.timestamp is not None:
            check_finite("timestamp", self.timestamp, 0.0)
        if self.box is not None:
            check_box("box", self.box)


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
    task: str = "unknown"  # optional: e.g. "attribute", "action", "counting", "temporal" ("unknown" is never shown)
    dimension: str | None = None  # V2P-Bench dimension code (OA, HA, ...), if any
    provenance: dict[str, Any] = field(default_factory=dict)  # where it came from, stage verdicts
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > MAX_ID_CHARS:
            raise field_error("id", f"an id must have 1 to {MAX_ID_CHARS} characters, got {len(self.id)}")
        if not self.question.strip():
            raise field_error("question", f"sample {self.id!r}: empty question")
        if self.options is not None:
            if not 2 <= len(self.options) <= len(OPTION_LETTERS):
                raise field_error("options", f"sample {self.id!r}: {len(self.options)} options (want 2..{len(OPTION_LETTERS)})")
            letters = OPTION_LETTERS[: len(self.options)]
            if self.answer not in list(letters):  # a list: "" is a substring of every string
                raise field_error("answer", f"sample {self.id!r}: MC answer {self.answer!r} is not one of {list(letters)}")
        if self.span is not None:
            if len(self.span) != 2:
                raise field_error("span", f"sample {self.id!r}: span {self.span} must be [t0, t1]")
            for k, t in enumerate(self.span):
                check_finite(f"span[{k}]", t, 0.0)
            if self.span[1] < self.span[0]:
                raise field_error("span", f"sample {self.id!r}: span {self.span} must be [t0, t1] with t1 >= t0")

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


T = TypeVar("T")


# ----------------------------------------------------------------------------- JSONL (parsing: seekerlite.strictjson)

def iter_jsonl(path: str | os.PathLike, cls: type[T] = Sample) -> Iterator[T]:  # type: ignore[assignment]
    """Yield records of `cls` from a JSON Lines file; blank lines are skipped, anything else malformed raises.

    Raises:
        FileNotFoundError: the file does not exist.
        SchemaError: "<file>:<line>: field '<field>': <what is wrong>".
    """
    for lineno, obj in iter_json_lines(path):
        if not isinstance(obj, dict):
            raise SchemaError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        try:
            yield from_dict(cls, obj)
        except SchemaError as e:
            raise SchemaError(f"{path}:{lineno}: {e}", field=e.field) from None


def load_jsonl(path: str | os.PathLike, cls: type[T] = Sample) -> list[T]:  # type: ignore[assignment]
    """All records of a JSON Lines file (see `iter_jsonl`)."""
    return list(iter_jsonl(path, cls))


def save_jsonl(records: Iterable[Any], path: str | os.PathLike, append: bool = False) -> Path:
    """Write dataclass records (or plain dicts) one per line. Writes to a temp file then renames, unless appending."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r if isinstance(r, dict) else to_dict(r), ensure_ascii=False, allow_nan=False) + "\n"
             for r in records]
    target = path if append else path.with_suffix(path.suffix + ".tmp")
    try:
        with target.open("a" if append else "w", encoding="utf-8") as fh:
            fh.writelines(lines)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as e:  # a full disk names no file: name it
        if e.filename is None:
            raise OSError(e.errno, f"{e.strerror or e} (while writing)", str(path)) from e
        raise
    if not append:
        target.replace(path)
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
