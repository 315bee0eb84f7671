"""Stage 2, video-level verification: the video decodes, its duration and fps are in bounds, and the instance
is visible in the stated span.

    for oc in verify_samples(samples, base_dir="runs/x", config=VerifyConfig()):
        print(oc.id, oc.kept, oc.reasons)       # e.g. ['not_visible_in_span: masklet frames 50-149, span frames 0-30']

Reason codes:

    video_unreadable          the file is missing, not a video, or truncated (``video.probe`` says why)
    frames_undecodable        the frames this sample needs (marked frame, span ends) do not decode
    too_short_video / too_long_video / fps_out_of_bounds
    span_outside_video        the question's span [t0, t1] starts after the end / ends well after it
    prompt_frame_outside_video / box_outside_frame          the visual prompt does not fit the video
    masklet_outside_video / mask_size_mismatch              the masklet does not fit the video
    not_visible_in_span       the masklet never shows the instance inside the span
    low_verifier_score        the optional VLM verifier (yes/no about the clip) rated it below the threshold

Without a masklet the visibility check waits for stage 3 (which tracks one and checks it there).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from seekerlite.pipeline.store import Outcome, drop
from seekerlite.schema import Sample, VideoInfo, resolve_path
from seekerlite.video import frames_in_span


@dataclass
class VerifyConfig:
    """Stage 2's bounds and its optional VLM verifier."""

    min_duration: float = 1.0  # seconds
    max_duration: float = 1800.0  # seconds
    min_fps: float = 5.0  # frames per second
    max_fps: float = 120.0  # frames per second
    span_tolerance: float = 0.25  # seconds a span may run past the end of the video
    require_visible_in_span: bool = True  # with a masklet: drop when it never shows the instance in the span
    verifier: str | None = None  # None | "tiny" | a Qwen3-VL folder or hub id: asks a yes/no question about the clip
    verifier_frames: int = 4  # frames of the span shown to the verifier (plus the marked frame)
    min_verifier_score: float | None = None  # drop below this P(yes); None = record the score only


VERIFIER_PROMPT = ("The first image shows {what} marked on one frame of a video; the others are frames from "
                   "{t0:.1f} to {t1:.1f} seconds of the same video. Is {what} visible in these frames? Answer yes or no.")


def check_video(info: VideoInfo, config: VerifyConfig) -> list[str]:
    """Bounds on duration and fps.

    >>> check_video(VideoInfo("v.mp4", 2.0, 10, 64, 48), VerifyConfig())
    ['fps_out_of_bounds: 2 fps not in [5, 120]']
    """
    out = []
    if info.duration < config.min_duration:
        out.append(f"too_short_video: {info.duration:.2f} s < {config.min_duration:g} s")
    if info.duration > config.max_duration:
        out.append(f"too_long_video: {info.duration:.0f} s > {config.max_duration:g} s")
    if not config.min_fps <= info.fps <= config.max_fps:
        out.append(f"fps_out_of_bounds: {info.fps:g} fps not in [{config.min_fps:g}, {config.max_fps:g}]")
    return out


def check_sample_in_video(sample: Sample, info: VideoInfo, config: VerifyConfig) -> list[str]:
    """Does the sample's span, visual prompt and masklet fit this video, and is the instance visible in the span?"""
    out = []
    fps, T, dur = info.fps, info.num_frames, info.duration
    if sample.span is not None:
        t0, t1 = sample.span
        if t0 >= dur or t1 > dur + config.span_tolerance:
            out.append(f"span_outside_video: span [{t0:g}, {t1:g}] s, video {dur:.2f} s")
    vp = sample.visual_prompt
    if vp is not None and vp.frame_index is not None and not 0 <= vp.frame_index < T:
        out.append(f"prompt_frame_outside_video: frame {vp.frame_index} of {T}")
    if vp is not None and vp.box is not None:
        x0, y0, x1, y1 = vp.box
        if x1 <= 0 or y1 <= 0 or x0 >= info.width or y0 >= info.height:
            out.append(f"box_outside_frame: {vp.box} in a {info.width}x{info.height} frame")
    m = sample.masklet
    if m is not None:
        if m.frame_indices and (min(m.frame_indices) < 0 or max(m.frame_indices) >= T):
            out.append(f"masklet_outside_video: frames {min(m.frame_indices)}-{max(m.frame_indices)} of {T}")
        sizes = {tuple(r["size"]) for r in m.rles if r is not None}
        if sizes - {(info.height, info.width)}:
            out.append(f"mask_size_mismatch: masks {sorted(sizes)} vs frame {(info.height, info.width)}")
        vis = m.visible_frames()
        if config.require_visible_in_span and sample.span is not None and vis:
            if not frames_in_span(vis, sample.span, fps):
                f0, f1 = math.floor(sample.span[0] * fps + 1e-6), math.floor(sample.span[1] * fps + 1e-6)
                out.append(f"not_visible_in_span: masklet frames {min(vis)}-{max(vis)}, span frames {f0}-{f1}")
        elif config.require_visible_in_span and not vis:
            out.append("not_visible_in_span: the masklet has no visible frame")
    return out


def needed_frames(sample: Sample, info: VideoInfo) -> list[int]:
    """Frames this sample relies on: the marked frame and the frames at the span's ends (clamped to the video)."""
    from seekerlite.video import index_at

    idx = []
    vp = sample.visual_prompt
    if vp is not None and vp.frame_index is not None:
        idx.append(vp.frame_index)
    if sample.span is not None:
        idx += [index_at(sample.span[0], info.fps, info.num_frames), index_at(sample.span[1] - 1e-3, info.fps, info.num_frames)]
    return sorted({min(max(i, 0), info.num_frames - 1) for i in idx} or {0})


def _verifier_images(sample: Sample, reader: Any, n: int) -> tuple[list[Any], float, float]:
    """(images: marked frame then `n` frames of the span, t0, t1)."""
    from PIL import Image

    from seekerlite.env import render_prompt_image
    from seekerlite.video import resize_to_budget

    t0, t1 = sample.span if sample.span else (0.0, reader.duration)
    t1 = min(max(t1, t0 + 1.0 / reader.fps), reader.duration)
    prompt = render_prompt_image(sample, reader, None)
    frames = [Image.fromarray(f.image) for f in reader.sample_uniform(n, t0, t1)]
    return [resize_to_budget(im, 224 * 224) for im in [prompt, *frames]], t0, t1


def verify_samples(samples: Iterable[Sample], base_dir: Any = None, config: VerifyConfig | None = None, *,
                   skip: Iterable[str] = (), verifier: Any = None) -> Iterator[Outcome]:
    """Stage 2 over an iterable of samples: one Outcome per sample whose id is not in `skip`.

    Args:
        samples: the records to check; relative paths resolve against `base_dir`.
        config: bounds; ``config.verifier`` names a VLM for the optional yes/no check.
        skip: ids already done.
        verifier: an object with ``score(prompt, images) -> float`` (overrides ``config.verifier``).
    """
    from seekerlite.video import VideoError, open_video

    cfg = config or VerifyConfig()
    skip = set(skip)
    reader, reader_path, infos = None, None, {}  # one open video at a time; probes are cached per path
    try:
        for s in samples:
            if s.id in skip:
                continue
            path = resolve_path(s.video_path, base_dir)
            if path not in infos:
                try:
                    from seekerlite.video import probe

                    infos[path] = probe(path)
                except (VideoError, OSError, ValueError) as e:
                    infos[path] = str(e).replace(path, s.video_path)  # the path as the record gives it
            info = infos[path]
            if isinstance(info, str):
                yield drop(s.id, f"video_unreadable: {info}")
                continue
            reasons = check_video(info, cfg) + check_sample_in_video(s, info, cfg)
            if reasons:
                yield drop(s.id, reasons, duration=info.duration, fps=info.fps)
                continue
            try:
                if reader_path != path:
                    if reader is not None:
                        reader.close()
                    reader, reader_path = open_video(path), path
                reader.get_frames(needed_frames(s, info))
            except (VideoError, IndexError) as e:
                yield drop(s.id, f"frames_undecodable: {e}")
                continue
            result: dict[str, Any] = {"duration": round(info.duration, 3), "fps": info.fps,
                                      "visibility": "checked" if s.masklet is not None else "deferred to stage 3"}
            if verifier is not None or cfg.verifier:
                if verifier is None:
                    from seekerlite.pipeline.scorers import YesNoScorer

                    verifier = YesNoScorer(cfg.verifier)
                images, t0, t1 = _verifier_images(s, reader, cfg.verifier_frames)
                what = f"the {s.masklet.label}" if s.masklet is not None and s.masklet.label else "the marked instance"
                score = float(verifier.score(VERIFIER_PROMPT.format(what=what, t0=t0, t1=t1), images))
                result["verifier_score"] = round(score, 4)
                if cfg.min_verifier_score is not None and score < cfg.min_verifier_score:
                    yield drop(s.id, f"low_verifier_score: {score:.3f} < {cfg.min_verifier_score}", **result)
                    continue
            yield Outcome(s.id, replace(s, provenance={**s.provenance, "stage2": result}))
    finally:
        if reader is not None:
            reader.close()

