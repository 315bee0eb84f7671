"""VideoSeekerEnv: the two tools the student uses to look at a video, with budgets.

One instance serves one episode at a time: ``reset(**sample_fields)`` then tool calls. The class is shaped for
TRL's ``GRPOTrainer(environment_factory=VideoSeekerEnv)``: TRL turns every public *function* of the class
except ``reset``/``get_reward`` into a tool (from its type hints and Google docstring), so the class has
exactly two public methods, ``view_visual_prompt`` and ``crop_video``; state is read through properties and
``opening_messages(env)``.

Tools never raise: a bad call (times reversed or outside the video, a degenerate region, wrong types, budget
spent) returns an error text the model can read, is logged, and the episode goes on.

    env = VideoSeekerEnv()
    env.reset(sample=sample, base_dir="sample_data/annotations")
    messages = opening_messages(env)           # [system, user(question, marked frame, overview)]
    parts = env.crop_video(2.0, 4.0, region=[100, 200, 600, 900])
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from seekerlite.config import EnvConfig
from seekerlite.protocol import build_first_turn, timestamp_text
from seekerlite.schema import OTHER_PROMPT, Sample, VideoInfo, from_dict, resolve_path

Content = list[dict[str, Any]]  # chat content parts: {"type": "text", "text"} | {"type": "image", "image": PIL}


@dataclass
class ToolRecord:
    """One tool call as the environment saw it."""

    name: str
    arguments: dict[str, Any]
    ok: bool
    error: str | None = None
    timestamps: list[float] = field(default_factory=list)  # seconds of the frames returned
    region_px: list[int] | None = None  # the region in pixels of the full frame, if any


def _error(msg: str) -> Content:
    return [{"type": "text", "text": f"Error: {msg}"}]


def _as_number(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError(f"{name} must be a number of seconds, got {v!r}")
    try:
        x = float(v)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {v!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {v!r}")
    return x


class VideoSeekerEnv:
    """The tool environment of one episode (see module docstring)."""

    def __init__(self, config: EnvConfig | None = None, base_dir: str | os.PathLike | None = None) -> None:
        self._config = config or EnvConfig()
        self._base_dir = base_dir
        self._sample: Sample | None = None
        self._reader: Any = None
        self._prompt_image: Image.Image | None = None
        self._log: list[ToolRecord] = []
        self._frames_used = 0

    # ------------------------------------------------------------------ episode
    def reset(self, sample: Sample | dict | str | None = None, base_dir: str | None = None, **fields: Any) -> str | None:
        """Start an episode from a Sample (object, dict or JSON string) or from its fields as keywords.

        Unknown keywords (e.g. TRL's ``prompt`` column) are ignored. Returns None: the opening user turn
        (``opening_messages``) already carries the question, the marked frame and the overview.
        """
        if sample is None:
            names = Sample.__dataclass_fields__.keys()
            sample = {k: v for k, v in fields.items() if k in names}
        if isinstance(sample, str):
            sample = json.loads(sample)
        if isinstance(sample, dict):
            sample = from_dict(Sample, sample)
        if not isinstance(sample, Sample):
            raise TypeError(f"reset() needs a Sample, its dict or JSON, got {type(sample).__name__}")
        from seekerlite.video import open_video

        base = base_dir if base_dir is not None else self._base_dir
        path = resolve_path(sample.video_path, base)
        if self._reader is None or self._reader.info.path != path:
            if self._reader is not None:
                self._reader.close()
            self._reader = open_video(path)
        self._sample, self._base_dir = sample, base
        self._prompt_image = None
        self._log, self._frames_used = [], 0
        return None

    # ------------------------------------------------------------------ tools
    def view_visual_prompt(self) -> Content:
        """Show the visual-prompt frame again: the frame of the video on which the target instance is marked.

        Returns:
            The marked frame as an image, with its timestamp and the kind of mark.
        """
        if self._sample is None:
            return _error("no episode is running (reset() was not called)")
        if len(self._log) >= self._config.max_tool_rounds:
            self._log.append(ToolRecord("view_visual_prompt", {}, False, "tool budget spent"))
            return _error(f"tool budget spent ({self._config.max_tool_rounds} calls); give your final answer now")
        vp = self._sample.visual_prompt
        t = vp.timestamp if vp else 0.0
        kind = vp.prompt_type if vp else "rectangle"
        self._log.append(ToolRecord("view_visual_prompt", {}, True, timestamps=[t] if t is not None else []))
        mark = "The target is marked" if kind == OTHER_PROMPT else f"The target is marked with a {kind.replace('_', ' ')}"
        when = f" at {timestamp_text(t)}" if t is not None else ""
        return [{"type": "text", "text": f"{mark}{when}."}, {"type": "image", "image": self.prompt_image}]

    def crop_video(self, start_time: float, end_time: float, region: list[int] | None = None) -> Content:
        """Look closely at part of the video: frames sampled from a time window, optionally cut to a region.

        Args:
            start_time: Start of the window, in seconds from the start of the video.
            end_time: End of the window, in seconds; must be greater than start_time.
            region: Optional box [x0, y0, x1, y1] to cut from each frame, in 0-1000 coordinates of the full frame (0 = left/top, 1000 = right/bottom).

        Returns:
            Frames from the window, each preceded by its timestamp.
        """
        args = {"start_time": start_time, "end_time": end_time, "region": region}
        if self._sample is None:
            return _error("no episode is running (reset() was not called)")
        try:
            result = self._crop(start_time, end_time, region)
        except ValueError as e:
            self._log.append(ToolRecord("crop_video", args, False, str(e)))
            return _error(str(e))
        content, record = result
        self._log.append(record)
        return content

    # ------------------------------------------------------------------ state (properties are not tools)
    @property
    def config(self) -> EnvConfig:
        return self._config

    @property
    def sample(self) -> Sample | None:
        return self._sample

    @property
    def video_info(self) -> VideoInfo:
        return self._reader.info

    @property
    def reader(self) -> Any:
        """The open ``VideoReader`` of this episode's video."""
        return self._reader

    @property
    def log(self) -> list[ToolRecord]:
        """Every tool call of this episode, valid or not."""
        return list(self._log)

    @property
    def frames_used(self) -> int:
        return self._frames_used

    @property
    def prompt_image(self) -> Image.Image:
        """The visual-prompt frame: the saved F_vp if the sample has one on disk, else rendered from the box/mask."""
        if self._prompt_image is None:
            self._prompt_image = render_prompt_image(self._sample, self._reader, self._base_dir)
        return self._prompt_image

    # ------------------------------------------------------------------ internals
    def _crop(self, start_time: Any, end_time: Any, region: Any) -> tuple[Content, ToolRecord]:
        cfg, info = self._config, self._reader.info
        args = {"start_time": start_time, "end_time": end_time, "region": region}
        if len(self._log) >= cfg.max_tool_rounds:
            raise ValueError(f"tool budget spent ({cfg.max_tool_rounds} calls); give your final answer now")
        t0, t1 = _as_number("start_time", start_time), _as_number("end_time", end_time)
        dur = info.duration
        if t0 < 0 or t0 >= dur:
            raise ValueError(f"start_time {t0:g} is outside the video (0 to {dur:.1f} seconds)")
        if t1 <= t0:
            raise ValueError(f"end_time ({t1:g}) must be greater than start_time ({t0:g})")
        if t1 > dur + cfg.time_tolerance:
            raise ValueError(f"end_time {t1:g} is past the end of the video ({dur:.1f} seconds)")
        t1 = min(t1, dur)
        box = _region_to_pixels(region, info.width, info.height, cfg.min_region_size) if region is not None else None
        left = cfg.max_total_frames - self._frames_used
        if left <= 0:
            raise ValueError(f"frame budget spent ({cfg.max_total_frames} frames); give your final answer now")
        lo = min(cfg.min_frames_per_call, cfg.frames_per_call)
        want = int(np.clip(round((t1 - t0) * cfg.sample_fps), lo, cfg.frames_per_call))
        frames = self._reader.sample_uniform(min(want, left), t0, t1)
        from seekerlite.video import resize_to_budget

        where = f", region {list(region)} (pixels {box})" if box else ""
        content: Content = [{"type": "text", "text": f"{len(frames)} frames from {t0:.1f} to {t1:.1f} seconds{where}:"}]
        for fr in frames:
            img = fr.image if box is None else fr.image[box[1]:box[3], box[0]:box[2]]
            img = resize_to_budget(Image.fromarray(np.ascontiguousarray(img)), cfg.max_pixels)
            content += [{"type": "text", "text": timestamp_text(fr.timestamp)}, {"type": "image", "image": img}]
        self._frames_used += len(frames)
        record = ToolRecord("crop_video", args, True, timestamps=[fr.timestamp for fr in frames], region_px=box)
        return content, record


def _region_to_pixels(region: Any, width: int, height: int, min_size: int) -> list[int]:
    """[x0, y0, x1, y1] in 0-1000 units -> integer pixel box of a width x height frame; ValueError if invalid."""
    if isinstance(region, str):
        try:
            region = json.loads(region)
        except json.JSONDecodeError:
            raise ValueError(f"region must be a list [x0, y0, x1, y1], got {region!r}") from None
    if not isinstance(region, (list, tuple)) or len(region) != 4:
        raise ValueError(f"region must be a list of 4 numbers [x0, y0, x1, y1] in 0-1000, got {region!r}")
    vals = [_as_number("region value", v) for v in region]
    x0, y0, x1, y1 = vals
    if min(vals) < 0 or max(vals) > 1000:
        raise ValueError(f"region {list(region)} must lie within 0-1000 (normalized coordinates of the full frame)")
    if x1 - x0 < min_size or y1 - y0 < min_size:
        raise ValueError(f"region {list(region)} is degenerate: need x1 > x0 and y1 > y0 by at least {min_size} (0-1000 units)")
    px = [int(round(x0 / 1000 * width)), int(round(y0 / 1000 * height)),
          int(round(x1 / 1000 * width)), int(round(y1 / 1000 * height))]
    px[2], px[3] = max(px[2], px[0] + 1), max(px[3], px[1] + 1)
    return px


def render_prompt_image(sample: Sample, reader: Any, base_dir: Any) -> Image.Image:
    """The visual-prompt frame of `sample`: its saved F_vp when on disk, else drawn from its box/mask on the frame
    `reader` decodes (the plain frame when nothing marks the instance: the question must then say which)."""
    vp = sample.visual_prompt
    if vp is not None and vp.image_path:
        path = resolve_path(vp.image_path, base_dir)
        if os.path.isfile(path):
            return Image.open(path).convert("RGB")
    from seekerlite.marks import render_visual_prompt

    index = vp.frame_index if vp and vp.frame_index is not None else 0
    frame = reader.get_frame(index).image
    box = vp.box if vp and vp.box else (sample.masklet.box_at(index) if sample.masklet else None)
    mask = sample.masklet.mask_at(index) if sample.masklet else None
    kind = vp.prompt_type if vp else "rectangle"
    if box is None and mask is None:
        return Image.fromarray(frame)  # nothing to mark: the plain frame (the question must say which instance)
    if kind == OTHER_PROMPT or (kind in ("mask_contour", "mask_overlay") and mask is None):
        kind = "rectangle"
    return Image.fromarray(render_visual_prompt(frame, kind, box=box, mask=mask))


def opening_messages(env: VideoSeekerEnv) -> list[dict[str, Any]]:
    """The episode's first messages: [system,] user(question, options, marked frame, timestamped overview)."""
    from seekerlite.video import resize_to_budget

    if env.sample is None:
        raise RuntimeError("call env.reset(...) before opening_messages(env)")
    cfg, reader = env.config, env.reader
    overview = [(f.timestamp, resize_to_budget(Image.fromarray(f.image), cfg.overview_max_pixels))
                for f in reader.sample_uniform(cfg.overview_frames)]
    vp = env.sample.visual_prompt
    prompt = resize_to_budget(env.prompt_image, cfg.max_pixels)
    return build_first_turn(env.sample, prompt, vp.timestamp if vp else 0.0, overview, reader.info.duration,
                            cfg.system_prompt)


def tool_methods(env: Any) -> list[Any]:
    """The environment's tools, chosen by TRL's own rule: public functions of the class except reset/get_reward."""
    import inspect

    return [getattr(env, n) for n, _ in inspect.getmembers(type(env), predicate=inspect.isfunction)
            if n not in ("reset", "get_reward") and not n.startswith("_")]


def tool_schemas() -> list[dict[str, Any]]:
    """The JSON schemas of the tools (what the chat template shows the model), identical for every episode."""
    from transformers.utils import get_json_schema

    return [get_json_schema(t) for t in tool_methods(VideoSeekerEnv())]
