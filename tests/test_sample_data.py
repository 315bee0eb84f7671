"""The real sample data in sample_data/: files present as documented, videos as described, annotations sane.

Reads videos with OpenCV only (no dependency on seekerlite.video).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from pathlib import Path

import cv2
import pytest

from seekerlite.schema import OPTION_LETTERS, Masklet, Sample, load_jsonl

ROOT = Path(__file__).resolve().parent.parent
SD = ROOT / "sample_data"
ANN = SD / "annotations"
W, H = 768, 576  # vtest frame size

# file -> (frames, fps, width, height), as documented in sample_data/README.md
VIDEOS = {
    "videos/vtest.mp4": (150, 10.0, 768, 576),
    "videos/megamind.mp4": (96, 23.976, 480, 352),
    "videos/tree.mp4": (60, 15.0, 320, 240),
    "videos/box.mp4": (120, 29.966, 480, 360),
    "videos/cup.mp4": (107, 26.777, 480, 360),
}
BUGY_SHA256 = "b82dd32d5444031d1a46a133e7554be7b80c54d12e3503a1b1332a540218e22c"


def _readme() -> str:
    return (SD / "README.md").read_text(encoding="utf-8")


def _listed_files() -> list[str]:
    return sorted(set(re.findall(r"`((?:videos|annotations)/[^`\s]+)`", _readme())))


def test_readme_lists_files_that_exist():
    listed = _listed_files()
    assert set(VIDEOS) | {"videos/Megamind_bugy.avi", "annotations/vtest_masklets.jsonl",
                          "annotations/vtest_samples.jsonl", "annotations/vtest_keyframes_check.png"} <= set(listed)
    missing = [f for f in listed if not (SD / f).is_file()]
    assert not missing, f"listed in sample_data/README.md but absent: {missing}"


def test_readme_states_provenance_and_license():
    text = _readme()
    assert "opencv-doc" in text and "4.6.0+dfsg-12" in text
    assert "Apache-2.0 AND BSD-3-Clause" in text
    assert "scripts/make_sample_data.py" in text
    for f, (n, fps, w, h) in VIDEOS.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{f}`"))
        assert f"{n} frames, {w}x{h}" in row and f"{fps:g} fps" in row, row


def test_sample_data_is_small():
    total = sum(p.stat().st_size for p in SD.rglob("*") if p.is_file())
    assert total < 8.5e6, f"sample_data is {total / 1e6:.1f} MB"


@pytest.mark.parametrize("name", sorted(VIDEOS))
def test_video_matches_documentation(name):
    frames, fps, w, h = VIDEOS[name]
    cap = cv2.VideoCapture(str(SD / name))
    assert cap.isOpened(), name
    try:
        assert abs(cap.get(cv2.CAP_PROP_FPS) - fps) < 0.01
        assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (w, h)
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == frames
        if name == "videos/vtest.mp4":  # decode it all once: the annotations depend on these 150 frames
            n = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                assert frame.shape == (h, w, 3)
                n += 1
            assert n == frames
        else:  # the last frame decodes
            cap.set(cv2.CAP_PROP_POS_FRAMES, frames - 1)
            ok, frame = cap.read()
            assert ok and frame.shape == (h, w, 3)
    finally:
        cap.release()


def test_bad_input_fixture_is_present():
    p = SD / "videos" / "Megamind_bugy.avi"
    assert p.is_file() and p.stat().st_size == 860920
    assert hashlib.sha256(p.read_bytes()).hexdigest() == BUGY_SHA256


def _longest_run(frames: list[int]) -> int:
    best = run = 1
    for a, b in itertools.pairwise(frames):
        run = run + 1 if b == a + 1 else 1
        best = max(best, run)
    return best


def test_masklets_load_and_are_sane():
    masklets = load_jsonl(ANN / "vtest_masklets.jsonl", Masklet)
    assert len(masklets) >= 3
    assert len({m.instance_id for m in masklets}) == len(masklets)
    for m in masklets:
        assert m.label == "pedestrian" and m.source == "manual"
        assert m.frame_indices == sorted(set(m.frame_indices))
        assert 0 <= m.frame_indices[0] and m.frame_indices[-1] < 150
        assert _longest_run(m.visible_frames()) >= 61, m.instance_id
        for f, b in zip(m.frame_indices, m.boxes):
            assert b is not None, (m.instance_id, f)
            x0, y0, x1, y1 = b
            assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H, (m.instance_id, f, b)
            # a standing/walking person seen from this camera: taller than wide, plausible size
            assert 10 <= x1 - x0 <= 80 and 50 <= y1 - y0 <= 130 and y1 - y0 > x1 - x0, (m.instance_id, f, b)
        # boxes move smoothly: consecutive centres differ by less than 20 px
        for b0, b1 in itertools.pairwise(m.boxes):
            assert abs((b0[0] + b0[2]) - (b1[0] + b1[2])) / 2 < 20 and abs((b0[1] + b0[3]) - (b1[1] + b1[3])) / 2 < 20


def test_samples_load_and_point_at_real_annotations():
    samples = load_jsonl(ANN / "vtest_samples.jsonl", Sample)
    masklets = {m.instance_id: m for m in load_jsonl(ANN / "vtest_masklets.jsonl", Masklet)}
    assert 4 <= len(samples) <= 6
    assert len({s.id for s in samples}) == len(samples)
    assert any(s.is_mc for s in samples) and any(not s.is_mc for s in samples)
    for s in samples:
        assert (ANN / s.video_path).resolve() == (SD / "videos" / "vtest.mp4").resolve()
        assert s.task in {"direction", "attribute", "interaction", "temporal"}
        assert s.provenance == {"source": "hand-annotated", "video": "opencv-doc vtest.avi"}
        if s.is_mc:
            assert len(s.options) == 4 and s.answer in OPTION_LETTERS[:4]
        vp, m = s.visual_prompt, s.masklet
        assert vp is not None and m is not None and vp.prompt_type == "rectangle"
        assert m == masklets[m.instance_id]  # the embedded masklet is the annotated one
        assert vp.box == m.box_at(vp.frame_index) and vp.box is not None
        assert vp.timestamp == pytest.approx(vp.frame_index / 10)
        assert s.span is not None and 0 <= s.span[0] < s.span[1] <= 15.0
