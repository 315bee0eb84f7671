"""Tracking one instance through a video from a box (or points) on one frame: a masklet of per-frame boxes and masks.

    track = track_video("sample_data/videos/vtest.mp4", 80, box=[569, 192, 599, 284], backend="opencv")
    track.masklet.box_at(100), track.visible_span           # pixels; seconds

Backends:
    sam2     SAM2's video predictor (the ``sam2`` package): ``init_state`` on a folder of JPEG frames,
             ``add_new_points_or_box`` on the marked frame, ``propagate_in_video`` forward then in reverse.
             Weights from a ``.pt`` path with its config, or a hub id ("facebook/sam2.1-hiera-tiny", needs the
             network once). Runs on CUDA when present (bfloat16 autocast), else on the CPU (~5 s/frame at 1024^2).
             ``checkpoint="random"`` builds the model untrained from its config: meaningless masks, for tests.
    opencv   the CPU fallback: OpenCV's TrackerMIL forward and backward from the marked frame; boxes only, no
             masks. A direction stops when the box leaves the frame, or when for ``patience`` frames the box's
             colours look no more like the marked box than like the marked box's surroundings: the instance left,
             or the tracker slid onto the background or another object.

Every masklet covers every frame of the video (box None where the instance is not visible); masks are COCO RLE.
``seekerlite track`` and pipeline stage 3 call ``track_video``.

Refused before any tracking (``TrackError``, naming the video and the box): a box that is not 4 finite numbers, is
inverted, lies outside the frame, is smaller than ``MIN_BOX_SIDE`` pixels on a side once clipped to the frame
(OpenCV's MIL spins forever on 1-4 px boxes), or covers more than ``MAX_BOX_COVER`` of the frame (nothing left
to tell it from). Every call has a frame and a time budget (``max_frames``, ``max_seconds``; ``TrackBudgetError``
when exceeded, checked between frames).
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from seekerlite.schema import Box, Masklet, box_iou, encode_mask, mask_to_box

SAM2_DEFAULT_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"  # inside the sam2 package; matches sam2.1_hiera_tiny.pt
BACKENDS = ("auto", "sam2", "opencv")
MIN_BOX_SIDE = 8  # pixels: the shortest side of a box the trackers accept (MIL hangs below ~5)
MAX_BOX_COVER = 0.9  # largest fraction of the frame's area a box may cover
MAX_FRAMES = 100_000  # default frame budget of one tracking call
MAX_SECONDS = 1800.0  # default time budget of one tracking call (seconds of wall time)


class TrackError(ValueError):
    """A box the trackers cannot track (the message names the video and the box)."""


class TrackBudgetError(TrackError):
    """A tracking call went over its frame or time budget."""


def check_track_box(box: Any, width: int, height: int, where: str = "") -> Box:
    """`box` clipped to a width x height frame, or TrackError saying why it cannot be tracked (module docstring).

    >>> check_track_box([-5, 10, 40, 50], 64, 48)
    [0.0, 10.0, 40.0, 48.0]
    """
    at = f"{where}: " if where else ""
    try:
        vals = [float(v) for v in box]
    except (TypeError, ValueError, OverflowError):
        raise TrackError(f"{at}box {box!r} is not 4 numbers [x0, y0, x1, y1]") from None
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
        raise TrackError(f"{at}box {box!r} is not 4 finite numbers [x0, y0, x1, y1]")
    x0, y0, x1, y1 = vals
    if x1 <= x0 or y1 <= y0:
        raise TrackError(f"{at}box {vals} is inverted or empty (want x1 > x0 and y1 > y0, pixels)")
    clipped, _ = _inside(vals, width, height)
    if clipped is None:
        raise TrackError(f"{at}box {vals} lies outside the {width}x{height} frame")
    w, h = clipped[2] - clipped[0], clipped[3] - clipped[1]
    if min(w, h) < MIN_BOX_SIDE:
        raise TrackError(f"{at}box {vals} is {w:g}x{h:g} pixels inside the frame; the trackers need at least "
                         f"{MIN_BOX_SIDE}x{MIN_BOX_SIDE}")
    if w * h > MAX_BOX_COVER * width * height:
        raise TrackError(f"{at}box {vals} covers {w * h / (width * height):.0%} of the {width}x{height} frame "
                         f"(at most {MAX_BOX_COVER:.0%}): there is no background left to track it against")
    return clipped


def _check_deadline(deadline: float | None, where: str, done: int) -> None:
    if deadline is not None and time.perf_counter() > deadline:
        raise TrackBudgetError(f"{where}: tracking went over its time budget after {done} frames")


@dataclass
class Track:
    """One instance tracked through a video."""

    masklet: Masklet  # an entry for every frame 0..T-1
    backend: str  # "sam2" | "opencv" | "synth" | "manual"
    fps: float  # frames per second of the video
    seed_frame: int | None  # the frame the box/points were given on
    seed_box: Box | None  # pixels
    seconds: float = 0.0  # wall time of the tracking
    times: list[float] | None = None  # seconds of every frame (presentation timestamps); None: index / fps

    def time_of(self, frame: int) -> float:
        """Seconds at which `frame` is shown."""
        return self.times[frame] if self.times is not None else frame / self.fps

    @property
    def visible_span(self) -> tuple[float, float] | None:
        """(first visible frame's time, the time the last visible frame ends) in seconds, or None."""
        vis = self.masklet.visible_frames()
        if not vis or self.times is None:
            return self.masklet.span(self.fps)
        last = max(vis)
        end = self.times[last + 1] if last + 1 < len(self.times) else len(self.times) / self.fps  # the video ends
        return (self.times[min(vis)], end)


# ---------------------------------------------------------------------------------------------- OpenCV fallback

def _hists(image_rgb: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Normalised 8x4x4 HSV colour histograms of a box and of the ring around it (the box grown by half its size on
    each side, minus the box), both clipped to the image."""
    h, w = image_rgb.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    g = [max(0, int(box[0] - bw / 2)), max(0, int(box[1] - bh / 2)),
         min(w, int(math.ceil(box[2] + bw / 2))), min(h, int(math.ceil(box[3] + bh / 2)))]
    crop = cv2.cvtColor(np.ascontiguousarray(image_rgb[g[1]:g[3], g[0]:g[2]]), cv2.COLOR_RGB2HSV)
    inside = np.zeros(crop.shape[:2], np.uint8)
    inside[max(0, int(box[1]) - g[1]):int(math.ceil(box[3])) - g[1], max(0, int(box[0]) - g[0]):int(math.ceil(box[2])) - g[0]] = 1
    out = []
    for m in (inside, 1 - inside):
        hist = cv2.calcHist([crop], [0, 1, 2], m, [8, 4, 4], [0, 180, 0, 256, 0, 256])
        out.append(cv2.normalize(hist, hist).flatten())
    return out[0], out[1]


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    return 1.0 - float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


def _inside(box: Box, w: int, h: int) -> tuple[Box | None, float]:
    """(box clipped to the frame or None, fraction of its area inside the frame)."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    c = [max(0.0, box[0]), max(0.0, box[1]), min(float(w), box[2]), min(float(h), box[3])]
    if c[2] <= c[0] or c[3] <= c[1] or area <= 0:
        return None, 0.0
    return c, (c[2] - c[0]) * (c[3] - c[1]) / area


def reseed_opencv(seed: int = 0) -> None:
    """Make TrackerMIL repeatable: it draws its Haar features with C's ``rand()`` and its patches with OpenCV's RNG,
    both process-global, so without this a track depends on every track run before it in the process."""
    cv2.setRNGSeed(seed)
    try:
        import ctypes
        import ctypes.util

        ctypes.CDLL(ctypes.util.find_library("c")).srand(seed)
    except (OSError, AttributeError, TypeError):  # no C library found: tracks stay correct, just not repeatable
        pass


def _track_mil(get_frames: Any, order: list[int], seed_frame: np.ndarray, box: Box, min_contrast: float,
               patience: int, min_inside: float, seed: int = 0, deadline: float | None = None,
               where: str = "") -> dict[int, Box | None]:
    """MIL from `seed_frame` through frames `order`; stops when lost. Returns {frame: box or None}.
    `box` must have passed ``check_track_box`` (MIL never returns on tiny or inverted boxes)."""
    reseed_opencv(seed)
    tracker = cv2.TrackerMIL_create()
    x0, y0, x1, y1 = box
    try:
        tracker.init(cv2.cvtColor(seed_frame, cv2.COLOR_RGB2BGR), (int(round(x0)), int(round(y0)),
                                                                     max(1, int(round(x1 - x0))), max(1, int(round(y1 - y0)))))
    except cv2.error as e:
        raise TrackError(f"{where}: OpenCV's MIL tracker refuses box {list(box)} ({str(e).strip().splitlines()[-1]})") from None
    ref_box, ref_ring = _hists(seed_frame, box)  # what the instance looks like, and what its surroundings look like
    h, w = seed_frame.shape[:2]
    out: dict[int, Box | None] = {}
    low: list[int] = []  # frames in a row whose box looks no more like the instance than like its surroundings
    for chunk_start in range(0, len(order), 32):
        chunk = order[chunk_start:chunk_start + 32]
        for f, img in zip(chunk, get_frames(chunk)):
            _check_deadline(deadline, where, len(out))
            ok, (x, y, bw, bh) = tracker.update(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            clipped, frac = _inside([float(x), float(y), float(x + bw), float(y + bh)], w, h) if ok else (None, 0.0)
            if clipped is None or frac < min_inside:
                return out | {g: None for g in order[order.index(f):]}
            now, _ = _hists(img, clipped)
            contrast = _similarity(now, ref_box) - _similarity(now, ref_ring)
            low = low + [f] if contrast < min_contrast else []
            out[f] = clipped
            if len(low) >= patience:
                return out | {g: None for g in low} | {g: None for g in order[order.index(f) + 1:]}
    return out


def track_opencv(reader: Any, frame_index: int, box: Box, *, min_contrast: float = 0.0, patience: int = 3,
                 min_inside: float = 0.5, seed: int = 0, deadline: float | None = None) -> list[Box | None]:
    """Boxes on every frame of a video from one box on `frame_index`, with OpenCV's TrackerMIL.

    Args:
        reader: a ``seekerlite.video.VideoReader`` (or anything with ``num_frames`` and ``get_frames``).
        frame_index: the frame `box` is on.
        box: [x0, y0, x1, y1] pixels.
        min_contrast: a frame counts as lost when its box's colour histogram is not at least this much more similar
            (1 - Bhattacharyya distance) to the marked box's than to the ring around the marked box.
        patience: lost frames in a row that end the track in that direction.
        min_inside: fraction of the box that must stay inside the frame.
        seed: seeds MIL's random features (results vary a little with it; the same seed gives the same track).
        deadline: ``time.perf_counter()`` value after which TrackBudgetError is raised (None: no limit).

    Returns:
        One entry per frame: the box, or None where the instance is not visible (left, or lost).
    """
    def get(indices: list[int]) -> list[np.ndarray]:
        return [f.image if hasattr(f, "image") else f for f in reader.get_frames(indices)]

    n, where = reader.num_frames, str(getattr(reader, "path", "video"))
    first = get([frame_index])[0]  # (H, W, 3) uint8 RGB
    box = check_track_box(box, first.shape[1], first.shape[0], where)
    args = (first, box, min_contrast, patience, min_inside, seed, deadline, where)
    fwd = _track_mil(get, list(range(frame_index + 1, n)), *args)
    bwd = _track_mil(get, list(range(frame_index - 1, -1, -1)), *args)
    clipped, _ = _inside(list(map(float, box)), first.shape[1], first.shape[0])
    return [clipped if f == frame_index else (fwd | bwd).get(f) for f in range(n)]


# ---------------------------------------------------------------------------------------------- SAM2

def load_sam2_predictor(checkpoint: str | None, config: str = SAM2_DEFAULT_CONFIG, image_size: int | None = None,
                        device: str | None = None) -> Any:
    """SAM2's video predictor (cached). `checkpoint`: a .pt path, a hub id, or "random" (untrained, for tests)."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return _build_sam2(checkpoint, config, image_size, device)


@functools.lru_cache(maxsize=2)
def _build_sam2(checkpoint: str | None, config: str, image_size: int | None, device: str) -> Any:
    try:
        from sam2.build_sam import (
            HF_MODEL_ID_TO_FILENAMES,
            build_sam2_video_predictor,
            build_sam2_video_predictor_hf,
        )
    except ImportError as e:
        raise ImportError(f"the sam2 backend needs the `sam2` package (pip install sam2): {e}") from e
    overrides = [f"++model.image_size={int(image_size)}"] if image_size else []
    if checkpoint is None:
        raise ValueError("SAM2 needs weights: pass a .pt checkpoint path (with its config) or a hub id such as "
                         "'facebook/sam2.1-hiera-tiny'; use backend='opencv' to track without weights")
    if checkpoint == "random":
        return build_sam2_video_predictor(config, ckpt_path=None, device=device, hydra_overrides_extra=overrides)
    if os.path.isfile(checkpoint):
        return build_sam2_video_predictor(config, ckpt_path=checkpoint, device=device, hydra_overrides_extra=overrides)
    if checkpoint in HF_MODEL_ID_TO_FILENAMES:
        try:
            return build_sam2_video_predictor_hf(checkpoint, device=device, hydra_overrides_extra=overrides)
        except Exception as e:
            raise FileNotFoundError(
                f"could not fetch SAM2 weights {checkpoint!r} from the Hugging Face hub ({type(e).__name__}: {e}). "
                f"Offline: download {HF_MODEL_ID_TO_FILENAMES[checkpoint][1]} on a machine with network and pass its "
                f"path, with config {HF_MODEL_ID_TO_FILENAMES[checkpoint][0]!r}.") from e
    raise FileNotFoundError(f"SAM2 checkpoint {checkpoint!r} is neither a file nor a hub id sam2 knows "
                            f"({', '.join(HF_MODEL_ID_TO_FILENAMES)})")


def track_sam2(reader: Any, frame_index: int, *, box: Box | None = None, points: Sequence[Sequence[float]] | None = None,
               point_labels: Sequence[int] | None = None, checkpoint: str | None = None, config: str = SAM2_DEFAULT_CONFIG,
               image_size: int | None = None, device: str | None = None, mask_threshold: float = 0.0,
               deadline: float | None = None) -> tuple[list[Box | None], list[dict | None]]:
    """Masks on every frame of a video from a box and/or points on `frame_index`, with SAM2's video predictor.

    Args:
        reader: a ``seekerlite.video.VideoReader`` (frames are written once to a temporary JPEG folder, as
            ``init_state`` wants; SAM2 keeps all of them in memory at ``image_size``^2).
        frame_index: the frame the prompt is on.
        box: [x0, y0, x1, y1] pixels.
        points: [[x, y], ...] pixels; `point_labels` 1 = on the instance (default), 0 = background.
        checkpoint, config, image_size, device: see ``load_sam2_predictor``.
        mask_threshold: mask = logits > this (SAM2's own choice is 0).
        deadline: ``time.perf_counter()`` value after which TrackBudgetError is raised (None: no limit).

    Returns:
        (boxes, rles): one entry per frame, None where the mask is empty.
    """
    import torch

    if box is None and not points:
        raise ValueError("give a box or points on the marked frame")
    predictor = load_sam2_predictor(checkpoint, config, image_size, device)
    n = reader.num_frames
    masks: dict[int, np.ndarray] = {}
    dev = next(predictor.parameters()).device
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else torch.autocast("cpu", enabled=False)
    with tempfile.TemporaryDirectory(prefix="seekerlite_sam2_") as tmp, torch.inference_mode(), amp:
        for s in range(0, n, 32):
            for fr in reader.get_frames(range(s, min(n, s + 32))):
                cv2.imwrite(os.path.join(tmp, f"{fr.index:05d}.jpg"), cv2.cvtColor(fr.image, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 95])
        state = predictor.init_state(video_path=tmp, offload_video_to_cpu=dev.type == "cuda")
        kwargs: dict[str, Any] = {}
        if box is not None:
            kwargs["box"] = np.asarray(box, np.float32)
        if points:
            kwargs["points"] = np.asarray(points, np.float32)
            kwargs["labels"] = np.asarray(point_labels if point_labels is not None else [1] * len(points), np.int32)
        predictor.add_new_points_or_box(state, frame_idx=frame_index, obj_id=1, **kwargs)
        for reverse in (False, True):
            if reverse and frame_index == 0:
                continue
            for f, _, logits in predictor.propagate_in_video(state, start_frame_idx=frame_index, reverse=reverse):
                _check_deadline(deadline, str(getattr(reader, "path", "video")), len(masks))
                masks[int(f)] = (logits[0, 0] > mask_threshold).cpu().numpy()  # (H, W) bool, the video's size
    boxes = [mask_to_box(masks[f]) if f in masks else None for f in range(n)]
    rles = [encode_mask(masks[f]) if b is not None else None for f, b in enumerate(boxes)]
    return boxes, rles


# ---------------------------------------------------------------------------------------------- one entry point

def track_video(video: Any, frame_index: int, *, box: Box | None = None, points: Sequence[Sequence[float]] | None = None,
                point_labels: Sequence[int] | None = None, backend: str = "opencv", instance_id: str = "instance",
                label: str | None = None, max_frames: int = MAX_FRAMES, max_seconds: float = MAX_SECONDS,
                **options: Any) -> Track:
    """Track one instance through a whole video (a path or an open VideoReader) with `backend` ("sam2" | "opencv").

    `**options` go to the backend: ``track_sam2`` (checkpoint, config, image_size, device, mask_threshold) or
    ``track_opencv`` (min_contrast, patience, min_inside, seed).

    Raises:
        TrackError: the frame is outside the video or the box cannot be tracked (module docstring).
        TrackBudgetError: the video has more than `max_frames` frames, or tracking took more than `max_seconds`.
    """
    from seekerlite.video import open_video

    if backend not in BACKENDS[1:]:
        raise ValueError(f"unknown backend {backend!r}; expected 'sam2' or 'opencv'")
    reader = open_video(video) if isinstance(video, (str, os.PathLike)) else video
    where = str(getattr(reader, "path", video))
    try:
        n = reader.num_frames
        if isinstance(frame_index, bool) or not isinstance(frame_index, (int, np.integer)) or not 0 <= frame_index < n:
            raise TrackError(f"{where}: frame {frame_index} is outside the video (frames 0..{n - 1})")
        if n > max_frames:
            raise TrackBudgetError(f"{where}: {n} frames is over the tracking budget of {max_frames} frames")
        if box is not None:
            box = check_track_box(box, reader.width, reader.height, where)
        elif backend == "opencv":
            raise TrackError("the OpenCV tracker needs a box (points are for sam2)")
        t0 = time.perf_counter()
        deadline = t0 + max_seconds
        if backend == "sam2":
            boxes, rles = track_sam2(reader, frame_index, box=box, points=points, point_labels=point_labels,
                                     deadline=deadline, **options)
        else:
            boxes, rles = track_opencv(reader, frame_index, box, deadline=deadline, **options), []
        m = Masklet(instance_id, list(range(n)), boxes, rles, label=label, source=backend)
        return Track(m, backend, reader.fps, frame_index, list(map(float, box)) if box is not None else None,
                     round(time.perf_counter() - t0, 3), times=reader.times if hasattr(reader, "times") else None)
    finally:
        if reader is not video:
            reader.close()


def masklet_agreement(a: Masklet, b: Masklet) -> float | None:
    """Mean box IoU over the frames where both masklets have a box (None when there is no such frame)."""
    ious = [box_iou(ba, bb) for f in a.frame_indices if (ba := a.box_at(f)) is not None and (bb := b.box_at(f)) is not None]
    return float(np.mean(ious)) if ious else None
