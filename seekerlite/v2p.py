"""Loading V2P-Bench-format annotations as seekerlite Samples, so a local copy of the benchmark runs as is.

    samples = load_v2p("V2P-Bench/dataset_info.jsonl")    # videos/ and frames/ next to it, as its README lays out
    samples = load_v2p(path, video_root="/data/v2p/videos", frame_root="/data/v2p/frames", locate_prompt_frames=True)

A V2P-Bench record (github.com/gaotiexinqu/V2P-Bench, `dataset_info.jsonl` and its response files):
``video_id, video_path`` (relative to videos/), ``duration`` (seconds), ``question`` (the options are lines inside
the text, "A: ...", and an instruction line follows them), ``answer`` (a letter), ``source`` (the dataset the video
comes from), ``frame_path`` (relative to frames/: one jpg, or a list when several frames are marked),
``dimension`` (an int, 12 kinds: 1 OA, 2 HA, 3 OD, 4 FM, 5 CR, 6 PU, 7 CI, 9 FT, 10 RT, 12 AS, 13 SR, 14 GC),
``category`` (an int; in the released records it is not the visual-prompt type). Response files add ``response``.

How the fields map onto a Sample:
- options are parsed out of the question (``parse_options``) into ``Sample.options``; the question keeps its
  first lines, the instruction line goes to ``extra["v2p"]["instruction"]`` (seekerlite adds its own).
- The marked frame is a jpg that already carries the mark: ``VisualPrompt.image_path`` points at it, and the
  environment shows it as it is. The benchmark does not say which kind of mark it is; the question usually names
  it ("the red bounding box", "the arrow", "marked with <1>"), so ``infer_prompt_type`` reads it from there. When
  nothing is named, ``extra["prompt_type"]`` is "unknown" and ``VisualPrompt.prompt_type`` is
  ``schema.OTHER_PROMPT`` ("other": a loaded, already-marked frame); evaluation groups by ``extra["prompt_type"]``.
- Which frame of the video was marked is not recorded either: frame_index and timestamp are None (the model is
  not told a time; ``extra["prompt_time_known"] = False``), unless ``locate_prompt_frames=True`` finds the video frame that looks
  most like the jpg (``locate_prompt_frame``). Extra marked frames of a list go to ``extra["v2p"]["frame_paths"]``.
- ``dimension`` becomes its code ("OA", ...); ``task`` stays "unknown" (the release does not map dimensions to its
  five tasks); the duration bucket of the benchmark's own eval script is ``extra["length"]``.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from seekerlite.schema import OPTION_LETTERS, OTHER_PROMPT, Sample, SchemaError, VisualPrompt

DIMENSIONS = {1: "OA", 2: "HA", 3: "OD", 4: "FM", 5: "CR", 6: "PU", 7: "CI", 9: "FT", 10: "RT", 12: "AS",
              13: "SR", 14: "GC"}  # V2P-Bench's dimension ids -> codes (8, 11 are unused in its eval script)
REQUIRED_FIELDS = ("video_path", "question", "answer", "frame_path", "dimension")
LENGTH_BOUNDS = (240.0, 1800.0)  # seconds: short < 240 <= medium < 1800 <= long (the thresholds of its eval.py)
UNKNOWN_PROMPT_PLACEHOLDER = OTHER_PROMPT  # VisualPrompt.prompt_type when the mark's kind is unknown (see above)

_OPTION_LINE = re.compile(r"^\s*(?:\(([A-J])\)|([A-J])\s*[.:)：])\s*(.*\S)?\s*$")
_INLINE_OPTION = re.compile(r"\(([A-J])\)\s*")
# (prompt type, pattern) in order: the first that matches the question text wins
_PROMPT_WORDS: tuple[tuple[str, str], ...] = (
    ("set_of_mark", r"<\d+>|\b(?:labell?ed|numbered|marked (?:as|with)|tagged)\s*(?:as\s*)?<?\d"),
    ("mask_contour", r"\bmask (?:outline|contour)|\boutlined?\b|\bcontour"),
    ("mask_overlay", r"\bmask(?:ed)?\b"),
    ("arrow", r"\barrows?\b"),
    ("triangle", r"\btriangles?\b"),
    ("ellipse", r"\bellipses?\b|\bovals?\b|\bcircle[sd]?\b"),
    ("scribble", r"\bgraffiti\b|\bscribbl\w*|\bdoodle\w*|\bsmear\w*"),
    ("rectangle", r"\bbounding box|\bdetection (?:box|frame)|\brectangle|\b(?:in|by|inside) the (?:\w+ )?box\b|\bboxed\b"),
    ("point", r"\b(?:point|dot)\b(?!\s+(?:to|at|out)\b)"),
)


def parse_options(text: str) -> tuple[str, list[str] | None, str]:
    """Split a V2P-style question into (question, options, trailing instruction).

    Options are consecutive lines "A: ...", "A. ...", "A) ..." or "(A) ...", starting at A; failing that, options
    inline as "(A) ... (B) ...". Without options the question is returned whole and options is None.

    >>> parse_options("Who is it?\\nA: a cat\\nB: a dog\\nGive only your option letter.")
    ('Who is it?', ['a cat', 'a dog'], 'Give only your option letter.')
    >>> parse_options("Which way? (A) left (B) right")
    ('Which way?', ['left', 'right'], '')
    """
    lines = text.strip().splitlines()
    start = next((i for i, ln in enumerate(lines) if (m := _OPTION_LINE.match(ln)) and (m.group(1) or m.group(2)) == "A"), None)
    if start is not None:
        options, i = [], start
        while i < len(lines) and (m := _OPTION_LINE.match(lines[i])) and (m.group(1) or m.group(2)) == OPTION_LETTERS[len(options)]:
            options.append((m.group(3) or "").strip())
            i += 1
        if len(options) >= 2:
            question = "\n".join(lines[:start]).strip()
            return question or text.strip(), options, "\n".join(lines[i:]).strip()
    parts = _INLINE_OPTION.split(text.strip())  # [question, "A", text, "B", text, ...]
    letters = parts[1::2]
    if len(letters) >= 2 and "".join(letters) == OPTION_LETTERS[: len(letters)]:
        return parts[0].strip(), [p.strip() for p in parts[2::2]], ""
    return text.strip(), None, ""


def infer_prompt_type(question: str) -> str | None:
    """The visual-prompt type a question names ("the red bounding box" -> "rectangle"), or None.

    >>> infer_prompt_type("What is the person pointed to by the orange arrow doing?")
    'arrow'
    >>> infer_prompt_type("What is the man marked with <1> doing?"), infer_prompt_type("What is the selected object?")
    ('set_of_mark', None)
    """
    low = question.lower()
    for kind, pattern in _PROMPT_WORDS:
        if re.search(pattern, low):
            return kind
    return None


def length_bucket(duration: float | None) -> str | None:
    """V2P-Bench's duration groups: "short" (< 240 s), "medium" (< 1800 s), "long"; None when unknown."""
    if duration is None or not math.isfinite(duration):
        return None
    return "short" if duration < LENGTH_BOUNDS[0] else "medium" if duration < LENGTH_BOUNDS[1] else "long"


def read_v2p_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Raw records of a V2P-Bench file: JSON Lines (its release), a JSON list, or ``{"data": [...]}``."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    except RecursionError:
        raise SchemaError(f"{path}: invalid JSON (nested too deeply)") from None
    if isinstance(data, dict):
        data = data.get("data") if isinstance(data.get("data"), list) else [data]
    if isinstance(data, list):
        records = data
    else:
        records = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise SchemaError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
                except RecursionError:
                    raise SchemaError(f"{path}:{lineno}: invalid JSON (nested too deeply)") from None
    for i, r in enumerate(records, 1):
        if not isinstance(r, dict):
            raise SchemaError(f"{path}: record {i} is a {type(r).__name__}, not an object")
        missing = [f for f in REQUIRED_FIELDS if f not in r]
        if missing:
            raise SchemaError(f"{path}: record {i}: missing V2P-Bench field(s) {missing}")
    return records


def is_v2p_file(path: str | os.PathLike) -> bool:
    """Whether a file holds V2P-Bench records (its first record has ``frame_path`` and ``dimension``)."""
    with open(path, encoding="utf-8") as fh:
        head = fh.read(1 << 16).lstrip()
    first = head.lstrip("[").lstrip().splitlines()[0] if head else ""
    try:
        rec = json.loads(first.rstrip(","))
    except json.JSONDecodeError:
        m = re.search(r'"frame_path"\s*:', head)
        return bool(m and re.search(r'"dimension"\s*:', head))
    return isinstance(rec, dict) and "frame_path" in rec and "dimension" in rec


def v2p_to_sample(rec: dict[str, Any], index: int, *, video_root: Path, frame_root: Path, base_dir: Path) -> Sample:
    """One V2P-Bench record as a Sample (paths relative to `base_dir` when they lie under it)."""

    def rel(p: Path) -> str:
        try:
            return os.path.relpath(p, base_dir) if p.resolve().is_relative_to(base_dir.resolve()) else str(p)
        except ValueError:  # another drive (Windows)
            return str(p)

    question, options, instruction = parse_options(str(rec["question"]))
    frames = rec["frame_path"] if isinstance(rec["frame_path"], list) else [rec["frame_path"]]
    frames = [rel(frame_root / f) for f in frames]
    answer = str(rec["answer"]).strip()
    if options is not None:
        answer = answer.strip("() .:").upper()
    kind = infer_prompt_type(str(rec["question"]))
    dim = rec["dimension"]
    duration = float(rec["duration"]) if isinstance(rec.get("duration"), (int, float)) else None
    vp = VisualPrompt(frame_index=None, timestamp=None, prompt_type=kind or UNKNOWN_PROMPT_PLACEHOLDER,
                      image_path=frames[0] if frames else None)
    v2p = {k: rec[k] for k in ("video_id", "source", "category", "duration") if k in rec}
    v2p |= {"frame_paths": frames, "instruction": instruction, "dimension_id": dim}
    if "response" in rec:
        v2p["response"] = rec["response"]
    return Sample(
        id=f"v2p-{index:05d}-{rec.get('video_id', 'video')}", video_path=rel(video_root / str(rec["video_path"])),
        question=question, answer=answer, options=options, visual_prompt=vp,
        dimension=DIMENSIONS.get(dim, str(dim)) if isinstance(dim, int) else str(dim),
        provenance={"source": "v2p-bench", "record": index},
        extra={"prompt_type": kind or "unknown", "prompt_time_known": False, "length": length_bucket(duration),
               "form": "mc" if options is not None else "oe", "v2p": v2p})


def load_v2p(path: str | os.PathLike, video_root: str | os.PathLike | None = None,
             frame_root: str | os.PathLike | None = None, *, check_files: bool = True,
             locate_prompt_frames: bool = False) -> list[Sample]:
    """Load a V2P-Bench annotation file as Samples; their relative paths resolve against the file's folder.

    Args:
        path: ``dataset_info.jsonl`` (or a response file, or the same records as a JSON list).
        video_root: Folder that ``video_path`` is relative to; default ``<path's folder>/videos``.
        frame_root: Folder that ``frame_path`` is relative to; default ``<path's folder>/frames``.
        check_files: Raise FileNotFoundError naming the first missing video or frame (catches a wrong root early).
        locate_prompt_frames: Decode each video to find which frame was marked (slow on long videos).

    Raises:
        SchemaError: a record lacks a V2P-Bench field, or its answer is not one of its options.
    """
    path = Path(path)
    base = path.parent
    vroot = Path(video_root) if video_root else base / "videos"
    froot = Path(frame_root) if frame_root else base / "frames"
    samples = []
    for i, rec in enumerate(read_v2p_records(path)):
        try:
            s = v2p_to_sample(rec, i, video_root=vroot, frame_root=froot, base_dir=base)
        except SchemaError as e:
            raise SchemaError(f"{path}: record {i + 1}: {e}") from None
        if s.options is None:
            warnings.warn(f"{path}: record {i + 1}: no options found in the question; scored as open-ended", stacklevel=2)
        if check_files:
            for p in [s.video_path] + s.extra["v2p"]["frame_paths"]:
                full = p if os.path.isabs(p) else base / p
                if not os.path.isfile(full):
                    raise FileNotFoundError(f"{path}: record {i + 1}: {full} does not exist (set video_root / frame_root "
                                            f"to the folders that video_path / frame_path are relative to)")
        if locate_prompt_frames and s.visual_prompt.image_path:
            idx, t, _ = locate_prompt_frame(base / s.video_path, base / s.visual_prompt.image_path)
            s.visual_prompt.frame_index, s.visual_prompt.timestamp = idx, t
            s.extra["prompt_time_known"] = True
        samples.append(s)
    return samples


def _thumb(image: np.ndarray, size: tuple[int, int] = (48, 36)) -> np.ndarray:
    """A small grey, zero-mean, unit-variance thumbnail, so a re-encoded or resized copy still matches."""
    import cv2

    g = cv2.resize(np.asarray(image), size, interpolation=cv2.INTER_AREA).astype(np.float32).mean(axis=-1)
    return (g - g.mean()) / (g.std() + 1e-6)


def locate_prompt_frame(video_path: str | os.PathLike, image_path: str | os.PathLike, coarse_fps: float = 1.0,
                        max_coarse: int = 900) -> tuple[int, float, float]:
    """Find the video frame a marked jpg was taken from: nearest thumbnail among frames sampled at `coarse_fps`
    (at most `max_coarse`), then among every frame within one coarse step of the best.

    Returns:
        (frame index, timestamp in seconds, mean absolute thumbnail difference; ~0 for an exact frame).
    """
    from PIL import Image

    from seekerlite.video import open_video

    target = _thumb(np.asarray(Image.open(image_path).convert("RGB")))
    with open_video(video_path, cache_size=0) as v:
        n = int(min(max_coarse, max(2, math.ceil(v.duration * coarse_fps))))
        coarse = np.unique(np.linspace(0, v.num_frames - 1, n).round().astype(int))

        def distances(indices: list[int]) -> list[float]:  # in chunks: full frames of a long video do not fit in memory
            return [float(np.abs(_thumb(f.image) - target).mean())
                    for i in range(0, len(indices), 32) for f in v.get_frames(indices[i:i + 32])]

        best = int(coarse[int(np.argmin(distances(coarse.tolist())))])
        step = math.ceil(v.num_frames / n)
        near = list(range(max(0, best - step), min(v.num_frames, best + step + 1)))
        fine = distances(near)
        k = int(np.argmin(fine))
        return near[k], near[k] / v.fps, fine[k]


__all__ = ["DIMENSIONS", "infer_prompt_type", "is_v2p_file", "length_bucket", "load_v2p",
           "locate_prompt_frame", "parse_options", "read_v2p_records", "v2p_to_sample"]
