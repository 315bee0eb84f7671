"""`seekerlite frame`: a frame with a labelled pixel grid to read a box off; box parsing and checks; the track's
contact sheet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seekerlite.cli import main
from seekerlite.frames import (
    check_box_in_frame,
    contact_sheet,
    grid_image,
    grid_step,
    parse_box,
)
from seekerlite.schema import Masklet
from seekerlite.video import open_video

ROOT = Path(__file__).resolve().parent.parent
CUP = ROOT / "sample_data" / "videos" / "cup.mp4"  # 480x360, 107 frames


@pytest.mark.parametrize("text", ["228 90 312 285", "228,90,312,285", "228, 90, 312, 285", "[228, 90, 312, 285]",
                                  " 228  90\t312 285 "])
def test_a_box_parses_with_spaces_or_commas(text: str) -> None:
    assert parse_box(text) == [228.0, 90.0, 312.0, 285.0]


@pytest.mark.parametrize("text", ["228 90 312", "a b c d", "1 2 3 4 5", "1 2 nan 4", ""])
def test_a_bad_box_says_what_it_wants(text: str) -> None:
    with pytest.raises(ValueError, match="want 4"):
        parse_box(text)


@pytest.mark.parametrize("box, why", [([0, 0, 481, 360], "reaches outside the 480x360 frame"),
                                      ([-1, 0, 100, 100], "reaches outside"),
                                      ([100, 50, 90, 80], "empty or inverted")])
def test_a_box_is_checked_against_the_frame(box, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_box_in_frame(box, 480, 360, "--box")


def test_grid_lines_sit_on_their_labelled_pixels() -> None:
    img = np.zeros((360, 480, 3), np.uint8)
    out = grid_image(img, step=50)
    assert out.shape == img.shape and not img.any()  # a copy; the input is untouched
    assert grid_step(480, 360) == 50
    col = out[255:280, :, :].astype(int).sum(axis=(0, 2))  # between two labelled rows: the vertical lines only
    lit = {x for x in range(480) if col[x] > 0}
    assert lit == set(range(50, 480, 50))
    boxed = grid_image(img, step=10**6, box=[100, 100, 200, 150])
    assert (boxed[125, 100] == (255, 0, 0)).all() and (boxed[125, 150] == 0).all()  # the box's edge, not inside


def test_frame_command_writes_the_frame_at_a_time_and_at_an_index(tmp_path: Path, capsys) -> None:
    assert main(["frame", "--video", str(CUP), "--time", "1.0", "--grid", "--out", str(tmp_path / "g.png")]) == 0
    printed = capsys.readouterr().out
    with open_video(CUP) as r:
        k = r.index_at(1.0)
        raw = r.get_frame(k).image
    assert f"frame {k} at " in printed and "480x360" in printed
    img = np.asarray(Image.open(tmp_path / "g.png").convert("RGB"))
    assert img.shape == raw.shape and (img != raw).any()
    assert main(["frame", "--video", str(CUP), "--frame", str(k), "--out", str(tmp_path / "f.png")]) == 0
    plain = np.asarray(Image.open(tmp_path / "f.png").convert("RGB"))
    assert np.array_equal(plain, raw)  # without --grid and --box: the frame itself
    assert main(["frame", "--video", str(CUP), "--frame", "107", "--out", str(tmp_path / "x.png")]) == 2
    assert "outside the video (frames 0..106)" in capsys.readouterr().err


def test_track_writes_a_contact_sheet_and_rounded_times(tmp_path: Path, capsys) -> None:
    out = tmp_path / "t.json"
    assert main(["track", "--video", str(CUP), "--frame", "26", "--box", "228 90 312 285", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "visible 0.00-4.00 s" in printed and "t.png" in printed
    assert json.loads(out.read_text())["prompt"]["box"] == [228.0, 90.0, 312.0, 285.0]
    sheet = Image.open(tmp_path / "t.png")
    assert sheet.width >= 4 * 320 and sheet.height >= 2 * 200


def test_contact_sheet_marks_lost_frames() -> None:
    with open_video(CUP) as r:
        boxes = [[228.0, 90.0, 312.0, 285.0] if i < 50 else None for i in range(r.num_frames)]
        sheet = contact_sheet(r, Masklet("cup", list(range(r.num_frames)), boxes), n=4, ncols=4)
    assert sheet.ndim == 3 and sheet.shape[1] == 4 * (320 + 4)
    red = (sheet[..., 0] > 200) & (sheet[..., 1] < 60) & (sheet[..., 2] < 60)
    halves = [red[:, : 2 * 324].sum(), red[:, 2 * 324:].sum()]
    assert halves[0] > 0 and halves[1] == 0  # boxes drawn where the track has them, none after it is lost
