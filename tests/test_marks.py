"""Visual marks: every mark lands near its instance, is deterministic, never edits the input, and keeps its pixels."""

import hashlib
import math

import cv2
import numpy as np
import pytest

from seekerlite.marks import (
    MARKS,
    PROMPT_PHRASES,
    changed_pixels,
    describe_prompt,
    line_width,
    render_visual_prompt,
)
from seekerlite.schema import PROMPT_TYPES

H, W = 240, 320
BOX = [140.0, 100.0, 172.0, 130.0]  # a 32 x 30 instance in the middle


@pytest.fixture(scope="module")
def scene():
    """A textured (H, W, 3) image and a round instance mask whose tight box is BOX."""
    rng = np.random.default_rng(0)
    img = rng.integers(30, 200, (H, W, 3), dtype=np.uint8)
    mask = np.zeros((H, W), np.uint8)
    cv2.ellipse(mask, (155, 114), (15, 14), 0, 0, 360, 1, -1)
    mask = mask.astype(bool)
    ys, xs = np.nonzero(mask)
    assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == [140, 100, 171, 129]
    return img, mask


def grown(box, margin, shape=(H, W)):
    """Boolean map of a box grown by `margin` pixels on every side."""
    out = np.zeros(shape, bool)
    x0, y0, x1, y1 = box
    ys = slice(max(0, int(y0 - margin)), math.ceil(y1 + margin))
    xs = slice(max(0, int(x0 - margin)), math.ceil(x1 + margin))
    out[ys, xs] = True
    return out


@pytest.mark.parametrize("ptype", PROMPT_TYPES)
@pytest.mark.parametrize("use_mask", [True, False])
def test_mark_stays_near_instance(scene, ptype, use_mask):
    img, mask = scene
    before = img.copy()
    out = render_visual_prompt(img, ptype, box=BOX, mask=mask if use_mask else None, seed=1)
    assert (img == before).all(), "input was modified"
    assert out.shape == img.shape and out.dtype == np.uint8 and out is not img
    changed = changed_pixels(img, out)
    frac = 0.25 if ptype in ("arrow", "set_of_mark") else 0.10
    outside = changed & ~grown(BOX, frac * math.hypot(H, W))
    assert not outside.any(), f"{ptype}: {outside.sum()} changed pixels far from the instance"
    assert 20 <= changed.sum() <= 0.1 * H * W, f"{ptype}: {changed.sum()} pixels changed"


def test_mask_types_follow_the_mask(scene):
    img, mask = scene
    t = line_width(img.shape)
    assert not (changed_pixels(img, render_visual_prompt(img, "mask_overlay", mask=mask)) ^ mask).any()
    assert not (changed_pixels(img, render_visual_prompt(img, "scribble", mask=mask, seed=5)) & ~mask).any()
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((2 * t + 3,) * 2, np.uint8)).astype(bool) & \
        ~cv2.erode(mask.astype(np.uint8), np.ones((2 * t + 3,) * 2, np.uint8)).astype(bool)
    contour = changed_pixels(img, render_visual_prompt(img, "mask_contour", mask=mask))
    assert contour.sum() > 50 and not (contour & ~ring).any()
    dot = changed_pixels(img, render_visual_prompt(img, "point", mask=mask))
    ys, xs = np.nonzero(dot)
    assert mask[int(ys.mean()), int(xs.mean())]


def test_frame_marks_do_not_cover_the_instance(scene):
    img, mask = scene
    inner = np.zeros((H, W), bool)
    inner[int(BOX[1]) + 1: int(BOX[3]) - 1, int(BOX[0]) + 1: int(BOX[2]) - 1] = True
    for ptype in ("rectangle", "ellipse", "triangle", "arrow"):
        for seed in range(4):
            changed = changed_pixels(img, render_visual_prompt(img, ptype, box=BOX, mask=mask, seed=seed))
            assert not (changed & inner).any(), ptype


def test_arrow_stays_in_frame_in_a_corner(scene):
    img, _ = scene
    for seed in range(8):
        for box in ([0, 0, 25, 25], [W - 25, H - 25, W, H], [0, 0, W, 40]):
            changed = changed_pixels(img, render_visual_prompt(img, "arrow", box=box, seed=seed))
            assert changed.sum() > 30, (box, seed)


@pytest.mark.parametrize("ptype", PROMPT_TYPES)
def test_deterministic_per_seed(scene, ptype):
    img, mask = scene
    a = render_visual_prompt(img, ptype, box=BOX, mask=mask, seed=7)
    b = render_visual_prompt(img, ptype, box=BOX, mask=mask, seed=7)
    assert (a == b).all()


@pytest.mark.parametrize("ptype", ["arrow", "scribble"])
def test_seeds_vary(scene, ptype):
    img, mask = scene
    outs = [render_visual_prompt(img, ptype, box=BOX, mask=mask, seed=s) for s in range(4)]
    assert sum(not (outs[0] == o).all() for o in outs[1:]) >= 2


def test_set_of_mark_tags_others(scene):
    img, mask = scene
    others = [[20, 20, 60, 60], [250, 170, 300, 220]]
    changed = changed_pixels(img, render_visual_prompt(img, "set_of_mark", mask=mask, others=others, label="2"))
    for ob in others:
        assert (changed & grown(ob, 0)).sum() > 30
    assert not (changed & ~(grown(BOX, 20) | grown(others[0], 20) | grown(others[1], 20))).any()


def test_color_and_width_scale():
    img = np.zeros((480, 640, 3), np.uint8)
    out = render_visual_prompt(img, "rectangle", box=[200, 150, 300, 250], color=(0, 255, 0))
    assert out[..., 0].max() == 0 and out[..., 2].max() == 0 and out[..., 1].max() == 255
    red = render_visual_prompt(np.zeros((60, 80, 3), np.uint8), "point", box=[30, 20, 50, 40])
    assert tuple(red[30, 40]) == (255, 0, 0)
    thin = changed_pixels(img[:240, :320], render_visual_prompt(img[:240, :320], "rectangle", box=[100, 75, 150, 125]))
    thick = changed_pixels(img, render_visual_prompt(img, "rectangle", box=[200, 150, 300, 250]))
    assert line_width(img.shape) > line_width((240, 320)) and thick.sum() > 2.5 * thin.sum()


def test_bad_input_raises(scene):
    img, mask = scene
    with pytest.raises(ValueError, match="unknown prompt type"):
        render_visual_prompt(img, "lasso", box=BOX)
    with pytest.raises(ValueError, match="outside"):
        render_visual_prompt(img, "rectangle", box=[400, 300, 450, 350])
    with pytest.raises(ValueError, match="empty"):
        render_visual_prompt(img, "rectangle", box=[50, 50, 40, 60])
    with pytest.raises(ValueError, match="mask shape"):
        render_visual_prompt(img, "mask_contour", mask=mask[:100])
    with pytest.raises(ValueError, match="box or a mask"):
        render_visual_prompt(img, "point")
    with pytest.raises(ValueError, match="empty"):
        render_visual_prompt(img, "point", mask=np.zeros((H, W), bool))
    with pytest.raises(ValueError, match="uint8"):
        render_visual_prompt(img.astype(np.float32), "point", box=BOX)
    with pytest.raises(ValueError, match="others"):
        render_visual_prompt(img, "set_of_mark", box=BOX, others=[[-50, -50, -10, -10]])


def test_phrases():
    assert set(PROMPT_PHRASES) == set(PROMPT_TYPES)
    assert PROMPT_PHRASES["rectangle"] == "the object in the red box"
    assert describe_prompt("arrow", color_name="white") == "the object the white arrow points to"
    assert describe_prompt("set_of_mark", label="3") == "the object labelled 3"
    with pytest.raises(ValueError):
        describe_prompt("lasso")


# sha256 of every rendering in `_snapshot_digest`, per type, taken from the code before marks became a registry
# (seekerlite/prompts.py at 318ae0f). A change here changes every visual prompt of every dataset: do it on purpose.
FROZEN = {
    "rectangle": "94a7564dbcec398f451be74b7c39a2d8560619536ede707a66557c7c3bfa96ab",
    "ellipse": "4b2b343569c5efe1b8bc1e20c3a66e35dff23bf75ac491af57c2d527afe4e08a",
    "triangle": "2a7c1fb2fd02549083f951454a67caa105759c16c5595d30834590619ce403fa",
    "arrow": "cd82a780abb0bf6529749da17fb582646e298792f4af649a3a0957ea8d93b362",
    "point": "f52ebef36de8442faffbde12dd90ebfedf941684d08d16b78f20a3bde37ae78b",
    "scribble": "40a77e9d56d1155ab387fcfb718443303928381639e097725e3b1d5ec32b895f",
    "mask_contour": "30b4390947bedd0c1b5fb3b94eb696ffeac67bc6e56b346764f618824246cf9d",
    "mask_overlay": "440d797a07373e063db36b9ac43f40232cd67c129f80e63d47dc26c92e5303b6",
    "set_of_mark": "6815a15c9d85afa05d744e933fcaf82f345ba488d193edace18e8346e0a94e6b",
}


def _snapshot_digest(ptype):
    """sha256 over 9 renderings of one type: box / mask / off-centre ring mask, seeds, colours, a corner box,
    a box filling the frame."""
    rng = np.random.default_rng(0)
    img = rng.integers(30, 200, (H, W, 3), dtype=np.uint8)
    mask = np.zeros((H, W), np.uint8)
    cv2.ellipse(mask, (155, 114), (15, 14), 0, 0, 360, 1, -1)
    ring = np.zeros((H, W), np.uint8)
    cv2.circle(ring, (60, 60), 20, 1, 6)  # its centroid is off the mask: the interior-point fallback
    others = [[20, 20, 60, 60], [250, 170, 300, 220]]
    h = hashlib.sha256()
    for seed in (0, 1, 7):
        h.update(render_visual_prompt(img, ptype, box=[140, 100, 172, 130], seed=seed).tobytes())
        h.update(render_visual_prompt(img, ptype, mask=mask.astype(bool), seed=seed, color=(255, 255, 255),
                                      label="2", others=others).tobytes())
    h.update(render_visual_prompt(img, ptype, mask=ring.astype(bool), seed=3, color=(0, 200, 0)).tobytes())
    h.update(render_visual_prompt(img, ptype, box=[-5, -5, 25, 25], seed=2).tobytes())
    h.update(render_visual_prompt(img[:120, :160], ptype, box=[0, 0, 160, 120], seed=4).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("ptype", PROMPT_TYPES)
def test_pixels_are_frozen(ptype):
    assert _snapshot_digest(ptype) == FROZEN[ptype], f"{ptype} renders different pixels than before"


def test_registry_matches_schema():
    assert tuple(MARKS) == PROMPT_TYPES == tuple(FROZEN)
    assert all(m.name == k and m.draw.__doc__ for k, m in MARKS.items())
