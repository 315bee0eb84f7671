"""VideoSeekerEnv: the two tools the student uses to look at a video, with budgets.

One instance serves one episode at a time: ``reset(**sample_fields)`` then tool calls. The class is shaped for
TRL's ``GRPOTrainer(environment_factory=VideoSeekerEnv)``: TRL turns every public *function* of the class
except ``reset``/``get_reward`` into a tool (from its type hints and Google docstring), so the class has
exactly two public methods, ``view_visual_prompt`` and ``crop_video``; state is read through properties and
``opening_messages(env)``.

Tools never raise: a bad call (times reversed or outside the video, a degenerate region, wrong types, huge
numbers, budget spent) and anything that breaks while serving it (a corrupt frame, an unreadable prompt image, a
bug) returns an ``Error: ...`` text the model can read, is logged as a ``ToolRecord(ok=False)`` and counted
(``env.n_errors`` per episode, ``tool_error_counts()`` per process, by tool and kind), and the episode goes on.
Every image a tool returns fits the processor (``images.fit_for_processor``: size budget, aspect ratio < 200).

    env = VideoSeekerEnv()
    env.reset(sample=sample, base_dir="sample_data/annotations")
    messages = opening_messages(env)           # [system, user(question, marked frame, overview)]
    parts = env.crop_video(2.0, 4.0, region=[100, 200, 600, 900])
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from seekerlite.config import EnvConfig
from seekerlite.images import fit_for_processor, tile_grid
from seekerlite.protocol import build_first_turn, timestamp_text
from seekerlite.regions import cell_box, parse_cell, region_text
from seekerlite.schema import (
    OTHER_PROMPT,
    Sample,
    SchemaError,
    VideoInfo,
    from_dict,
    resolve_path,
)
from seekerlite.strictjson import parse_json

Content = list[dict[str, Any]]  # chat content parts: {"type": "text", "text"} | {"type": "image", "image": PIL}
log = logging.getLogger(__name__)
_TOOL_ERRORS: Counter[str] = Counter()  # "<tool>: <kind>" -> failed calls in this process


def tool_error_counts() -> dict[str, int]:
    """Failed tool calls in this process so far, by ``"<tool>: <kind>"`` (kind: ``invalid_call`` for a call the
    model got wrong, else the exception's type): what GRPO and evaluation logs report."""
    return dict(_TOOL_ERRORS)


@dataclass
class ToolRecord:
    """One tool call as the environment saw it."""

    name: str
    arguments: dict[str, Any]
    ok: bool
    error: str | None = None  # the error text the model was shown
    timestamps: list[float] = field(default_factory=list)  # seconds of the frames returned
    region_px: list[int] | None = None  # the region in pixels of the full frame, if any
    frame_indices: list[int] = field(default_factory=list)  # video frame indices of the frames returned


def _error(msg: str) -> Content:
    return [{"type": "text", "text": f"Error: {msg}"}]


def _as_number(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError(f"{name} must be a number, got {str(v)[:40]!r}")
    if isinstance(v, str) and len(v) > 64:
        raise ValueError(f"{name} must be a number, got a {len(v)}-character string")
    try:
        x = float(v)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {v!r}") from None
    except OverflowError:  # an int too large for a float
        raise ValueError(f"{name} is far too large") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {str(v)[:40]!r}")
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
            sample = parse_json(sample, "reset(sample=...)")  # bounded: depth, NaN, huge integers
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
        vp, n = sample.visual_prompt, self._reader.num_frames
        if vp is not None and vp.frame_index is not None and not 0 <= vp.frame_index < n:
            raise SchemaError(f"sample {sample.id!r}: field 'visual_prompt.frame_index': frame {vp.frame_index} is "
                              f"outside {path} (frames 0..{n - 1})", field="visual_prompt.frame_index")
        w, h = self._reader.width, self._reader.height
        if vp is not None and vp.box is not None and (vp.box[0] >= w or vp.box[1] >= h):  # (boxes are >= 0: schema)
            raise SchemaError(f"sample {sample.id!r}: field 'visual_prompt.box': {vp.box} lies outside the {w}x{h} "
                              f"frames of {path}", field="visual_prompt.box")
        if vp is not None and vp.timestamp is None and vp.frame_index is not None:  # derived from the frame index
            sample = dataclasses.replace(sample, visual_prompt=dataclasses.replace(
                vp, timestamp=round(self._reader.time_of(vp.frame_index), 3)))
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
        return self._guarded("view_visual_prompt", {}, self._view)

    def crop_video(self, start_time: float, end_time: float, region: list[int] | str | None = None) -> Content:
        """Look closely at part of the video: frames sampled from a time window, optionally cut to a region.

        Args:
            start_time: Start of the window, in seconds from the start of the video.
            end_time: End of the window, in seconds; must be greater than start_time.
            region: Optional part of the frame to cut out: a cell of a 3x3 grid ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right") or a box [x0, y0, x1, y1] in 0-1000 coordinates of the full frame (0 = left/top, 1000 = right/bottom).

        Returns:
            Frames from the window, each preceded by its timestamp.
        """
        args = {"start_time": start_time, "end_time": end_time, "region": region}
        return self._guarded("crop_video", args, lambda: self._crop(start_time, end_time, region))

    def _guarded(self, name: str, args: dict[str, Any], run: Callable[[], tuple[Content, ToolRecord]]) -> Content:
        """Run one tool; every exception becomes an error observation, a ToolRecord(ok=False) and a count."""
        if self._sample is None:
            _TOOL_ERRORS[f"{name}: no_episode"] += 1
            return _error("no episode is running (reset() was not called)")
        try:
            content, record = run()
        except ValueError as e:  # the call itself is wrong (our checks): tell the model what to fix
            return self._failed(name, args, str(e), "invalid_call")
        except Exception as e:  # noqa: BLE001 - a tool must never end the episode (corrupt frame, bad image, bug)
            log.warning("%s failed on sample %r: %s: %s", name, self._sample.id, type(e).__name__, e)
            return self._failed(name, args, f"{name} failed: {type(e).__name__}: {str(e)[:200]}", type(e).__name__)
        self._log.append(record)
        return content

    def _failed(self, name: str, args: dict[str, Any], msg: str, kind: str) -> Content:
        self._log.append(ToolRecord(name, args, False, msg))
        _TOOL_ERRORS[f"{name}: {kind}"] += 1
        return _error(msg)

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
    def n_errors(self) -> int:
        """Tool calls of this episode that returned an error observation."""
        return sum(not r.ok for r in self._log)

    @property
    def prompt_image(self) -> Image.Image:
        """The visual-prompt frame: the saved F_vp if the sample has one on disk, else rendered from the box/mask."""
        if self._prompt_image is None:
            self._prompt_image = render_prompt_image(self._sample, self._reader, self._base_dir)
        return self._prompt_image

    # ------------------------------------------------------------------ internals
    def _view(self) -> tuple[Content, ToolRecord]:
        if len(self._log) >= self._config.max_tool_rounds:
            raise ValueError(f"tool budget spent ({self._config.max_tool_rounds} calls); give your final answer now")
        vp = self._sample.visual_prompt
        t = vp.timestamp if vp else 0.0
        kind = vp.prompt_type if vp else "rectangle"
        image = fit_for_processor(self.prompt_image, self._config.max_pixels)
        mark = "The target is marked" if kind == OTHER_PROMPT else f"The target is marked with a {kind.replace('_', ' ')}"
        when = f" at {timestamp_text(t)}" if t is not None else ""
        record = ToolRecord("view_visual_prompt", {}, True, timestamps=[t] if t is not None else [])
        return [{"type": "text", "text": f"{mark}{when}."}, {"type": "image", "image": image}], record

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
        frames, bad = self._reader.decodable_frames(self._reader.sample_indices(min(want, left), t0, t1))
        if not frames:
            raise RuntimeError(f"no frame between {t0:.1f} and {t1:.1f} seconds could be decoded (corrupt video data)")
        named = parse_cell(region) if isinstance(region, str) else None
        where = f", region {named or (region if isinstance(region, str) else list(region))} (pixels {box})" if box else ""
        note = f" ({len(bad)} corrupt frames skipped)" if bad else ""
        content: Content = [{"type": "text", "text": f"{len(frames)} frames from {t0:.1f} to {t1:.1f} seconds{where}{note}:"}]
        for fr in frames:
            img = fr.image if box is None else fr.image[box[1]:box[3], box[0]:box[2]]
            img = fit_for_processor(Image.fromarray(np.ascontiguousarray(img)), cfg.max_pixels)
            content += [{"type": "text", "text": timestamp_text(fr.timestamp)}, {"type": "image", "image": img}]
        if cfg.frames_as == "grid":  # one labelled grid image instead of N (verl tool responses; the paper's choice)
            content = grid_content(content, cfg.max_pixels * len(frames))
        self._frames_used += len(frames)
        record = ToolRecord("crop_video", args, True, timestamps=[fr.timestamp for fr in frames], region_px=box,
                            frame_indices=[fr.index for fr in frames])
        return content, record


def _region_to_pixels(region: Any, width: int, height: int, min_size: int) -> list[int]:
    """[x0, y0, x1, y1] in 0-1000 units, or a grid cell name (``regions.CELL_NAMES``) -> integer pixel box of a
    width x height frame; ValueError if invalid."""
    if isinstance(region, str) and parse_cell(region) is not None:
        region = cell_box(region)
    if isinstance(region, str):
        try:
            region = json.loads(region)
        except json.JSONDecodeError:
            raise ValueError(f"region must be a list [x0, y0, x1, y1] or a grid cell ({region_text()}), "
                             f"got {region!r}") from None
    if not isinstance(region, (list, tuple)) or len(region) != 4:
        raise ValueError(f"region must be a list of 4 numbers [x0, y0, x1, y1] in 0-1000, got {region!r}")
    vals = [_as_number("region value", v) for v in region]
    x0, y0, x1, y1 = vals
    if min(vals) < 0 or max(vals) > 1000:
        raise ValueError(f"region {list(region)} must lie within 0-1000 (normalized coordinates of the full frame)")
    if x1 - x0 < min_size or y1 - y0 < min_size:
        raise ValueError(f"region {list(region)} is degenerate: need x1 > x0 and y1 > y0 by at least {min_size} (0-1000 units)")
    px = [min(int(round(x0 / 1000 * width)), width - 1), min(int(round(y0 / 1000 * height)), height - 1),
          int(round(x1 / 1000 * width)), int(round(y1 / 1000 * height))]
    px[2], px[3] = min(max(px[2], px[0] + 1), width), min(max(px[3], px[1] + 1), height)  # >= 1 pixel, inside
    return px


def grid_content(content: Content, max_pixels: int) -> Content:
    """A crop's observation ``[header, (label, image)*]`` as ``[header + labels, one labelled grid image]``
    (``images.tile_grid``, fitted to `max_pixels`): what ``EnvConfig.frames_as = "grid"`` returns."""
    labels = [p["text"] for p, q in zip(content[1::2], content[2::2]) if q.get("type") == "image"]
    images = [q["image"] for q in content[2::2] if q.get("type") == "image"]
    header = f"{content[0]['text']} one grid image, left to right and top to bottom: {', '.join(labels)}"
    return [{"type": "text", "text": header}, {"type": "image", "image": fit_for_processor(tile_grid(images, labels), max_pixels)}]


def record_failure(env: VideoSeekerEnv, name: str, arguments: dict[str, Any], message: str, kind: str) -> Content:
    """Log a tool call that could not even be made (an unknown tool, wrong keywords) in `env`'s log and counts, as a
    failed tool call would be; returns its error observation. (A function, not a method: methods are tools.)"""
    return env._failed(name, arguments, message, kind)


def render_prompt_image(sample: Sample, reader: Any, base_dir: Any) -> Image.Image:
    """The visual-prompt frame of `sample`: its saved F_vp when on disk, else drawn from its box/mask on the frame
    `reader` decodes (the plain frame when nothing marks the instance: the question must then say which)."""
    vp = sample.visual_prompt
    if vp is not None and vp.image_path:
        path = resolve_path(vp.image_path, base_dir)
        if os.path.isfile(path):
            try:
                with Image.open(path) as im:
                    return im.convert("RGB")  # decodes it all: a truncated file fails here, not later
            except Exception as e:  # noqa: BLE001 - not an image, truncated, a decompression bomb: draw the mark instead
                log.warning("sample %r: the marked frame %s is not a readable image (%s: %s); drawing the mark on "
                            "the video frame instead", sample.id, path, type(e).__name__, e)
    from seekerlite.marks import render_visual_prompt

    index = vp.frame_index if vp and vp.frame_index is not None else 0
    if not 0 <= index < reader.num_frames:
        raise ValueError(f"sample {sample.id!r}: visual_prompt.frame_index {index} is outside the video "
                         f"(frames 0..{reader.num_frames - 1})")
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
    if env.sample is None:
        raise RuntimeError("call env.reset(...) before opening_messages(env)")
    cfg, reader = env.config, env.reader
    frames, _ = reader.decodable_frames(reader.sample_indices(cfg.overview_frames)) if cfg.overview_frames else ([], [])
    overview = [(f.timestamp, fit_for_processor(Image.fromarray(f.image), cfg.overview_max_pixels)) for f in frames]
    vp = env.sample.visual_prompt
    prompt = fit_for_processor(env.prompt_image, cfg.max_pixels)
    return build_first_turn(env.sample, prompt, vp.timestamp if vp else 0.0, overview, reader.info.duration,
                            cfg.system_prompt, tools=cfg.max_tool_rounds > 0)


def tool_methods(env: Any) -> list[Any]:
    """The environment's tools, chosen by TRL's own rule: public functions of the class except reset/get_reward."""
    import inspect

    return [getattr(env, n) for n, _ in inspect.getmembers(type(env), predicate=inspect.isfunction)
            if n not in ("reset", "get_reward") and not n.startswith("_")]


def tool_schemas() -> list[dict[str, Any]]:
    """The JSON schemas of the tools (what the chat template shows the model), identical for every episode."""
    from transformers.utils import get_json_schema

    return [get_json_schema(t) for t in tool_methods(VideoSeekerEnv())]
