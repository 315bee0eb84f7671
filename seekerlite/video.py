"""Decoding video by time: frames by index or timestamp, uniform sampling, resizing, writing.

    with open_video("sample_data/videos/vtest.mp4") as v:       # VideoReader, backend "auto"
        v.info                                                   # VideoInfo(fps, num_frames, width, height)
        v.frame_at(3.2).image                                    # (H, W, 3) uint8 RGB shown at t = 3.2 s
        [f.timestamp for f in v.sample_uniform(8, 2.0, 6.0)]     # 8 frames spread over [2, 6] s

A frame index i is the i-th frame in display order. Its timestamp is its presentation timestamp (PTS) in
seconds from the first frame's, so variable-frame-rate files (pts jumps, dropped frames) get their real times;
it is on screen until the next frame's timestamp. Files whose timestamps do not follow display order (read in
decode order, see below) fall back to index / fps. Sampling by time (``frame_at``, ``sample_uniform``) uses the
same timestamps.

Opening a file. PyAV (a hard dependency) reads the container's packets without decoding them and
decodes the first CHECK_FRAMES frames. A missing, empty or non-video file, a stream of which nothing
decodes, or a file whose packets stop well short of the duration its container declares (truncated;
`strict=False` reads what is there) raises `VideoError(path, cause)`. Only then may decord see the file.

decord is fast but returns wrong frames on some files and is poisoned by one bad packet (what we measured:
seekerlite/video_backends.py). The policy: if the first decoded frames come out with timestamps out of
order (or none), indices follow decode order (what OpenCV and PyAV give reading from the start; such files
are counted by a full decode at open, `seekable` is False, going back restarts from frame 0) and decord is
not used. Otherwise decord must count the same frames and decode a probe frame like PyAV does (after a
backward seek), or PyAV is used. A decord error later switches that reader to PyAV for good, and the frame
is decoded there.

A frame that cannot be decoded (corrupt data mid-file) raises `VideoError` naming its index; the others
stay readable. fps is the container's rate, or for files with dropped frames (tree.avi declares 444
frames at 15 fps but holds 68 over 29.6 s) the frames present divided by their span, so that
duration = frames / fps is the span the timestamps cover.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Self

import numpy as np

from seekerlite.images import fit_for_processor, resize_to_budget, write_video
from seekerlite.schema import VideoInfo
from seekerlite.video_backends import (
    CHECK_FRAMES,
    SOURCES,
    PyAVSource,
    VideoError,
    auto_backend,
    scan_video,
)

__all__ = ["BACKENDS", "CHECK_FRAMES", "TIME_EPS", "Frame", "VideoError", "VideoReader", "fit_for_processor",
           "frame_times", "frames_in_span", "index_at", "index_at_time", "open_video", "probe", "read_all",
           "resize_to_budget", "video_times", "write_video"]

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = tuple(SOURCES)  # ("decord", "pyav", "opencv")
TIME_EPS = 1e-6  # seconds, absorbs float error so that index_at(i / fps) == i


@dataclass
class Frame:
    """One decoded frame."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    index: int  # position in the video, 0-based
    timestamp: float  # seconds from the first frame: its presentation timestamp (index / fps only without PTS)


def index_at(t: float, fps: float, num_frames: int) -> int:
    """Index of the frame displayed at time `t` (seconds): floor(t * fps), clamped to the video.

    >>> index_at(0.1 * 3, 10.0, 100), index_at(-1.0, 10.0, 100), index_at(99.0, 10.0, 100)
    (3, 0, 99)
    """
    if not math.isfinite(t):
        raise ValueError(f"time must be a finite number of seconds, got {t}")
    return int(min(max(math.floor((t + TIME_EPS) * fps), 0), num_frames - 1))


def index_at_time(t: float, times: Sequence[float]) -> int:
    """Index of the frame on screen at `t` seconds given every frame's timestamp (sorted): the last frame whose
    timestamp is <= t, clamped to the video.

    >>> index_at_time(0.5, [0.0, 0.1, 1.0, 1.1]), index_at_time(-2.0, [0.0, 0.1]), index_at_time(9.0, [0.0, 0.1])
    (1, 0, 1)
    """
    if not math.isfinite(t):
        raise ValueError(f"time must be a finite number of seconds, got {t}")
    return min(max(bisect.bisect_right(times, t + TIME_EPS) - 1, 0), len(times) - 1)


def frame_times(scan: Any) -> list[float]:
    """Seconds of each frame of a scanned file: (pts - first pts) x time base; index / fps without timestamps."""
    if scan.pts is None:
        return [i / scan.info.fps for i in range(scan.info.num_frames)]
    tb = Fraction(scan.time_base).limit_denominator(1 << 31)  # exact (1/12288, 1/1000): CFR times are i / fps exactly
    return [float((p - scan.pts[0]) * tb) for p in scan.pts]


def frames_in_span(frames: Iterable[int], span: Sequence[float], fps: float,
                   times: Sequence[float] | None = None) -> list[int]:
    """The frames on screen during [t0, t1] seconds, the end included (as ``crop_video`` samples them). With
    `times` (every frame's timestamp, e.g. ``VideoReader.times``) real timestamps are used, else index / fps.

    >>> frames_in_span([48, 49, 50, 51], [3.8, 5.0], 10.0)
    [48, 49, 50]
    """
    if times is not None:
        f0, f1 = index_at_time(span[0], times), index_at_time(span[1], times)
    else:
        f0, f1 = math.floor(span[0] * fps + TIME_EPS), math.floor(span[1] * fps + TIME_EPS)  # frame indices
    return [f for f in frames if f0 <= f <= f1]


def video_times(path: str | Path, strict: bool = True) -> list[float]:
    """Timestamps (seconds) of every frame of a video, validated as ``VideoReader`` does, without a backend."""
    return frame_times(scan_video(Path(path), strict))


class VideoReader:
    """Random access to the frames of one video, by index or by time, with an LRU cache of decoded frames.

    Args:
        path: A video file (mp4, avi, mkv, ...).
        backend: "decord", "pyav", "opencv" or "auto" (decord when importable, else PyAV).
        cache_size: Decoded frames kept in memory (0 disables the cache). 64 frames of 768x576 are 85 MB.
        strict: Raise on files that look truncated; False reads whatever frames are there.

    Raises:
        VideoError: the file is missing, empty, not a video, truncated or undecodable.
    """

    def __init__(self, path: str | Path, backend: str = "auto", cache_size: int = 64, strict: bool = True) -> None:
        if backend not in ("auto", *BACKENDS):
            raise ValueError(f"backend must be 'auto' or one of {BACKENDS}, got {backend!r}")
        self.path = Path(path)
        self._scan = scan_video(self.path, strict)
        self.info = self._scan.info
        self.info.path = str(path)  # as given, so callers can compare it with their own string
        self.seekable = self._scan.pts is not None  # False: decode order, random access restarts from frame 0
        self._times = frame_times(self._scan)  # seconds of each frame, from its PTS
        self.cache_size, self.cache_hits, self.cache_misses = cache_size, 0, 0
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        want = auto_backend() if backend == "auto" else backend
        if want == "decord" and not self.seekable:
            log.warning("%s: timestamps out of display order; decord would return wrong frames, using PyAV", path)
            want = "pyav"
        try:
            self._source: Any = SOURCES[want](self.path, self._scan)
        except (VideoError, ImportError) as e:
            if want != "decord":
                raise
            log.warning("%s: decord not used (%s); using PyAV", path, e)
            self._source = PyAVSource(self.path, self._scan)

    # ------------------------------------------------------------------ what the video is
    @property
    def backend(self) -> str:
        """The backend decoding frames now ("decord", "pyav" or "opencv")."""
        return self._source.name

    @property
    def fps(self) -> float:
        return self.info.fps  # frames per second

    @property
    def num_frames(self) -> int:
        return self.info.num_frames

    @property
    def duration(self) -> float:
        return self.info.duration  # seconds (= num_frames / fps)

    @property
    def times(self) -> list[float]:
        """Timestamp of every frame in seconds (presentation timestamps; index / fps for decode-order files)."""
        return list(self._times)

    def time_of(self, index: int) -> float:
        """Seconds at which frame `index` is shown (its presentation timestamp)."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f"{self.path}: frame {index} is outside 0..{self.num_frames - 1}")
        return self._times[index]

    def index_at(self, t: float) -> int:
        """Index of the frame on screen at time `t` (seconds, by the frames' timestamps), clamped to the video."""
        return index_at_time(t, self._times)

    @property
    def width(self) -> int:
        return self.info.width  # pixels

    @property
    def height(self) -> int:
        return self.info.height  # pixels

    def __len__(self) -> int:
        return self.info.num_frames

    def __repr__(self) -> str:
        i = self.info
        return f"VideoReader({i.path!r}, {i.num_frames} frames, {i.fps:g} fps, {i.width}x{i.height}, {self.backend})"

    # ------------------------------------------------------------------ frames by index
    def get_frame(self, index: int) -> Frame:
        """The frame at `index` (0-based). Raises IndexError outside the video, VideoError if it cannot be decoded."""
        return self.get_frames([index])[0]

    def get_frames(self, indices: Sequence[int]) -> list[Frame]:
        """Frames at `indices`, in the order asked (repeats allowed). Missing frames are decoded in one sorted pass."""
        idx = [int(i) for i in indices]
        for i in idx:
            if not 0 <= i < self.num_frames:
                raise IndexError(f"{self.path}: frame {i} is outside 0..{self.num_frames - 1}")
        cached = {i: self._cache[i] for i in idx if i in self._cache}
        for i in cached:
            self._cache.move_to_end(i)
        todo = sorted(set(idx) - set(cached))
        self.cache_hits += sum(i in cached for i in idx)
        self.cache_misses += len(todo)
        fresh = dict(zip(todo, self._decode(todo))) if todo else {}
        for i, image in fresh.items():
            self._remember(i, image)
        out, given = [], set()
        for i in idx:
            image = fresh[i] if i in fresh and i not in given else (fresh.get(i, cached.get(i))).copy()
            given.add(i)
            out.append(Frame(image, i, self._times[i]))
        return out

    def _decode(self, indices: list[int]) -> list[np.ndarray]:
        try:
            return self._source.read(indices)
        except VideoError as e:
            if self._source.name != "decord":
                raise
            log.warning("%s: decord failed (%s); switching to PyAV for good", self.path, e.cause)
            self._source.close()
            self._source = PyAVSource(self.path, self._scan)
            return self._source.read(indices)

    def _remember(self, i: int, image: np.ndarray) -> None:
        if self.cache_size <= 0:
            return
        cached = image.copy()
        cached.flags.writeable = False  # callers get copies; the cache cannot be edited through them
        self._cache[i] = cached
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    # ------------------------------------------------------------------ frames by time
    def frame_at(self, t: float) -> Frame:
        """The frame displayed at time `t` (seconds); times outside the video clamp to its first/last frame."""
        return self.get_frame(self.index_at(t))

    def sample_uniform(self, n: int, t0: float = 0.0, t1: float | None = None) -> list[Frame]:
        """`n` frames spread uniformly over [t0, t1] seconds (t1 None: the end of the video).

        The frames whose timestamps lie in [t0, t1] are cut into `n` equal runs and the middle frame of each
        run is taken, so indices are unique and sorted and every timestamp is within [t0, t1]. Fewer than `n`
        frames come back when the window holds fewer. A window shorter than one frame that contains no frame
        start returns the one frame shown during it (its timestamp is then just before t0).

        Raises:
            ValueError: n < 1, t0 >= t1, or the window is not inside [0, duration].
        """
        return self.get_frames(self.sample_indices(n, t0, t1))

    def sample_indices(self, n: int, t0: float = 0.0, t1: float | None = None) -> list[int]:
        """The frame indices ``sample_uniform(n, t0, t1)`` returns (nothing is decoded)."""
        dur = self.duration
        t1 = dur if t1 is None else float(t1)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if not (0.0 <= t0 < t1 <= dur + TIME_EPS):
            raise ValueError(f"need 0 <= t0 < t1 <= duration ({dur:.3f} s), got t0={t0}, t1={t1}")
        lo = min(bisect.bisect_left(self._times, t0 - TIME_EPS), self.num_frames - 1)  # first frame shown from t0 on
        hi = self.index_at(t1)
        if lo > hi:
            return [self.index_at(t0)]
        m = hi - lo + 1  # frames starting inside the window
        return list(range(lo, hi + 1)) if n >= m else [lo + int((k + 0.5) * m / n) for k in range(n)]

    def decodable_frames(self, indices: Sequence[int]) -> tuple[list[Frame], list[int]]:
        """(the frames at `indices` that decode, the indices that do not): one corrupt frame hides no other."""
        try:
            return self.get_frames(indices), []
        except VideoError:
            ok, bad = [], []
            for i in indices:
                try:
                    ok.append(self.get_frame(i))
                except VideoError:
                    bad.append(int(i))
            return ok, bad

    def sample_fps(self, t0: float = 0.0, t1: float | None = None, fps: float = 1.0, min_frames: int = 1,
                   max_frames: int = 64) -> list[Frame]:
        """Frames over [t0, t1] at about `fps` frames per second, at least `min_frames`, at most `max_frames`."""
        if fps <= 0 or not 1 <= min_frames <= max_frames:
            raise ValueError(f"need fps > 0 and 1 <= min_frames <= max_frames, got {fps}, {min_frames}, {max_frames}")
        span = (self.duration if t1 is None else t1) - t0  # seconds
        n = int(np.clip(math.floor((span + TIME_EPS) * fps), min_frames, max_frames))
        return self.sample_uniform(n, t0, t1)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release the decoder and the cache."""
        self._source.close()
        self._cache.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_video(path: str | Path, backend: str = "auto", cache_size: int = 64, strict: bool = True) -> VideoReader:
    """Open a video for random access (see `VideoReader`). Use it as a context manager."""
    return VideoReader(path, backend=backend, cache_size=cache_size, strict=strict)


def probe(path: str | Path, strict: bool = True) -> VideoInfo:
    """fps, frame count and size of a video, validated as `VideoReader` does, without opening a backend."""
    info = scan_video(Path(path), strict).info
    info.path = str(path)
    return info


def read_all(path: str | Path, backend: str = "auto") -> np.ndarray:
    """Every frame of a short video as one (T, H, W, 3) uint8 RGB array (T x H x W x 3 bytes of memory)."""
    with VideoReader(path, backend=backend, cache_size=0) as v:
        return np.stack([f.image for f in v.get_frames(range(v.num_frames))])
