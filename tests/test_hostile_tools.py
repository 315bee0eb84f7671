"""Tools never raise, the episode loop never raises, rewards never raise; every failure is an error observation
that is counted, and every image a tool returns is one the vision processor accepts (issue 13, class 4: huge
integers, a prompt frame past the end, a box outside the frame, a non-image prompt file, corrupt frames inside a
crop window raised out of the tools and ``run_episode``; deep JSON raised RecursionError; an extreme aspect-ratio
video gave an image the processor refused)."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import pytest
from conftest import SAMPLE_DATA
from hostile_common import tried
from hypothesis import given, settings
from hypothesis import strategies as st

from seekerlite.config import EnvConfig
from seekerlite.env import VideoSeekerEnv, tool_error_counts
from seekerlite.policies.loop import PolicyReply, run_episode, run_tool
from seekerlite.schema import Sample, SchemaError, VisualPrompt

VTEST = SAMPLE_DATA / "videos" / "vtest.mp4"
BIG = 10 ** 400  # a JSON integer no float can hold


def _env(sample: Sample, base=None, **cfg) -> VideoSeekerEnv:
    env = VideoSeekerEnv(EnvConfig(**({"max_tool_rounds": 50, "max_total_frames": 10_000} | cfg)))
    env.reset(sample=sample, base_dir=base)
    return env


def _is_error(content) -> bool:
    return isinstance(content, list) and content[0]["type"] == "text" and content[0]["text"].startswith("Error:")


@pytest.fixture(scope="module")
def toy(toy_dataset):
    samples, base = toy_dataset
    return samples[0], base


HOSTILE_TIMES = [BIG, -BIG, "1e999", "nan", math.nan, math.inf, -math.inf, None, [], {}, True, "x" * 100_000, "",
                 "0x10", 1e308, -0.0001, 10 ** 18]
HOSTILE_REGIONS = [[0, 0, BIG, 1000], [0, 0, 1000], "all", [[0]], [None] * 4, [1000, 1000, 0, 0], [-5, 0, 1000, 1000],
                   [0, 0, 1e999, 1000], {"x": 1}, [True] * 4, "[0, 0, 1e999, 5]", "[" * 50_000, "%%%", [0, 0, 1, 1],
                   [999, 999, 1000, 1000], [math.nan] * 4, list(range(10 ** 3)), ["0", "0", "500", "500x"]]


@pytest.mark.parametrize("value", HOSTILE_TIMES, ids=[repr(v)[:20] for v in HOSTILE_TIMES])
def test_hostile_times_give_an_error_observation_and_a_count(toy, value):
    sample, base = toy
    env = _env(sample, base)
    before = sum(tool_error_counts().values())
    for args in ({"start_time": value, "end_time": 1.0}, {"start_time": 0.0, "end_time": value}):
        out = env.crop_video(**args)
        assert _is_error(out) and len(out[0]["text"]) < 400, out
    assert env.n_errors == 2 and sum(tool_error_counts().values()) == before + 2


@pytest.mark.parametrize("region", HOSTILE_REGIONS, ids=[repr(r)[:20] for r in HOSTILE_REGIONS])
def test_hostile_regions_give_an_error_observation(toy, region):
    sample, base = toy
    env = _env(sample, base)
    out = env.crop_video(0.0, 1.0, region)
    assert _is_error(out) and env.n_errors == 1 and not env.log[-1].ok, out


@settings(max_examples=150, deadline=None)
@given(args=st.dictionaries(st.sampled_from(["start_time", "end_time", "region", "x", ""]),
                            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) |
                            st.lists(st.integers() | st.floats(), max_size=6), max_size=4),
       name=st.sampled_from(["crop_video", "view_visual_prompt", "nope", "", "__init__", "_crop", "reset"]))
def test_any_tool_call_returns_content_and_never_raises(toy_env, args, name):
    tried("tools")
    env = toy_env
    n = len(env.log)
    out = run_tool(env, name, args)
    assert isinstance(out, list) and out and all(isinstance(p, dict) and "type" in p for p in out)
    assert len(env.log) == n + 1 and (env.log[-1].ok or _is_error(out))  # every call is logged, failures counted


@pytest.fixture(scope="module")
def toy_env(toy):
    return _env(*toy, max_tool_rounds=10 ** 6)


@pytest.mark.parametrize("arguments", [[1, 2], "start_time=1", None, 5], ids=["list", "string", "none", "int"])
def test_arguments_that_are_not_an_object_are_a_counted_error(toy, arguments):
    env = _env(*toy)
    assert _is_error(run_tool(env, "crop_video", arguments)) and env.n_errors == 1


def test_a_failure_while_serving_a_tool_is_an_error_observation_counted_by_kind(toy, monkeypatch):
    """A bug or an OS error deep inside a tool (not the call's fault) still ends as an observation, not a crash."""
    sample, base = toy
    env = _env(sample, base)
    monkeypatch.setattr(env.reader, "_decode", lambda idx: (_ for _ in ()).throw(OSError(5, "Input/output error")))
    before = tool_error_counts().get("crop_video: OSError", 0)
    out = env.crop_video(0.0, 1.0)
    assert _is_error(out) and "OSError" in out[0]["text"] and tool_error_counts()["crop_video: OSError"] == before + 1
    monkeypatch.setattr(type(env), "prompt_image", property(lambda self: {}["no such key"]))
    out = env.view_visual_prompt()
    assert _is_error(out) and "KeyError" in out[0]["text"] and env.n_errors == 2


def test_corrupt_frames_inside_a_crop_window_are_skipped_or_reported(tmp_path):
    data = bytearray(VTEST.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 20_000] = bytes(20_000)  # frames 74 and 75 no longer decode (tests/test_video.py)
    path = tmp_path / "holes.mp4"
    path.write_bytes(bytes(data))
    sample = Sample("holes", str(path), "What does the marked man do?", "walks",
                    visual_prompt=VisualPrompt(10, 1.0, "rectangle", None, [562.0, 236.0, 602.0, 333.0]))
    env = _env(sample)
    part = env.crop_video(7.3, 7.6)  # frames 73-76: two of them corrupt
    assert not _is_error(part) and "corrupt frames skipped" in part[0]["text"]
    assert env.log[-1].timestamps == pytest.approx([7.3, 7.6])
    whole = env.crop_video(7.4, 7.55)  # only the corrupt frames
    assert _is_error(whole) and "could be decoded (corrupt video data)" in whole[0]["text"]


def test_a_prompt_file_that_is_not_an_image_falls_back_to_drawing_the_mark(toy, tmp_path):
    sample, base = toy
    bad = tmp_path / "prompt.png"
    bad.write_text("not a png")
    vp = replace(sample.visual_prompt, image_path=str(bad))
    env = _env(replace(sample, visual_prompt=vp), base)
    out = env.view_visual_prompt()
    assert not _is_error(out) and out[1]["image"].size[0] > 0


@pytest.mark.parametrize("frame", [10 ** 6, 10 ** 17])
def test_a_prompt_frame_past_the_end_is_a_schema_error_at_reset(toy, frame):
    sample, base = toy
    vp = replace(sample.visual_prompt, frame_index=frame, image_path=None)
    with pytest.raises(SchemaError, match=r"field 'visual_prompt.frame_index': frame .* is outside"):
        VideoSeekerEnv().reset(sample=replace(sample, visual_prompt=vp), base_dir=base)


def _processor_accepts(image) -> bool:
    """Qwen-VL's own check (``smart_resize`` raises on an aspect ratio > 200 or a side below the factor)."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    w, h = image.size
    smart_resize(h, w, factor=32, min_pixels=32 * 32, max_pixels=336 * 336)
    return True


@pytest.mark.parametrize("shape", [(8, 2000), (2000, 8), (2, 2), (4, 800)], ids=["wide", "tall", "tiny", "strip"])
def test_images_from_extreme_videos_satisfy_the_processor(tmp_path, shape):
    from seekerlite.images import write_video

    h, w = shape
    frames = np.random.default_rng(0).integers(0, 255, (6, h, w, 3), dtype=np.uint8)
    path = write_video(frames, tmp_path / "extreme.mp4", fps=2)
    sample = Sample("x", str(path), "What is in the strip?", "noise",
                    visual_prompt=VisualPrompt(0, 0.0, "rectangle", None, [0.0, 0.0, float(w), float(h)]))
    env = _env(sample, max_pixels=336 * 336)
    images = [p["image"] for c in (env.crop_video(0.0, 2.0), env.crop_video(0.0, 2.0, [0, 0, 1000, 1000]),
                                   env.view_visual_prompt()) for p in c if p["type"] == "image"]
    assert len(images) >= 3
    for im in images:
        assert im.size[0] * im.size[1] <= 336 * 336 and max(im.size) / min(im.size) <= 200
        assert _processor_accepts(im)


class Scripted:
    """A policy that says what it is told (hostile replies), then answers."""

    name = "scripted"

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)

    def act(self, messages, env):
        return PolicyReply(self.replies.pop(0) if self.replies else "<think>done</think><answer>A</answer>")


def _call(body: str) -> str:
    return f"<think>x</think><tool_call>\n{body}\n</tool_call>"


HOSTILE_REPLIES = {
    "deep-json": _call('{"name": "crop_video", "arguments": {"region": ' + "[" * 20_000 + "]" * 20_000 + "}}"),
    "huge-int": _call('{"name": "crop_video", "arguments": {"start_time": ' + "9" * 1000 + ', "end_time": 1}}'),
    "unknown-tool": _call('{"name": "rm_rf", "arguments": {}}'),
    "arguments-a-list": _call('{"name": "crop_video", "arguments": [1, 2]}'),
    "extra-keyword": _call('{"name": "crop_video", "arguments": {"start_time": 0, "end_time": 1, "fps": 99}}'),
    "unclosed-call": "<think>x</think><tool_call>{" + '"a": ' * 100_000,
    "megabyte-of-babble": "<answer>" * 125_000,
}


@pytest.mark.parametrize("name", list(HOSTILE_REPLIES))
def test_run_episode_survives_hostile_replies_and_counts_tool_errors(toy, name):
    sample, base = toy
    t0 = time.perf_counter()
    traj = run_episode(Scripted([HOSTILE_REPLIES[name]] * 2), sample, EnvConfig(max_tool_rounds=3), base_dir=base)
    assert time.perf_counter() - t0 < 10
    assert traj.n_tool_errors == sum(not r.ok for r in traj.tool_log)
    if name in ("huge-int", "unknown-tool", "extra-keyword"):  # (the others do not parse as a call)
        assert traj.n_tool_errors >= 1


@pytest.mark.parametrize("completion", [
    "<answer>" * 125_000, "<think>" * 140_000, "{" * 1_000_000, "<tool_call>" + "[" * 100_000,
    [{"role": "assistant", "content": None}], [{"role": "assistant"}], [{"content": 5}], [None], 42, None,
], ids=["1MB-answer", "1MB-think", "1MB-braces", "deep-call", "none-content", "no-content", "no-role", "none-turn",
        "int", "none"])
def test_rewards_never_raise_and_stay_fast(completion):
    from seekerlite.train.rewards import (
        accuracy_reward,
        format_reward,
        parsimony_reward,
    )

    t0 = time.perf_counter()
    for fn in (accuracy_reward, format_reward, parsimony_reward):
        scores = fn([completion, "<think>a</think><answer>A</answer>"], answer=["A", "A"], options=[["x", "y"]] * 2)
        assert len(scores) == 2 and scores[0] == 0.0 and all(math.isfinite(s) for s in scores)
    assert time.perf_counter() - t0 < 3.0


@settings(max_examples=120, deadline=None)
@given(h=st.integers(1, 3000), w=st.integers(1, 3000), budget=st.sampled_from([32 * 32, 128 * 128, 224 * 224, 336 * 336]),
       pil=st.booleans())
def test_fit_for_processor_always_gives_an_image_within_the_limits(h, w, budget, pil):
    """Any crop (1 px to 3000 px a side, any aspect ratio) comes out within the budget, with an aspect ratio the
    processor accepts (< 200; ours caps at MAX_ASPECT) and no side below MIN_SIDE."""
    from PIL import Image

    from seekerlite.images import MAX_ASPECT, MIN_SIDE, fit_for_processor

    tried("images")
    img = np.zeros((h, w, 3), np.uint8)
    out = fit_for_processor(Image.fromarray(img) if pil else img, budget)
    oh, ow = (out.height, out.width) if pil else out.shape[:2]
    assert isinstance(out, Image.Image) == pil
    assert oh * ow <= budget and max(oh, ow) / min(oh, ow) <= MAX_ASPECT + 1e-9 and min(oh, ow) >= MIN_SIDE


@pytest.mark.parametrize("box", [[5000.0, 5000.0, 6000.0, 6000.0], [0.0, 0.0, 1e9, 1e9], [60.0, 40.0, 9000.0, 41.0],
                                 [0.0, 0.0, 0.5, 0.5]], ids=["far-outside", "huge", "half-outside", "sub-pixel"])
def test_a_marked_box_outside_the_frame_never_raises_out_of_the_tools(toy, box):
    """Before: drawing the mark of a box outside the frame raised out of view_visual_prompt and run_episode. Now a
    box wholly outside is a SchemaError at reset naming the field (the sample is broken); the others are drawn."""
    sample, base = toy
    vp = replace(sample.visual_prompt, image_path=None, box=box)
    bad = replace(sample, visual_prompt=vp, masklet=None)
    if box[0] >= 320:
        with pytest.raises(SchemaError, match=r"field 'visual_prompt.box': .* lies outside the 320x240 frames"):
            run_episode(Scripted([]), bad, EnvConfig(), base_dir=base)
        return
    env = _env(bad, base)
    out = env.view_visual_prompt()
    assert isinstance(out, list) and out and (_is_error(out) or out[1]["type"] == "image")
    traj = run_episode(Scripted([_call('{"name": "view_visual_prompt", "arguments": {}}')]), bad, EnvConfig(),
                       base_dir=base)
    assert traj.finish_reason is not None
