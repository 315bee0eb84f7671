"""Time comes from presentation timestamps (PTS), in every backend, on a real variable-frame-rate file (issue 13,
class 1: time was index / mean fps, so ``crop_video`` labelled a frame shown at ~9.7 s "4.9 s")."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from seekerlite.video import BACKENDS, VideoReader, frames_in_span

PTS_MS = [0, 100, 200, 300, 1500, 1600, 1700, 4000, 4100, 4200, 4300, 9700, 9800, 9900]  # bursts and long gaps
TIMES = [p / 1000 for p in PTS_MS]
SQUARE = (16, 12, 40, 36)  # x0, y0, x1, y1: a white square on every frame (something to track)


def _brightness_to_index(image: np.ndarray) -> int:
    """Frame i has background grey level 12 * i (outside the square): which frame this is."""
    return int(round(float(np.median(image[:, :8])) / 12))


@pytest.fixture(scope="module")
def vfr_video(tmp_path_factory) -> Path:
    """A real VFR mp4 written with PyAV: 14 frames whose pts jump (0.1 s steps, then gaps of 1.2, 2.3 and 5.4 s)."""
    import av

    path = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    with av.open(str(path), "w") as box:
        s = box.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.time_base = s.codec_context.time_base = Fraction(1, 1000)
        for i, p in enumerate(PTS_MS):
            img = np.full((48, 64, 3), 12 * i, np.uint8)
            x0, y0, x1, y1 = SQUARE
            img[y0:y1, x0:x1] = 255
            fr = av.VideoFrame.from_ndarray(img, format="rgb24")
            fr.pts, fr.time_base = p, Fraction(1, 1000)
            for pk in s.encode(fr):
                box.mux(pk)
        for pk in s.encode():
            box.mux(pk)
    return path


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_gives_each_frame_its_presentation_time(vfr_video, backend):
    with VideoReader(vfr_video, backend=backend) as r:
        assert r.backend == backend and r.num_frames == len(PTS_MS)
        assert r.times == pytest.approx(TIMES, abs=1e-9)
        frames = r.get_frames(range(r.num_frames))
        assert [f.timestamp for f in frames] == pytest.approx(TIMES, abs=1e-9)
        assert [_brightness_to_index(f.image) for f in frames] == list(range(len(PTS_MS)))  # the right frames
        # the frame on screen at t is the last one that started at or before t (index / mean fps is far off)
        for t, want in [(0.05, 0), (1.0, 3), (1.55, 4), (3.9, 6), (5.0, 10), (9.69, 10), (9.75, 11), (20.0, 13)]:
            got = r.frame_at(t)
            assert got.index == want and _brightness_to_index(got.image) == want, (t, got.index)
        assert r.sample_indices(3, 9.0, 9.95) == [11, 12, 13]
        assert frames_in_span(range(r.num_frames), [4.0, 4.25], r.fps, r.times) == [7, 8, 9]


def test_crop_video_labels_frames_with_their_presentation_time(vfr_video):
    """The labels the model reads and the ToolRecord's timestamps are the PTS of the very frames shown."""
    from seekerlite.config import EnvConfig
    from seekerlite.env import VideoSeekerEnv
    from seekerlite.protocol import timestamp_text
    from seekerlite.schema import Sample, VisualPrompt

    sample = Sample("vfr", str(vfr_video), "What colour is the marked square?", "white",
                    visual_prompt=VisualPrompt(11, 9.7, "rectangle", None, list(map(float, SQUARE))))
    env = VideoSeekerEnv(EnvConfig(frames_per_call=4, min_frames_per_call=4, max_tool_rounds=3))
    env.reset(sample=sample)
    for t0, t1, want in [(9.0, 10.0, [11, 12, 13]), (1.0, 1.8, [4, 5, 6]), (0.0, 10.0, None)]:
        content = env.crop_video(t0, t1)
        labels = [p["text"] for p in content[1:] if p["type"] == "text"]
        shown = [_brightness_to_index(np.asarray(p["image"])) for p in content if p["type"] == "image"]
        assert shown and (want is None or shown == want), (t0, t1, shown)
        assert labels == [timestamp_text(TIMES[i]) for i in shown]  # index / mean fps would say "<4.9 seconds>"
        assert env.log[-1].timestamps == pytest.approx([TIMES[i] for i in shown])


def test_tracking_and_seekerlite_track_report_presentation_times(vfr_video, tmp_path, capsys):
    from seekerlite.pipeline.cli import main_track
    from seekerlite.tracking import track_video

    tr = track_video(vfr_video, 11, box=list(map(float, SQUARE)), backend="opencv")
    assert tr.times == pytest.approx(TIMES) and tr.time_of(11) == pytest.approx(9.7)
    assert tr.visible_span is not None and tr.visible_span[0] == pytest.approx(TIMES[min(tr.masklet.visible_frames())])
    out = tmp_path / "track.json"
    assert main_track(["--video", str(vfr_video), "--frame", "11", "--box", ",".join(map(str, SQUARE)),
                       "--out", str(out)]) == 0
    frames = json.loads(out.read_text())["frames"]
    assert [f["time"] for f in frames] == pytest.approx(TIMES, abs=1e-3)
