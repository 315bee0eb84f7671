"""VideoSeekerEnv: tools on real and toy videos, regions, budgets, and error observations for bad calls."""

import inspect

import numpy as np
import pytest
from PIL import Image

from seekerlite.config import EnvConfig
from seekerlite.env import (
    VideoSeekerEnv,
    _region_to_pixels,
    opening_messages,
    tool_methods,
    tool_schemas,
)
from seekerlite.video import open_video, resize_to_budget


def _images(parts):
    return [p["image"] for p in parts if p["type"] == "image"]


def _texts(parts):
    return [p["text"] for p in parts if p["type"] == "text"]


@pytest.fixture(params=["real", "toy"])
def episode(request, real_samples, toy_dataset):
    samples, base = real_samples if request.param == "real" else toy_dataset
    env = VideoSeekerEnv(EnvConfig(max_tool_rounds=4, max_total_frames=24))
    assert env.reset(sample=samples[0], base_dir=base) is None
    return env


def test_env_config_defaults_and_checks():
    cfg = EnvConfig()
    assert (cfg.overview_frames, cfg.frames_per_call, cfg.min_frames_per_call, cfg.max_tool_rounds) == (4, 4, 4, 3)
    assert cfg.system_prompt is True
    for bad in (dict(max_tool_rounds=-1), dict(frames_per_call=0), dict(overview_frames=-1), dict(sample_fps=0)):
        with pytest.raises(ValueError, match="EnvConfig"):
            EnvConfig(**bad)
    for old in ("max_frames_per_call", "max_tool_calls"):  # renamed: frames_per_call, max_tool_rounds
        with pytest.raises(TypeError):
            EnvConfig(**{old: 4})


def test_min_frames_per_call_is_capped(real_samples):
    samples, base = real_samples
    env = VideoSeekerEnv(EnvConfig(frames_per_call=2, min_frames_per_call=8))
    env.reset(sample=samples[0], base_dir=base)
    assert len(_images(env.crop_video(0.0, 0.5))) == 2  # min 8 capped at frames_per_call=2
    env = VideoSeekerEnv(EnvConfig(frames_per_call=8, min_frames_per_call=3, sample_fps=1.0))
    env.reset(sample=samples[0], base_dir=base)
    assert len(_images(env.crop_video(0.0, 1.0))) == 3  # 1 s at 1 fps: raised to the minimum


def test_tools_are_exactly_the_two(episode):
    # TRL's rule: public functions of the class except reset/get_reward are tools
    assert sorted(t.__name__ for t in tool_methods(episode)) == ["crop_video", "view_visual_prompt"]
    public = [n for n, _ in inspect.getmembers(VideoSeekerEnv, predicate=inspect.isfunction) if not n.startswith("_")]
    assert sorted(public) == ["crop_video", "reset", "view_visual_prompt"]


def test_crop_video_frames_and_timestamps(episode):
    info = episode.video_info
    t0, t1 = 0.2 * info.duration, 0.9 * info.duration
    parts = episode.crop_video(t0, t1)
    imgs, texts = _images(parts), _texts(parts)
    cfg = episode.config
    want = int(np.clip(round((t1 - t0) * cfg.sample_fps), min(cfg.min_frames_per_call, cfg.frames_per_call),
                       cfg.frames_per_call))
    assert len(imgs) == want and len(texts) == want + 1
    stamps = [r for r in episode.log[-1].timestamps]
    assert all(t0 <= t <= t1 for t in stamps) and stamps == sorted(stamps)
    # every image is preceded by its "<t.t seconds>" label
    for i, p in enumerate(parts):
        if p["type"] == "image":
            assert parts[i - 1]["text"] == f"<{stamps[_images(parts[:i]).__len__()]:.1f} seconds>"
    assert all(isinstance(im, Image.Image) and im.width * im.height <= cfg.max_pixels for im in imgs)
    assert episode.frames_used == want and episode.log[-1].ok


def test_region_maps_to_the_right_pixels(episode):
    info = episode.video_info
    region = [250, 100, 750, 600]
    parts = episode.crop_video(0.0, min(2.0, info.duration), region=region)
    rec = episode.log[-1]
    x0, y0, x1, y1 = rec.region_px
    assert (x0, y0, x1, y1) == (round(0.25 * info.width), round(0.1 * info.height), round(0.75 * info.width), round(0.6 * info.height))
    with open_video(info.path) as r:
        full = r.frame_at(rec.timestamps[0]).image
    expected = resize_to_budget(Image.fromarray(full[y0:y1, x0:x1]), episode.config.max_pixels)
    got = _images(parts)[0]
    assert got.size == expected.size
    assert np.abs(np.asarray(got, np.int16) - np.asarray(expected, np.int16)).mean() < 1.0


def test_region_conversion_edges():
    assert _region_to_pixels([0, 0, 1000, 1000], 640, 480, 20) == [0, 0, 640, 480]
    assert _region_to_pixels("[0, 0, 500, 500]", 100, 100, 20) == [0, 0, 50, 50]


def test_view_visual_prompt(episode):
    parts = episode.view_visual_prompt()
    (img,) = _images(parts)
    vp = episode.sample.visual_prompt
    assert isinstance(img, Image.Image)
    assert f"<{vp.timestamp:.1f} seconds>" in _texts(parts)[0]
    assert episode.log[-1].name == "view_visual_prompt" and episode.frames_used == 0


BAD_CALLS = [
    (dict(start_time=3.0, end_time=1.0), "must be greater than start_time"),
    (dict(start_time=-1.0, end_time=1.0), "outside the video"),
    (dict(start_time=1.0, end_time=1e6), "past the end"),
    (dict(start_time=1e6, end_time=2e6), "outside the video"),
    (dict(start_time="soon", end_time=2.0), "must be a number"),
    (dict(start_time=True, end_time=2.0), "must be a number"),
    (dict(start_time=None, end_time=2.0), "must be a number"),
    (dict(start_time=float("nan"), end_time=2.0), "finite"),
    (dict(start_time=0.0, end_time=1.0, region=[0, 0, 1200, 500]), "within 0-1000"),
    (dict(start_time=0.0, end_time=1.0, region=[500, 500, 505, 900]), "degenerate"),
    (dict(start_time=0.0, end_time=1.0, region=[600, 0, 100, 500]), "degenerate"),
    (dict(start_time=0.0, end_time=1.0, region=[1, 2, 3]), "list of 4 numbers"),
    (dict(start_time=0.0, end_time=1.0, region="left half"), "must be a list"),
    (dict(start_time=0.0, end_time=1.0, region=["a", 0, 1, 2]), "must be a number"),
]


@pytest.mark.parametrize("kwargs, msg", BAD_CALLS)
def test_bad_calls_get_error_observations(episode, kwargs, msg):
    parts = episode.crop_video(**kwargs)
    assert len(parts) == 1 and parts[0]["text"].startswith("Error:") and msg in parts[0]["text"]
    assert episode.log[-1].ok is False and episode.frames_used == 0
    # the episode goes on: a good call still works
    assert _images(episode.crop_video(0.0, min(1.0, episode.video_info.duration)))


def test_budgets(real_samples):
    samples, base = real_samples
    env = VideoSeekerEnv(EnvConfig(max_tool_rounds=3, max_total_frames=6, min_frames_per_call=4, frames_per_call=4))
    env.reset(sample=samples[0], base_dir=base)
    assert len(_images(env.crop_video(0.0, 4.0))) == 4
    assert len(_images(env.crop_video(4.0, 8.0))) == 2  # only 2 frames left of 6
    assert "frame budget spent" in env.crop_video(0.0, 1.0)[0]["text"]
    assert "tool budget spent" in env.view_visual_prompt()[0]["text"]  # 4th call > max 3
    assert env.frames_used == 6 and [r.ok for r in env.log] == [True, True, False, False]


def test_no_episode_and_reset_variants(real_samples):
    samples, base = real_samples
    env = VideoSeekerEnv()
    assert env.crop_video(0.0, 1.0)[0]["text"].startswith("Error: no episode")
    env.reset(base_dir=base, **samples[0].to_dict(), prompt=[{"role": "user", "content": "x"}])  # TRL passes extra columns
    assert env.sample == samples[0]
    import json
    env.reset(sample=json.dumps(samples[1].to_dict()), base_dir=base)
    assert env.sample == samples[1] and env.log == []
    with pytest.raises(TypeError):
        env.reset(sample=42)


def test_opening_messages(episode):
    msgs = opening_messages(episode)
    user = msgs[-1]["content"]
    imgs = _images(user)
    assert len(imgs) == 1 + episode.config.overview_frames
    assert all(im.width * im.height <= episode.config.overview_max_pixels for im in imgs[1:])
    assert _texts(user)[-1].startswith("Question:")
    assert [m["role"] for m in msgs] == ["system", "user"]


def test_opening_messages_follow_the_env(real_samples):
    samples, base = real_samples
    env = VideoSeekerEnv(EnvConfig(overview_frames=2, system_prompt=False))
    with pytest.raises(RuntimeError, match="reset"):
        opening_messages(env)
    env.reset(sample=samples[0], base_dir=base)
    msgs = opening_messages(env)
    assert [m["role"] for m in msgs] == ["user"] and len(_images(msgs[0]["content"])) == 1 + 2


def test_tool_schemas_are_the_two_tools():
    schemas = {s["function"]["name"]: s["function"] for s in tool_schemas()}
    assert sorted(schemas) == ["crop_video", "view_visual_prompt"]
    params = schemas["crop_video"]["parameters"]
    assert set(params["properties"]) == {"start_time", "end_time", "region"} and params["required"] == ["start_time", "end_time"]
