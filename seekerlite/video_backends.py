"""The decoders behind `seekerlite.video`: the PyAV scan that validates a file, and three frame sources.

    path = Path("sample_data/videos/vtest.mp4")
    scan = scan_video(path)                         # Scan: VideoInfo, frame timestamps, a probe frame
    SOURCES["pyav"](path, scan).read([3, 0, 77])    # 3 (H, W, 3) uint8 RGB frames, in the order asked

`VideoReader` (in seekerlite/video.py) is the public face: it scans once, picks a source (`auto_backend`, or
the one asked for) and falls back to PyAV when decord is refused or fails. A source is a small class with
`name`, `read(indices) -> list[np.ndarray]` and `close()`.

What decord 0.6.0 did here (OpenCV's sample videos, broken copies of them; tests/test_video.py):
- No crash and no hang on any broken file we made (empty, text, random bytes, mp4s cut in half, random
  bytes mid-file): it raises. But after its decode thread meets one bad packet the reader is poisoned
  and fails on every later frame, good ones included. Others report aborts, hangs and silent
  substitution of the last good frame (dmlc/decord#25, #119, #154, #363).
- Random access returns the *wrong frame* when timestamps do not follow display order: on Megamind.avi
  and Megamind_bugy.avi (packed-bitstream XviD) `vr[200]` is frame 98 resp. 40; on box.mp4 (a broken
  H.264 stream) reads after a backward seek are 2 frames off. Reading from the start is right.
  Megamind_bugy.avi is OpenCV's damaged copy of Megamind.avi (30 fps instead of 23.976, white boxes
  painted into some frames), yet its stream is valid: OpenCV, PyAV and decord decode all 270 frames.
Hence `scan_video`: if the first decoded frames come out with timestamps out of order (or none), indices
follow decode order (`Scan.pts` is None; the file is counted by a full decode) and VideoReader skips decord.
Otherwise `DecordSource` must count the same frames and decode the probe frame like PyAV does (after a
backward seek), or it refuses the file.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seekerlite.schema import VideoInfo

CHECK_FRAMES = 12  # frames decoded with PyAV at open to validate a file
DECORD_THREADS = 2  # decoder threads per decord reader; a small fixed number keeps runs predictable
DECORD_BATCH = 32  # frames per decord get_batch call, to bound memory: 32 x 768 x 576 x 3 B = 42 MB
SEEK_GAP = 32  # frames: when the target is at most this far ahead, decode forward instead of seeking


class VideoError(RuntimeError):
    """A video could not be opened or a frame could not be decoded. The message names the path and the cause."""

    def __init__(self, path: str | Path, cause: str) -> None:
        self.path, self.cause = str(path), cause
        super().__init__(f"{path}: {cause}")


@dataclass
class Scan:
    """What PyAV tells about a file at open: its info, its frame timestamps and one reference frame."""

    info: VideoInfo
    pts: list[int] | None  # presentation timestamp of frame i, in units of `time_base`; None: decode order
    time_base: float  # seconds per pts unit
    probe: tuple[int, np.ndarray]  # (index, (H, W, 3) uint8 RGB): one frame as PyAV decodes it


def scan_video(path: Path, strict: bool = True) -> Scan:
    """Validate `path` with PyAV and index its frames (rules: this module's and seekerlite/video.py's docstrings).

    Raises:
        VideoError: missing, empty, not a video, nothing decodes, truncated (when `strict`), or no frame rate.
    """
    if not path.is_file():
        raise VideoError(path, "no such file")
    if path.stat().st_size == 0:
        raise VideoError(path, "the file is empty (0 bytes)")
    import av

    try:
        with av.open(str(path)) as box:
            if not box.streams.video:
                raise VideoError(path, "the file holds no video stream")
            s = box.streams.video[0]
            tb, rate = s.time_base, float(s.average_rate or s.guessed_rate or 0)
            packets = [(p.pts, p.duration) for p in box.demux(s) if p.size and not p.is_discard]
            declared = max(float((s.duration or 0) * tb), s.frames / rate if rate and s.frames else 0.0)  # seconds
        with av.open(str(path)) as box:
            decoded = _decode_pts(box, CHECK_FRAMES, keep=CHECK_FRAMES - 1)
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoError(path, f"not a readable video ({type(e).__name__}: {e})") from None
    first, (k_out, image) = decoded
    if not packets or not first:
        raise VideoError(path, "no frame of the video stream could be decoded")
    pts = sorted(p for p, _ in packets) if all(p is not None for p, _ in packets) else None
    span = 0.0
    if pts is not None:
        last = max(packets, key=lambda p: p[0])
        span = float((pts[-1] - pts[0] + (last[1] or 0)) * tb) or len(pts) / max(rate, 1e-9)  # seconds
        if strict and declared - span > max(2 / max(rate, 1e-9), 0.05 * declared):
            raise VideoError(path, f"the file looks truncated: its container declares {declared:.2f} s of video "
                                   f"but the packets stop at {span:.2f} s (strict=False reads what is there)")
    ordered = pts is not None and None not in first and all(a < b for a, b in itertools.pairwise(first))
    if ordered and set(first) <= set(pts) and len(set(pts)) == len(pts):  # timestamps follow display order: seek by them
        n, k = len(pts), pts.index(first[k_out])
        late = rate > 0 and (pts[-1] - pts[0]) * tb >= n / rate - 1e-9  # VFR: the last frame starts after n / rate
        fps = n / span if span and (late or abs(n / span - rate) > 0.01 * rate) else rate
    else:  # timestamps lie: count frames by decoding them all, in decode order
        with av.open(str(path)) as box:
            n, k = len(_decode_pts(box, None)[0]), k_out
        fps, pts = rate or (n / declared if declared else 0.0), None
    if not fps > 0:
        raise VideoError(path, "the frame rate is unknown (no rate in the container, no timestamps)")
    info = VideoInfo(str(path), float(fps), n, int(image.shape[1]), int(image.shape[0]))
    return Scan(info, pts, float(tb), (k, image))


def _decode_pts(box: Any, limit: int | None, keep: int = -1) -> tuple[list[int | None], tuple[int, np.ndarray]]:
    """Decode frames from the start, skipping packets that fail. Returns their pts and (k, RGB) of output `keep`."""
    import av

    out: list[int | None] = []
    kept = (0, np.zeros((0, 0, 3), np.uint8))
    for packet in box.demux(box.streams.video[0]):
        try:
            frames = packet.decode()
        except av.FFmpegError:
            continue  # a broken packet: its frame is missing
        for fr in frames:
            if len(out) <= max(keep, 0):
                kept = (len(out), fr.to_ndarray(format="rgb24"))
            out.append(fr.pts)
            if limit is not None and len(out) >= limit:
                return out, kept
    return out, kept


class PyAVSource:
    """Exact decoding with PyAV: seek to the keyframe before the target, decode forward to it."""

    name = "pyav"

    def __init__(self, path: Path, scan: Scan) -> None:
        import av

        self.path, self.pts, self.av = path, scan.pts, av
        self.where = {p: i for i, p in enumerate(scan.pts)} if scan.pts is not None else None  # pts -> index
        self.box: Any = None
        self.frames: Any = iter(())  # (index, av.VideoFrame) from the current position on
        self.last = -1  # index of the last frame decoded since the last seek; -1: none yet

    def _seek(self, i: int, from_start: bool = False) -> None:
        if self.box is None or self.where is None or from_start:  # files in decode order always restart
            self.close()
            self.box = self.av.open(str(self.path))
        if self.where is not None and not from_start:
            self.box.seek(self.pts[i], stream=self.box.streams.video[0], backward=True, any_frame=False)
        self.frames, self.last = self._decoded(), -1

    def _decoded(self) -> Any:
        count = 0
        for packet in self.box.demux(self.box.streams.video[0]):
            try:
                frames = packet.decode()
            except self.av.FFmpegError:
                continue  # a broken packet: its frame is missing
            for fr in frames:
                j = count if self.where is None else self.where.get(fr.pts)
                count += 1
                if j is not None:
                    yield j, fr

    def _advance(self, i: int) -> tuple[int, Any, bool]:
        """Decode up to frame i: (index reached or -1 at the end, its frame, whether it came first after a seek)."""
        for j, fr in self.frames:
            first, self.last = self.last < 0, j
            if j >= i:
                return j, fr, first
        return -1, None, False

    def read(self, indices: list[int]) -> list[np.ndarray]:
        out = []
        for i in indices:
            if self.box is None or i <= self.last or (self.where is not None and i - self.last > SEEK_GAP):
                self._seek(i)
            j, fr, first = self._advance(i)
            if j > i and first and self.where is not None:  # the seek landed past the target: start over
                self._seek(i, from_start=True)
                j, fr, _ = self._advance(i)
            if j != i:
                raise VideoError(self.path, f"frame {i} could not be decoded "
                                            f"({'the stream ended' if j < 0 else 'a corrupt packet?'})")
            out.append(fr.to_ndarray(format="rgb24"))
        return out

    def close(self) -> None:
        if self.box is not None:
            self.box.close()
            self.box = None


class OpenCVSource:
    """OpenCV's sequential reader, the last resort: exact, but random access re-reads from the first frame.

    Each grabbed frame is placed by its timestamp (CAP_PROP_POS_MSEC), so a frame that fails to decode
    does not shift the ones after it; files read in decode order are counted instead.
    """

    name = "opencv"

    def __init__(self, path: Path, scan: Scan) -> None:
        import cv2

        self.path, self.cv2, self.cap, self.last = path, cv2, None, -1
        self.ms = [(p - scan.pts[0]) * scan.time_base * 1000 for p in scan.pts] if scan.pts else None  # ms
        self.half = 500 / scan.info.fps  # ms: half a frame

    def _grab(self) -> int | None:
        """Grab the next frame; its index, or None at the end (a few failed grabs in a row)."""
        for _ in range(8):
            if self.cap.grab():
                if self.ms is None:
                    return self.last + 1
                t = self.cap.get(self.cv2.CAP_PROP_POS_MSEC)
                j = min(bisect.bisect_left(self.ms, t), len(self.ms) - 1)
                j = j - 1 if j > 0 and t - self.ms[j - 1] < self.ms[j] - t else j
                if abs(self.ms[j] - t) <= self.half:
                    return j
        return None

    def read(self, indices: list[int]) -> list[np.ndarray]:
        out = []
        for i in indices:
            if self.cap is None or i <= self.last:
                self.close()
                self.cap, self.last = self.cv2.VideoCapture(str(self.path)), -1
            while self.last < i:
                j = self._grab()
                if j is None:
                    raise VideoError(self.path, f"frame {i} could not be decoded (OpenCV stopped after {self.last})")
                self.last = j
            ok, bgr = self.cap.retrieve()
            if self.last != i or not ok:
                raise VideoError(self.path, f"frame {i} could not be decoded (a corrupt packet?)")
            out.append(self.cv2.cvtColor(bgr, self.cv2.COLOR_BGR2RGB))
        return out

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


class DecordSource:
    """decord: fast batched random access, used only on files that passed the checks above."""

    name = "decord"

    def __init__(self, path: Path, scan: Scan) -> None:
        import decord

        self.path = path
        try:
            self.vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=DECORD_THREADS)
            n = len(self.vr)
        except Exception as e:  # noqa: BLE001 - decord raises its own error types
            raise VideoError(path, f"decord could not open the file ({e})") from None
        if n != scan.info.num_frames:
            raise VideoError(path, f"decord counts {n} frames, PyAV {scan.info.num_frames}")
        k, ref = scan.probe
        got = self.read([n - 1, k])[1]  # read the last frame first, so that the probe needs a backward seek
        if got.shape != ref.shape or np.abs(got.astype(np.int16) - ref).mean() > 1.0:
            raise VideoError(path, f"decord's frame {k} differs from PyAV's")

    def read(self, indices: list[int]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        try:
            for s in range(0, len(indices), DECORD_BATCH):
                batch = self.vr.get_batch(indices[s:s + DECORD_BATCH])
                arr = batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)  # any decord bridge
                out.extend(arr)  # (k, H, W, 3) uint8 RGB -> k frames
        except Exception as e:  # noqa: BLE001
            raise VideoError(self.path, f"decord failed on frames {indices[:4]}... ({e})") from None
        return out

    def close(self) -> None:
        self.vr = None


SOURCES = {"decord": DecordSource, "pyav": PyAVSource, "opencv": OpenCVSource}  # backend name -> source class


def auto_backend() -> str:
    """The backend "auto" means: decord when it imports, else PyAV."""
    try:
        import decord  # noqa: F401
        return "decord"
    except ImportError:
        return "pyav"  # PyAV is a hard dependency; "opencv" is chosen explicitly only
