"""The tracker refuses boxes it cannot track, and every tracking call has a frame and a time budget (issue 13,
class 3: OpenCV's MIL tracker spun forever on tiny (1-4 px) or inverted boxes, in ``seekerlite track`` and in
pipeline stage 3). A watchdog ends the test process should a regression hang again."""

from __future__ import annotations

import faulthandler
import math
from pathlib import Path

import numpy as np
import pytest

from seekerlite.tracking import TrackBudgetError, TrackError, track_video

W, H, T = 64, 48, 12


@pytest.fixture(autouse=True)
def watchdog():
    faulthandler.dump_traceback_later(120, exit=True)  # a hang (MIL spinning) fails loudly instead of forever
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    from seekerlite.images import write_video

    frames = np.full((T, H, W, 3), 30, np.uint8)
    for t in range(T):
        frames[t, 12:32, 8 + 2 * t:28 + 2 * t] = (220, 60, 40)  # a red square moving right
    return write_video(frames, tmp_path_factory.mktemp("track") / "clip.mp4", fps=10)


BAD_BOXES = {
    "1px": [10, 10, 11, 11], "4px": [10, 10, 14, 14], "thin": [10, 10, 40, 12], "inverted": [30, 30, 10, 10],
    "zero-width": [10, 10, 10, 30], "whole-frame": [0, 0, W, H], "bigger-than-frame": [-10, -10, W + 10, H + 10],
    "almost-whole": [1, 1, W - 1, H - 1], "outside": [100, 100, 140, 140], "negative-outside": [-40, -40, -5, -5],
    "clipped-to-2px": [W - 2, 10, W + 30, 30], "nan": [math.nan, 0, 10, 10], "inf": [0, 0, math.inf, 10],
    "3-numbers": [0, 0, 10], "5-numbers": [0, 0, 10, 10, 10], "strings": ["a", "b", "c", "d"],
    "huge-int": [0, 0, 10 ** 400, 10], "none": [None, 0, 10, 10],
}


@pytest.mark.parametrize("name", list(BAD_BOXES))
def test_a_box_the_tracker_cannot_follow_is_refused_naming_video_and_box(clip, name):
    with pytest.raises(TrackError) as e:
        track_video(clip, 3, box=BAD_BOXES[name], backend="opencv")
    assert str(e.value).startswith(f"{clip}: box "), str(e.value)


@pytest.mark.parametrize("frame", [-1, T, 10 ** 30, 1.5, True, "3"])
def test_a_frame_outside_the_video_is_refused(clip, frame):
    with pytest.raises(TrackError, match=rf"{clip}: frame .* is outside the video \(frames 0..{T - 1}\)"):
        track_video(clip, frame, box=[8, 12, 28, 32], backend="opencv")


def test_frame_and_time_budgets(clip):
    with pytest.raises(TrackBudgetError, match=rf"{clip}: {T} frames is over the tracking budget of 5 frames"):
        track_video(clip, 0, box=[8, 12, 28, 32], backend="opencv", max_frames=5)
    with pytest.raises(TrackBudgetError, match="over its time budget"):
        track_video(clip, 0, box=[8, 12, 28, 32], backend="opencv", max_seconds=1e-9)
    tr = track_video(clip, 0, box=[8, 12, 28, 32], backend="opencv", max_frames=T, max_seconds=60)
    assert len(tr.masklet.visible_frames()) >= 3  # a good box within budget tracks


def test_stage3_drops_untrackable_and_over_budget_records_with_a_reason(clip):
    """A bad seed box drops that record (``untrackable_box`` / ``track_budget``) and the stage goes on."""
    from seekerlite.pipeline.stage3_masks import MaskConfig, mask_samples
    from seekerlite.schema import Sample, VisualPrompt

    def sample(sid: str, box: list[float]) -> Sample:
        return Sample(sid, str(clip), "What colour is the marked square?", "red",
                      visual_prompt=VisualPrompt(0, 0.0, "rectangle", None, box))

    samples = [sample("tiny", [10, 10, 12, 12]), sample("whole", [0, 0, W, H]), sample("outside", [70, 50, 90, 60]),
               sample("good", [8, 12, 28, 32])]
    out = {o.id: o for o in mask_samples(samples, config=MaskConfig(backend="opencv", min_visible_frames=3))}
    assert out["good"].kept
    for sid in ("tiny", "whole", "outside"):
        assert not out[sid].kept and out[sid].reasons[0].startswith("untrackable_box: "), out[sid].reasons
        assert out[sid].info["seed_box"] is not None
    budget = list(mask_samples([sample("good", [8, 12, 28, 32])],
                               config=MaskConfig(backend="opencv", max_track_frames=5)))
    assert budget[0].reasons[0].startswith("track_budget: ") and not budget[0].kept
