"""The toy world: exact masks, ground truth that matches the pixels, a loadable dataset, frozen bytes per seed."""

import hashlib
import re
import time

import cv2
import numpy as np
import pytest

from seekerlite.schema import OPTION_LETTERS, decode_mask, load_jsonl, resolve_path
from seekerlite.toyworld import (
    FAMILIES,
    SHAPES,
    TASKS,
    TOOL_TASKS,
    QuestionItem,
    ToyWorldConfig,
    choose_prompt_frame,
    family,
    generate_clip,
    generate_dataset,
    make_questions,
    render_prompt,
    world_config,
)

SEEDS = range(12)


@pytest.fixture(scope="module")
def clips():
    return {s: generate_clip(seed=s) for s in SEEDS}


@pytest.fixture(scope="module")
def questions(clips):
    return {s: make_questions(c, c.target_id, np.random.default_rng(s)) for s, c in clips.items()}


def first(qs, task, form="oe"):
    return next((q for q in qs if q.task == task and q.extra["form"] == form), None)


def rgb(clip, name):
    return np.array(clip.config.colors[name], np.uint8)


def test_same_seed_same_clip(clips):
    a, b = clips[3], generate_clip(seed=3)
    assert (a.frames == b.frames).all() and a.events == b.events
    assert all((a.masks[k] == b.masks[k]).all() for k in a.masks)
    assert not (clips[3].frames == clips[4].frames).all()


def test_generation_is_fast():
    best = min(_timed(generate_clip, ToyWorldConfig(duration=5.0)) for _ in range(2))
    assert best < 1.5, f"5 s clip took {best:.2f} s"


def _timed(fn, *a):
    t = time.perf_counter()
    fn(*a)
    return time.perf_counter() - t


def test_masks_match_pixels_exactly(clips):
    for clip in clips.values():
        T, H, W, _ = clip.frames.shape
        union = np.zeros((T, H, W), np.int32)
        for ob in clip.objects:
            m = clip.masks[ob.id]
            union += m
            for f in range(T):
                if m[f].any():
                    assert (clip.frames[f][m[f]] == rgb(clip, ob.colors[f])).all(), (clip.seed, ob.id, f)
        assert union.max() <= 1, "visible masks overlap"
        assert (clip.frames[union == 0] == np.array(clip.config.background, np.uint8)).all()


def test_a_lookalike_shares_shape_and_colour(clips):
    for clip in clips.values():
        tgt = clip.obj(clip.target_id)
        twins = [o for o in clip.objects if o.id != tgt.id and o.look(0) == tgt.look(0)]
        assert len(twins) == 1 and twins[0].role == "lookalike"
        looks = [o.look(0) for o in clip.objects if o.role == "other"]
        assert len(set(looks)) == len(looks) and tgt.look(0) not in looks
        f = choose_prompt_frame(clip, tgt.id)  # on the marked frame both show the same colour
        assert set(map(tuple, clip.frames[f][clip.masks[tgt.id][f]])) == {tuple(rgb(clip, tgt.colors[0]))}


def test_colour_change_answer_matches_pixels(clips, questions):
    seen = 0
    for s, clip in clips.items():
        ev = clip.events_of(clip.target_id, "color_change")
        if not ev:
            continue
        seen += 1
        q = first(questions[s], "attribute")
        mcq = first(questions[s], "attribute", "mc")
        assert q.answer == ev[0].value == mcq.answer_text and "turn into" in q.question
        m, old = clip.masks[clip.target_id], clip.obj(clip.target_id).colors[0]
        for f in range(clip.num_frames):
            if m[f].any():
                want = q.answer if f >= ev[0].frame else old
                assert (clip.frames[f][m[f]] == rgb(clip, want)).all()
        tq, tmc = first(questions[s], "temporal"), first(questions[s], "temporal", "mc")
        t = float(re.search(r"([\d.]+) s", tq.answer).group(1))
        assert t == pytest.approx(ev[0].frame / clip.fps)
        lo, hi = map(float, re.findall(r"([\d.]+) s", tmc.answer_text))
        assert lo <= t < hi
    assert seen >= 3


def test_exit_answer_matches_pixels(clips, questions):
    seen = 0
    for s, clip in clips.items():
        ev = clip.events_of(clip.target_id, "exit")
        q = first(questions[s], "exit")
        m = clip.masks[clip.target_id]
        if not ev:
            assert q.answer == "no, it stays in the frame"
            continue
        seen += 1
        edge = ev[0].value
        assert q.answer == f"yes, through the {edge} edge"
        assert first(questions[s], "exit", "mc").answer_text == f"through the {edge} edge"
        assert not m[ev[0].frame:].any(), "the object came back"
        last = m[ev[0].frame - 1]
        strip = {"left": last[:, :2], "right": last[:, -2:], "top": last[:2], "bottom": last[-2:]}[edge]
        assert strip.any(), f"last visible frame does not touch the {edge} edge"
        assert first(questions[s], "direction") is None
    assert seen >= 2


def test_bounces_touch_walls_and_count(clips, questions):
    for s, clip in clips.items():
        bounces = clip.events_of(clip.target_id, "bounce")
        assert first(questions[s], "counting").answer == str(len(bounces))
        full_union = sum(clip.masks[o.id].astype(int) for o in clip.objects)  # where the target may hide
        for b in bounces:
            m = clip.masks[clip.target_id][b.frame]
            for wall in b.value.split("+"):
                strip = {"left": np.s_[:, :3], "right": np.s_[:, -3:], "top": np.s_[:3], "bottom": np.s_[-3:]}[wall]
                assert m[strip].any() or full_union[b.frame][strip].any(), (s, b)


def test_direction_answer_matches_motion(clips, questions):
    seen = 0
    for s, clip in clips.items():
        q = first(questions[s], "direction")
        if q is None:
            continue
        m = clip.masks[clip.target_id]
        a, b = m[-4], m[-1]
        if a.sum() != b.sum():  # partly occluded: centroid is unreliable
            continue
        seen += 1
        (ya, xa), (yb, xb) = (np.argwhere(a).mean(0)), (np.argwhere(b).mean(0))
        dx, dy = xb - xa, yb - ya
        want = ("right" if dx > 0 else "left") if abs(dx) > abs(dy) else ("down" if dy > 0 else "up")
        assert q.answer == want and first(questions[s], "direction", "mc").answer_text == want
    assert seen >= 2


def test_interaction_answer_is_a_real_contact(clips, questions):
    for s, clip in clips.items():
        q = first(questions[s], "interaction")
        if q is None:
            continue
        hits = clip.events_of(clip.target_id, "collision")
        if not hits:
            assert q.answer == "it touches no other object"
            continue
        other = clip.obj(hits[0].value)
        assert q.answer.endswith(other.look(0))
        f = hits[0].frame
        near = cv2.dilate(clip.masks[clip.target_id][f].astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert (near & clip.masks[other.id][f]).any(), "the two objects' pixels are not adjacent at contact"
        assert all(h.frame > f for h in clip.events_of(clip.target_id, "collision") if h.value != other.id)


def test_questions_are_well_formed(clips, questions):
    looks = {f"{c} {sh}" for c in ToyWorldConfig().colors for sh in SHAPES}
    for s, qs in questions.items():
        tasks = {q.task for q in qs}
        assert {"attribute", "exit", "counting"} <= tasks
        for q in qs:
            assert "the marked object" in q.question
            assert not any(lk in q.question for lk in looks), q.question
            if q.is_mc:
                assert len(q.options) == 4 and len(set(q.options)) == 4
                assert q.answer in OPTION_LETTERS[:4]
            assert q.masklet.instance_id == clips[s].target_id and len(q.masklet.rles) == clips[s].num_frames
            assert q.span[0] <= q.span[1] <= clips[s].duration
    letters = [q.answer for qs in questions.values() for q in qs if q.is_mc]
    assert len(set(letters)) == 4, "MC answers should not all sit at one letter"


def test_render_prompt_marks_the_target(clips):
    clip = clips[0]
    img, vp, phrase = render_prompt(clip, clip.target_id, "rectangle")
    assert vp.frame_index == choose_prompt_frame(clip, clip.target_id) and phrase == "the object in the white box"
    changed = (img != clip.frames[vp.frame_index]).any(-1)
    ys, xs = np.nonzero(changed)
    x0, y0, x1, y1 = vp.box
    assert xs.min() >= x0 - 10 and xs.max() <= x1 + 10 and ys.min() >= y0 - 10 and ys.max() <= y1 + 10


def test_dataset_round_trip(tmp_path):
    path = generate_dataset(tmp_path / "toy", n_clips=2, seed=1)
    samples = load_jsonl(path)
    assert len(samples) >= 2 * 2 * 4 and len({s.id for s in samples}) == len(samples)
    base = path.parent
    decoded, regenerated = {}, {}
    for s in samples:
        video = resolve_path(s.video_path, base)
        if video not in decoded:
            cap = cv2.VideoCapture(video)
            frames = []
            while (ok := cap.read())[0]:
                frames.append(cv2.cvtColor(ok[1], cv2.COLOR_BGR2RGB))
            decoded[video] = np.array(frames)
        seed = s.provenance["seed"]
        if seed not in regenerated:
            regenerated[seed] = generate_clip(ToyWorldConfig(), seed)
        clip = regenerated[seed]
        assert len(decoded[video]) == clip.num_frames
        assert np.abs(decoded[video].astype(int) - clip.frames).mean() < 6  # lossy codec, same content
        for f in (0, clip.num_frames // 2, clip.num_frames - 1):
            rle = s.masklet.rles[f]
            want = clip.masks[s.masklet.instance_id][f]
            got = decode_mask(rle) if rle is not None else np.zeros_like(want)
            assert (got == want).all()
        vp = s.visual_prompt
        png = cv2.imread(resolve_path(vp.image_path, base))
        assert png is not None and png.shape == clip.frames.shape[1:]
        assert vp.box == s.masklet.boxes[vp.frame_index] and vp.timestamp == pytest.approx(vp.frame_index / clip.fps)
        assert s.question.startswith("The marked object is the object")


def test_config_is_checked():
    with pytest.raises(ValueError, match="n_objects"):
        generate_clip(ToyWorldConfig(n_objects=1))
    with pytest.raises(ValueError, match="colours"):
        generate_clip(ToyWorldConfig(colors={"red": (255, 0, 0), "blue": (0, 0, 255)}))
    with pytest.raises(ValueError, match="target_speed_range"):
        generate_clip(ToyWorldConfig(target_speed_range=(30.0, 10.0)))


def test_a_tool_world_slows_only_its_target():
    """world_config: a world asking a tool family draws the same clip but maps the target's speed into
    TOOL_TARGET_SPEED; the other objects move exactly as in the default world, and a default world is unchanged."""
    from seekerlite.toyworld.dataset import TOOL_TARGET_SPEED

    assert world_config(3) == ToyWorldConfig(seed=3) and world_config(3, TASKS).target_speed_range is None
    lo, hi = TOOL_TARGET_SPEED
    for seed in range(6):
        fast, slow = generate_clip(seed=seed), generate_clip(world_config(0, ("recolor",)), seed=seed)
        assert [o.look(0) for o in fast.objects] == [o.look(0) for o in slow.objects]
        for a, b in zip(fast.objects, slow.objects):
            np.testing.assert_array_equal(a.centers[0], b.centers[0])  # the same start
            speed = np.hypot(*b.velocities[1])
            if b.role == "target":
                exits = bool(slow.events_of(b.id, "exit"))
                assert lo - 1e-6 <= speed <= hi + 1e-6 or exits  # an exit may speed it up to leave in time
            else:
                assert speed == pytest.approx(np.hypot(*a.velocities[1]))


def test_registry_holds_the_six_families_in_order():
    assert TASKS == tuple(FAMILIES)[:6] == ("attribute", "temporal", "direction", "exit", "counting", "interaction")
    assert TOOL_TASKS == tuple(FAMILIES)[6:] and not any(FAMILIES[t].default for t in TOOL_TASKS)  # asked when named
    assert all(f.task == k and f.build.__doc__ for k, f in FAMILIES.items())
    assert {k: f.dimension for k, f in FAMILIES.items() if f.dimension and f.default} == {
        "attribute": "OA", "direction": "OD", "counting": "GC"}


def test_families_can_be_chosen_and_added(clips):
    clip = clips[0]
    some = make_questions(clip, clip.target_id, np.random.default_rng(0), families=["exit", "attribute"])
    assert [q.task for q in some] == ["attribute"] * 2 + ["exit"] * 2  # registry order, MC then OE
    with pytest.raises(ValueError, match="unknown question families"):
        make_questions(clip, clip.target_id, np.random.default_rng(0), families=["lasso"])

    @family("shape", dimension="OA")
    def _shape(s, rng):
        """What shape the object is."""
        return QuestionItem("What shape is the marked object?", s.obj.shape,
                            [x for x in SHAPES if x != s.obj.shape] + ["a star"], s.obj.shape, [0.0, s.end])

    try:
        qs = make_questions(clip, clip.target_id, np.random.default_rng(0), oe=False)
        shape = first(qs, "shape", "mc")
        assert shape.answer_text == clip.obj(clip.target_id).shape and shape.dimension == "OA"
        assert len(shape.options) == 4 and shape.id.endswith("-shape-mc")
    finally:
        del FAMILIES["shape"]


# sha256 of every file of generate_dataset(n_clips=3, seed=0 / 5), taken from the code before the toy world became
# a package (seekerlite/synth.py at 318ae0f). The rng draws must stay in the same order: change these on purpose.
# PNG and mp4 bytes also depend on the OpenCV build (libpng, its mp4v encoder), pinned with the environment.
FROZEN_DATA = {
    (0, "prompts/clip_0000_attribute_mask_overlay.png"): "776e50ed8d7134e71b0cabc6036c31fa3f152d071cae5eb432f130d16df56882",
    (0, "prompts/clip_0000_counting_point.png"): "53dba50af4a4bf504b0df6f6c76aeebc74b8a3bbdfa408123e60cbd80756ff38",
    (0, "prompts/clip_0000_direction_rectangle.png"): "ef6b7b718d1af6afed3d7b0d79903bceeca776bb125358430d709a9441b6b204",
    (0, "prompts/clip_0000_exit_rectangle.png"): "ef6b7b718d1af6afed3d7b0d79903bceeca776bb125358430d709a9441b6b204",
    (0, "prompts/clip_0000_interaction_arrow.png"): "68966bafed48ae2a16d7effd8fbb5346a4345df2c697dc5ce2d0b7d80e07d5ae",
    (0, "prompts/clip_0000_temporal_rectangle.png"): "ef6b7b718d1af6afed3d7b0d79903bceeca776bb125358430d709a9441b6b204",
    (0, "prompts/clip_0001_attribute_rectangle.png"): "f9e134a8c594184a9ddc8bb8d5444adaaf7d3b5404f18dc6ab3b5cb64af3523b",
    (0, "prompts/clip_0001_counting_scribble.png"): "cb521e8ccbefa93514c1dec36a7e464f363f976dfc5b6dea98710a84e795feb3",
    (0, "prompts/clip_0001_direction_mask_contour.png"): "c2ed75bb3ea58b31f8ed2b05162029372f17fed828c7234eeed533e34b39c1e7",
    (0, "prompts/clip_0001_exit_arrow.png"): "055af39c69390ace76e8b1e55945793ef20da6f54a11bba266a223ce52900466",
    (0, "prompts/clip_0001_interaction_mask_contour.png"): "c2ed75bb3ea58b31f8ed2b05162029372f17fed828c7234eeed533e34b39c1e7",
    (0, "prompts/clip_0001_temporal_point.png"): "c240a7a0a8d79458bfeaea7b7bf8c7583861d5a02b7c0939172688ea534f7b84",
    (0, "prompts/clip_0002_attribute_scribble.png"): "194c38b16837a428b1e73fc384dc264af09fb9f6b593852ca921113c5a751335",
    (0, "prompts/clip_0002_counting_mask_contour.png"): "3cc68ae919b125fb2d3315230618eabd8cdb45d04a15cd6e4156b7247bbeec16",
    (0, "prompts/clip_0002_exit_triangle.png"): "fad4a730af423d2e8e67f3d5879bbaee7f4920adc85210bb15045a2c5141ffc3",
    (0, "prompts/clip_0002_interaction_scribble.png"): "2f44eb9caeac962f0bc343f3c5ae29de971a3a46bdec6f674b44024f213c809f",
    (0, "prompts/clip_0002_temporal_triangle.png"): "fad4a730af423d2e8e67f3d5879bbaee7f4920adc85210bb15045a2c5141ffc3",
    (0, "samples.jsonl"): "38019a091a247768373ca267b0219c0fa47c65115f007115bb10085b9cdff0c0",
    (5, "prompts/clip_0000_attribute_set_of_mark.png"): "1ddc7539d4a842b5ddb434e59b0215e8bd59bad4cef621a25be4b34f7c457779",
    (5, "prompts/clip_0000_counting_arrow.png"): "2f2abe855d3191ca38352a7f721e936ca65ad81450896ff36ebc38084847f82c",
    (5, "prompts/clip_0000_exit_mask_overlay.png"): "c1a06edcd549901498cf66f610e0c28ffa5209fcf49d5f7c2f517b665e8d9b95",
    (5, "prompts/clip_0000_interaction_point.png"): "82ed4b5aec0474793588c1f286a0715d08e3e20b9d003daad45bf5a2c859ec24",
    (5, "prompts/clip_0000_temporal_set_of_mark.png"): "1ddc7539d4a842b5ddb434e59b0215e8bd59bad4cef621a25be4b34f7c457779",
    (5, "prompts/clip_0001_attribute_set_of_mark.png"): "4b089b976cd01a3f637dc6514163309e7b343c120586f3532e7d1419002d4a26",
    (5, "prompts/clip_0001_counting_ellipse.png"): "4294ff2e7d13b4ae2fe0f7d9cbd679ce6ec4a45e0447cb62ea1652d98be0b58b",
    (5, "prompts/clip_0001_direction_rectangle.png"): "5c6bdddcb02f5e6c114fedeee24a0b6a877a1dfd502bbd14b9662b7f675c8274",
    (5, "prompts/clip_0001_exit_mask_contour.png"): "8d4a860e1eab15fc36b36b1f5146bce959a723ddc93e5ada90da1460258b38ec",
    (5, "prompts/clip_0001_interaction_rectangle.png"): "5c6bdddcb02f5e6c114fedeee24a0b6a877a1dfd502bbd14b9662b7f675c8274",
    (5, "prompts/clip_0001_temporal_mask_contour.png"): "8d4a860e1eab15fc36b36b1f5146bce959a723ddc93e5ada90da1460258b38ec",
    (5, "prompts/clip_0002_attribute_scribble.png"): "d8bf8a75197af01914d398c4c30e79d4b6f3035207d7fb9467fc30c167d9a753",
    (5, "prompts/clip_0002_counting_scribble.png"): "3998b067839b9af5706dd83cf1f01d9ad6a116f06b7fc4692472e12cab2133f8",
    (5, "prompts/clip_0002_direction_mask_contour.png"): "7919b700e6d2503b3b6cdcb5b7346d3f0218c5326db27ef5f4ffbb355ffec5ed",
    (5, "prompts/clip_0002_exit_triangle.png"): "e70e327465e1138dcac4a0293f20bc0b5c42ed256b8d787055161ad66e789c44",
    (5, "prompts/clip_0002_interaction_mask_contour.png"): "7919b700e6d2503b3b6cdcb5b7346d3f0218c5326db27ef5f4ffbb355ffec5ed",
    (5, "prompts/clip_0002_temporal_mask_contour.png"): "7919b700e6d2503b3b6cdcb5b7346d3f0218c5326db27ef5f4ffbb355ffec5ed",
    (5, "samples.jsonl"): "83fa962d43350618b15e5ec9bdb27e79ccb8459930219be280806068d4f9b641",
}
FROZEN_VIDEOS = {
    (0, "videos/clip_0000.mp4"): "a639c692d8377de946896607540acf01bf6bbc1e9f53cb6f692c3e85a6826e44",
    (0, "videos/clip_0001.mp4"): "f202091ea6ebb69bbb75b644e1c32357665f39d4e7bc02108daa1c6ed4cd391a",
    (0, "videos/clip_0002.mp4"): "ef787279f73ac329a5eda0328ad9b3cbcfbc6fad4ca193e10efcea59883adba0",
    (5, "videos/clip_0000.mp4"): "764fcba3303d62c6498aa399ea39486ffa8e65789017e4a15b61fa24a215352c",
    (5, "videos/clip_0001.mp4"): "d51109229531b6fe3292e01775bae2498d9091a25ba22798a304a212031536eb",
    (5, "videos/clip_0002.mp4"): "3ae16f57ded64877f4818cd3d0312745db9978d9799c1a051fdbda7280a368f9",
}


@pytest.fixture(scope="module")
def frozen_runs(tmp_path_factory):
    """{(seed, relative path): sha256} of the files of two small datasets."""
    out = {}
    for seed in (0, 5):
        base = tmp_path_factory.mktemp(f"frozen{seed}")
        generate_dataset(base, n_clips=3, seed=seed)
        for p in sorted(base.rglob("*")):
            if p.is_file():
                out[(seed, p.relative_to(base).as_posix())] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_dataset_bytes_are_frozen(frozen_runs):
    got = {k: v for k, v in frozen_runs.items() if not k[1].endswith(".mp4")}
    assert got.keys() == FROZEN_DATA.keys(), "other files: prompt types or tasks changed"
    changed = sorted(k for k in got if got[k] != FROZEN_DATA[k])
    assert not changed, f"these files changed: {changed}"


def test_video_bytes_are_frozen(frozen_runs):
    got = {k: v for k, v in frozen_runs.items() if k[1].endswith(".mp4")}
    assert got == FROZEN_VIDEOS, "the clips' pixels changed (or the OpenCV mp4v encoder did)"
