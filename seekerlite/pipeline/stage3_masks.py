"""Stage 3, pixel-level masks: every sample's instance tracked through its video (``seekerlite.tracking``), or the
toy world's exact masks passed through unchanged.

    for oc in mask_samples(samples, base_dir="runs/x", config=MaskConfig()): ...
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from seekerlite.pipeline.store import Outcome, drop
from seekerlite.schema import Box, Sample, resolve_path
from seekerlite.tracking import (
    BACKENDS,
    SAM2_DEFAULT_CONFIG,
    Track,
    TrackBudgetError,
    TrackError,
    masklet_agreement,
    track_video,
)
from seekerlite.video import frames_in_span

# ---------------------------------------------------------------------------------------------- the stage

def _visible_span(vis: list[int], fps: float, times: list[float] | None) -> tuple[float, float]:
    """(first visible frame's time, the time the last one ends), seconds, from the frames' real timestamps."""
    first, last = min(vis), max(vis)
    if times is None or last >= len(times):
        return first / fps, (last + 1) / fps
    return times[first], times[last + 1] if last + 1 < len(times) else len(times) / fps  # the end of the video


@dataclass
class MaskConfig:
    """Stage 3: which tracker, and what counts as a usable masklet."""

    backend: str = "auto"  # "auto" (sam2 when a checkpoint is given, else opencv) | "sam2" | "opencv"
    sam2_checkpoint: str | None = None  # a .pt path, a hub id ("facebook/sam2.1-hiera-tiny"), or "random" (tests only)
    sam2_config: str = SAM2_DEFAULT_CONFIG  # the model config matching the checkpoint (inside the sam2 package)
    sam2_image_size: int | None = None  # model input side; None = the config's 1024; 256 is ~4x faster, much coarser
    device: str | None = None  # None = CUDA when available
    use_manual_masklets: bool = False  # keep a hand-made masklet instead of tracking (it is still compared)
    min_visible_frames: int = 3  # fewer visible frames than this: drop
    require_masklet: bool = True  # False: samples with nothing to track from (e.g. V2P marked jpgs) pass unchanged
    check_span: bool = True  # drop when the tracked instance is never visible in the question's span
    max_track_frames: int = 100_000  # frame budget of one tracking call: longer videos are dropped (track_budget)
    max_track_seconds: float = 1800.0  # time budget of one tracking call, seconds of wall time (track_budget)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"masks.backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.min_visible_frames < 0 or self.max_track_frames < 1 or not self.max_track_seconds > 0:
            raise ValueError("masks: need min_visible_frames >= 0, max_track_frames >= 1, max_track_seconds > 0; got "
                             f"{self.min_visible_frames}, {self.max_track_frames}, {self.max_track_seconds}")


def seed_prompt(sample: Sample) -> tuple[int, Box] | None:
    """(frame, box) to track from: the visual prompt's box, else the masklet's box on the prompt frame, else its
    largest box."""
    vp, m = sample.visual_prompt, sample.masklet
    if vp is not None and vp.frame_index is not None:
        box = vp.box or (m.box_at(vp.frame_index) if m is not None else None)
        if box is not None:
            return vp.frame_index, list(box)
    if m is not None and m.visible_frames():
        f = max(m.visible_frames(), key=lambda g: (lambda b: (b[2] - b[0]) * (b[3] - b[1]))(m.box_at(g)))
        return f, list(m.box_at(f))  # type: ignore[arg-type]
    return None


def mask_samples(samples: Iterable[Sample], base_dir: Any = None, config: MaskConfig | None = None, *,
                 skip: Iterable[str] = ()) -> Iterator[Outcome]:
    """Stage 3 over an iterable of samples: a masklet for each (tracked, or passed through), its visible span.

    Tracks are cached by (video, frame, box): questions about the same marked instance share one track.
    """
    from seekerlite.video import probe, video_times

    fps_of = functools.cache(lambda path: probe(path).fps)  # frames per second, one probe per video
    times_of = functools.cache(video_times)  # seconds of every frame (presentation timestamps), one scan per video
    cfg = config or MaskConfig()
    backend = cfg.backend if cfg.backend != "auto" else ("sam2" if cfg.sam2_checkpoint else "opencv")
    if backend not in BACKENDS[1:]:
        raise ValueError(f"MaskConfig.backend must be one of {BACKENDS}, got {cfg.backend!r}")
    sam2 = dict(checkpoint=cfg.sam2_checkpoint, config=cfg.sam2_config, image_size=cfg.sam2_image_size, device=cfg.device)
    cache: dict[tuple[Any, ...], Track | TrackError] = {}
    skip = set(skip)
    for s in samples:
        if s.id in skip:
            continue
        m, info = s.masklet, {}
        path = resolve_path(s.video_path, base_dir)
        if m is not None and m.source == "synth" and m.rles:
            masklet, fps, times, info["source"] = m, fps_of(path), times_of(path), "synth (exact masks passed through)"
        elif m is not None and m.source == "manual" and cfg.use_manual_masklets:
            masklet, fps, times, info["source"] = m, fps_of(path), times_of(path), "manual (kept)"
        else:
            seed = seed_prompt(s)
            if seed is None:
                if cfg.require_masklet:
                    yield drop(s.id, "no_seed_box: no box on any frame to track from")
                else:
                    yield Outcome(s.id, replace(s, provenance={**s.provenance, "stage3": {"source": "none (no box)"}}))
                continue
            key = (path, seed[0], tuple(seed[1]), backend)
            if key not in cache:
                try:
                    cache[key] = track_video(path, seed[0], box=seed[1], backend=backend, max_frames=cfg.max_track_frames,
                                             max_seconds=cfg.max_track_seconds, **(sam2 if backend == "sam2" else {}))
                except TrackError as e:  # a box no tracker can follow, or over budget: drop the record, say why
                    cache[key] = e
            tr = cache[key]
            if isinstance(tr, TrackError):
                code = "track_budget" if isinstance(tr, TrackBudgetError) else "untrackable_box"
                yield drop(s.id, f"{code}: {str(tr).replace(path, s.video_path)}", seed_frame=seed[0], seed_box=seed[1])
                continue
            masklet = replace(tr.masklet, instance_id=m.instance_id if m is not None else s.id,
                              label=m.label if m is not None else None)
            fps, times, info["source"] = tr.fps, tr.times, f"{backend} from frame {seed[0]}"
            if m is not None:
                agree = masklet_agreement(masklet, m)
                info[f"iou_vs_{m.source}"] = None if agree is None else round(agree, 4)
        vis = masklet.visible_frames()
        info["visible_frames"] = len(vis)
        if len(vis) < cfg.min_visible_frames:
            yield drop(s.id, f"track_too_short: {len(vis)} visible frames < {cfg.min_visible_frames}", **info)
            continue
        span = _visible_span(vis, fps, times)
        info["visible_span"] = [round(span[0], 3), round(span[1], 3)]
        if cfg.check_span and s.span is not None and not frames_in_span(vis, s.span, fps, times):
            yield drop(s.id, f"not_visible_in_span: visible {info['visible_span']} s, span {s.span} s", **info)
            continue
        out = replace(s, masklet=masklet, span=s.span if s.span is not None else info["visible_span"],
                      extra={**s.extra, "visible_span": info["visible_span"]},
                      provenance={**s.provenance, "stage3": info})
        yield Outcome(s.id, out)

