"""Keep/drop rules of pipeline stages 1, 2 and 4, SFT synthesis and RL curation, on crafted and real records."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import fake_openai_server
from PIL import Image

from seekerlite.marks import describe_prompt
from seekerlite.pipeline.curate import CurateConfig, curate_samples, to_open_ended
from seekerlite.pipeline.stage1_filter import FilterConfig, filter_samples, rule_reasons
from seekerlite.pipeline.stage2_verify import VerifyConfig, verify_samples
from seekerlite.pipeline.stage4_render import (
    RenderConfig,
    choose_frame,
    draw_prompt_type,
    render_samples,
    score_frames,
)
from seekerlite.pipeline.trajectories import SynthConfig, synthesize_trajectories
from seekerlite.policies import NoisyOraclePolicy, OpenAIPolicy, PolicyReply, RandomPolicy
from seekerlite.schema import PROMPT_TYPES, Masklet, Sample, VisualPrompt, encode_mask
from seekerlite.trajectory import load_chat_dataset, save_chat_dataset

BOX = [562.0, 236.0, 602.0, 333.0]  # red_jacket on vtest frame 40


def codes(outcome) -> list[str]:
    return sorted(r.split(":")[0] for r in outcome.reasons)


def vtest_sample(**kw) -> Sample:
    base = dict(id="q", video_path="videos/vtest.mp4", question="What is the marked person carrying?", answer="B",
                options=["A black backpack", "A white sheet of paper", "An umbrella", "Nothing"],
                visual_prompt=VisualPrompt(40, 4.0, "rectangle", None, BOX), span=[2.0, 15.0])
    return Sample(**{**base, **kw})


# ---------------------------------------------------------------------------------------------- stage 1

@pytest.mark.parametrize("change, code", [
    (dict(question="Marked person?"), "too_short"),
    (dict(question="Is the marked person " + "very " * 130 + "tall?"), "too_long"),
    (dict(question="The marked person carries something"), "not_a_question"),
    (dict(question="What is happening in the whole video?"), "no_instance_reference"),
    (dict(question="What are the marked people carrying?"), "several_instances"),
    (dict(question="Where do both boxes go in the end?"), "several_instances"),
    (dict(visual_prompt=None), "no_instance_location"),
    (dict(options=["A black backpack", "", "An umbrella", "Nothing"]), "empty_option"),
    (dict(options=["A black backpack", "a black backpack.", "An umbrella", "Nothing"]), "duplicate_options"),
    (dict(question="The marked person holds a white sheet of paper. What does he hold?"), "answer_in_question"),
    (dict(options=None, answer=""), "empty_answer"),
    (dict(options=None, answer="word " * 61), "answer_too_long"),
    (dict(options=None, answer="white paper", question="Does the marked person carry white paper or a bag?"),
     "answer_in_question"),
])
def test_stage1_rules_drop_what_they_should(change, code):
    assert rule_reasons(vtest_sample()) == []
    assert code in [r.split(":")[0] for r in rule_reasons(vtest_sample(**change))]


def test_stage1_keeps_the_real_and_toy_questions(real_samples, toy_dataset):
    samples = real_samples[0] + toy_dataset[0]
    outs = list(filter_samples(samples))
    assert [o.id for o in outs] == [s.id for s in samples]
    assert all(o.kept for o in outs), [(o.id, o.reasons) for o in outs if not o.kept]


def test_stage1_instance_reference_words():
    """Questions name the mark in many ways; each is an instance reference (no false drop)."""
    for q in ["What colour is the object in the red box?", "Where does the person circled in red go?",
              "What does the object the arrow points to do?", "What is the object labelled 3 holding?",
              "What happens to the object with the scribble on it?", "What does <2> do next?",
              "The marked object is the object highlighted in white. What colour does it turn into?"]:
        assert rule_reasons(vtest_sample(question=q)) == [], q


def test_stage1_duplicates_keep_the_first_and_skip_resumes():
    a, b, c = vtest_sample(id="a"), vtest_sample(id="b"), vtest_sample(id="c", question="What does the marked person hold?")
    outs = {o.id: o for o in filter_samples([a, b, c])}
    assert outs["a"].kept and outs["c"].kept and codes(outs["b"]) == ["duplicate"]
    assert "same as a" in outs["b"].reasons[0]
    # resuming after 'a': the verdict on 'b' must not change (duplicates are found over the whole input)
    assert [(o.id, o.kept) for o in filter_samples([a, b, c], skip={"a"})] == [("b", False), ("c", True)]


def test_stage1_scorer_threshold_and_provenance():
    class Fixed:
        def __init__(self, v):
            self.v, self.prompts = v, []

        def score(self, prompt):
            self.prompts.append(prompt)
            return self.v

    lo = Fixed(0.2)
    (o,) = filter_samples([vtest_sample()], FilterConfig(min_score=0.5), scorer=lo)
    assert codes(o) == ["low_score"] and o.info["score"] == 0.2
    assert "What is the marked person carrying?" in lo.prompts[0] and "B. A white sheet of paper" in lo.prompts[0]
    (o,) = filter_samples([vtest_sample()], FilterConfig(min_score=0.5), scorer=Fixed(0.9))
    assert o.kept and o.record.provenance["stage1"] == {"score": 0.9}
    (o,) = filter_samples([vtest_sample(question="Marked?")], FilterConfig(min_score=0.5), scorer=lo)
    assert not o.kept and lo.prompts == [lo.prompts[0]]  # a record the rules drop is never scored


@pytest.fixture(scope="module")
def tiny_scorer():
    from seekerlite.pipeline.scorers import YesNoScorer

    return YesNoScorer("tiny")


def test_tiny_model_scores_text_and_images(tiny_scorer):
    """The mechanics on the embedded tiny model (random weights: any score in (0, 1), deterministic)."""
    (o,) = filter_samples([vtest_sample()], FilterConfig(scorer="tiny"), scorer=tiny_scorer)
    s = o.record.provenance["stage1"]["score"]
    assert 0.0 < s < 1.0
    assert tiny_scorer.score("Is this about one instance? yes or no") == tiny_scorer.score("Is this about one instance? yes or no")
    img = Image.fromarray(np.full((64, 80, 3), 120, np.uint8))
    v = tiny_scorer.score("Is the marked person visible?", images=[img, img])
    assert 0.0 < v < 1.0 and v != tiny_scorer.score("Is the marked person visible?")


# ---------------------------------------------------------------------------------------------- stage 2

@pytest.fixture(scope="module")
def video_dir(tmp_path_factory) -> Path:
    """A folder with vtest.mp4 (a link to the sample) and a fake .mp4 that is not a video."""
    from conftest import SAMPLE_DATA

    d = tmp_path_factory.mktemp("videos")
    (d / "videos").mkdir()
    (d / "videos" / "vtest.mp4").symlink_to(SAMPLE_DATA / "videos" / "vtest.mp4")
    (d / "videos" / "fake.mp4").write_text("not a video")
    return d


def bald_masklet(frames) -> Masklet:
    return Masklet("bald", list(frames), [[569.0, 192.0, 599.0, 284.0]] * len(frames), [], "pedestrian")


@pytest.mark.parametrize("change, code", [
    (dict(video_path="videos/missing.mp4"), "video_unreadable"),
    (dict(video_path="videos/fake.mp4"), "video_unreadable"),
    (dict(span=[15.5, 20.0]), "span_outside_video"),
    (dict(span=[10.0, 16.0]), "span_outside_video"),
    (dict(visual_prompt=VisualPrompt(150, 15.0, "rectangle", None, BOX)), "prompt_frame_outside_video"),
    (dict(visual_prompt=VisualPrompt(40, 4.0, "rectangle", None, [800.0, 10.0, 900.0, 50.0])), "box_outside_frame"),
    (dict(masklet=bald_masklet(range(140, 155))), "masklet_outside_video"),
    (dict(masklet=bald_masklet(range(50, 61)), span=[0.0, 3.0]), "not_visible_in_span"),
    (dict(masklet=Masklet("m", [40], [BOX], [encode_mask(np.ones((48, 64), bool))])), "mask_size_mismatch"),
])
def test_stage2_drops_what_does_not_fit_the_video(video_dir, change, code):
    (ok,) = verify_samples([vtest_sample()], video_dir)
    assert ok.kept and ok.record.provenance["stage2"]["fps"] == 10.0
    (o,) = verify_samples([vtest_sample(**change)], video_dir)
    assert code in codes(o), o.reasons


def test_stage2_bounds_span_edges_and_real_samples(video_dir, real_samples):
    (o,) = verify_samples([vtest_sample()], video_dir, VerifyConfig(min_fps=20))
    assert codes(o) == ["fps_out_of_bounds"]
    (o,) = verify_samples([vtest_sample()], video_dir, VerifyConfig(max_duration=10))
    assert codes(o) == ["too_long_video"]
    # the instance enters at frame 50 (5.0 s): a span ending at 5.0 s shows frame 50, so it is visible
    (o,) = verify_samples([vtest_sample(masklet=bald_masklet(range(50, 61)), span=[3.8, 5.0])], video_dir)
    assert o.kept
    (o,) = verify_samples([vtest_sample(masklet=bald_masklet(range(50, 61)), span=[3.8, 4.9])], video_dir)
    assert codes(o) == ["not_visible_in_span"]
    samples, base = real_samples
    assert all(o.kept for o in verify_samples(samples, base))


def test_stage2_verifier(video_dir, tiny_scorer):
    class Fixed:
        def __init__(self):
            self.calls = []

        def score(self, prompt, images):
            self.calls.append((prompt, images))
            return 0.1

    v = Fixed()
    (o,) = verify_samples([vtest_sample()], video_dir, VerifyConfig(min_verifier_score=0.5, verifier_frames=3), verifier=v)
    assert codes(o) == ["low_verifier_score"] and o.info["verifier_score"] == 0.1
    prompt, images = v.calls[0]
    assert len(images) == 4 and "2.0 to 15.0 seconds" in prompt  # the marked frame + 3 frames of the span
    (o,) = verify_samples([vtest_sample()], video_dir, VerifyConfig(verifier_frames=2), verifier=tiny_scorer)
    assert o.kept and 0.0 < o.record.provenance["stage2"]["verifier_score"] < 1.0


# ---------------------------------------------------------------------------------------------- stage 4

def test_choose_frame_prefers_big_uncut_unoccluded():
    boxes = [[0, 10, 30, 60],  # 0: touches the left border (largest)
             [40, 10, 60, 40],  # 1: small
             [40, 10, 65, 50],  # 2: large, but covered by the other instance
             [40, 10, 64, 50]]  # 3: large, free: the best
    m = Masklet("a", [0, 1, 2, 3], boxes)
    other = Masklet("b", [2, 3], [[40, 10, 65, 50], [80, 10, 90, 20]])
    scores = {s.frame: s for s in score_frames(m, 100, 100, [other])}
    assert scores[0].cut and not scores[3].cut and scores[2].occlusion == 1.0 and scores[3].occlusion == 0.0
    assert choose_frame(m, 100, 100, [other]).frame == 3
    assert choose_frame(m, 100, 100).frame == 2  # without the occluder, frame 2 (largest uncut) wins
    assert choose_frame(m, 100, 100, cut_penalty=1.0).frame == 0  # the border no longer matters
    tie = Masklet("t", [5, 6, 7], [None, [10, 10, 20, 20], [50, 50, 60, 60]])
    assert choose_frame(tie, 100, 100).frame == 6  # ties: the earliest frame
    with pytest.raises(ValueError, match="never visible"):
        choose_frame(Masklet("n", [0], [None]), 100, 100)


def test_score_frames_uses_mask_area_when_there_is_one():
    big_box_small_mask = np.zeros((50, 50), bool)
    big_box_small_mask[10, 10:40] = True
    big_box_small_mask[10:40, 10] = True  # an L: a 30x30 box, 59 pixels
    solid = np.zeros((50, 50), bool)
    solid[10:25, 10:25] = True  # a 15x15 box, 225 pixels
    m = Masklet("a", [0, 1], [[10, 10, 40, 40], [10, 10, 25, 25]], [encode_mask(big_box_small_mask), encode_mask(solid)])
    assert choose_frame(m, 50, 50).frame == 1


def test_draw_prompt_type_follows_weights():
    rng = np.random.default_rng(0)
    draws = [draw_prompt_type({"arrow": 3, "point": 1, "ellipse": 0}, rng) for _ in range(400)]
    assert set(draws) == {"arrow", "point"} and 0.65 < draws.count("arrow") / 400 < 0.85
    assert {draw_prompt_type({"mask_contour": 1, "point": 1}, rng, has_mask=False) for _ in range(50)} == {"point"}
    with pytest.raises(ValueError, match="unknown prompt types"):
        draw_prompt_type({"lasso": 1}, rng)


def test_render_samples_every_type_and_frame_choice(toy_dataset, tmp_path):
    samples, base = toy_dataset
    picks = [replace(s, id=f"{s.id}-{t}") for s, t in zip(samples[::2], PROMPT_TYPES)]
    outs = []
    for s, t in zip(picks, PROMPT_TYPES):
        cfg = RenderConfig(prompt_types={t: 1.0}, color="white", frame_choice="keep")
        (o,) = render_samples([s], base, tmp_path, cfg)
        outs.append(o)
        vp = o.record.visual_prompt
        assert o.kept and vp.prompt_type == t and vp.frame_index == s.visual_prompt.frame_index
        img = np.asarray(Image.open(tmp_path / vp.image_path))
        assert img.shape == (240, 320, 3)
        phrase = describe_prompt(t, "white", "1" if t != "set_of_mark" else o.record.extra["prompt_phrase"][-1])
        assert phrase in o.record.question and o.record.extra["prompt_phrase"] == phrase
    assert len({o.record.visual_prompt.image_path for o in outs}) == len(PROMPT_TYPES)
    # "best" moves to the best-scoring frame; a second run gives the same file
    s = samples[0]
    (o,) = render_samples([s], base, tmp_path, RenderConfig(frame_choice="best"))
    best = choose_frame(s.masklet, 320, 240)
    assert o.record.visual_prompt.frame_index == best.frame and o.record.provenance["stage4"]["frame_choice"] == "best"
    first = (tmp_path / o.record.visual_prompt.image_path).read_bytes()
    (o2,) = render_samples([s], base, tmp_path, RenderConfig(frame_choice="best"))
    assert o2.record == o.record and (tmp_path / o2.record.visual_prompt.image_path).read_bytes() == first


def test_render_without_masklet(tmp_path, video_dir):
    premarked = vtest_sample(visual_prompt=VisualPrompt(None, None, "other", "frames/x.jpg", None))
    (o,) = render_samples([premarked], video_dir, tmp_path)
    assert o.kept and o.record.visual_prompt.image_path == "frames/x.jpg"
    (o,) = render_samples([vtest_sample(visual_prompt=None)], video_dir, tmp_path)
    assert codes(o) == ["nothing_to_mark"]


# ---------------------------------------------------------------------------------------------- SFT synthesis

def test_oracle_trajectories_become_a_chat_dataset(toy_dataset, tmp_path):
    samples, base = toy_dataset
    outs = list(synthesize_trajectories(samples[:4], base))
    assert all(o.kept for o in outs) and all(o.record.correct for o in outs)
    for o in outs:
        save_chat_dataset([o.record], tmp_path, append=True)
    rows = load_chat_dataset(tmp_path / "sft.jsonl")
    assert [r["sample_id"] for r in rows] == [s.id for s in samples[:4]]
    roles = [m["role"] for m in rows[0]["messages"]]
    assert roles[:2] == ["system", "user"] and roles[-1] == "assistant" and "tool" in roles
    assert any(isinstance(p, dict) and p.get("type") == "image" for p in rows[0]["messages"][1]["content"])


def test_wrong_or_malformed_trajectories_are_dropped(toy_dataset):
    samples, base = toy_dataset
    mc = [s for s in samples if s.is_mc][:6]
    outs = list(synthesize_trajectories(mc, base, teacher=RandomPolicy(seed=1, p_answer=1.0)))
    wrong = [o for o in outs if not o.kept]
    assert wrong and all(codes(o) == ["wrong_answer"] for o in wrong)
    assert all(o.record.answer == s.answer for o, s in zip(outs, mc) if o.kept)  # kept = right

    class NoThink:  # right answer, broken grammar
        name = "no-think"

        def act(self, messages, env):
            return PolicyReply(f"<answer>{env.sample.answer}</answer>")

    (o,) = synthesize_trajectories(mc[:1], base, teacher=NoThink())
    assert codes(o) == ["bad_format"]
    (o,) = synthesize_trajectories(mc[:1], base, SynthConfig(require_format=False), teacher=NoThink())
    assert o.kept


def test_openai_compatible_teacher(toy_dataset):
    """A local stand-in for an OpenAI-compatible server: one tool call, then the answer."""
    samples, base = toy_dataset
    sample = next(s for s in samples if s.is_mc)

    calls = []

    def reply(body):  # one tool call, then the answer
        calls.append(body)
        if len(calls) == 1:
            return {"role": "assistant", "content": None, "reasoning_content": "Look at the start.",
                    "tool_calls": [{"id": "x", "type": "function", "function": {
                        "name": "crop_video", "arguments": json.dumps({"start_time": 0.0, "end_time": 2.0})}}]}
        return {"role": "assistant", "content": f"<think>Seen it.</think><answer>{sample.answer}</answer>"}

    with fake_openai_server(reply) as (url, bodies):
        (o,) = synthesize_trajectories([sample], base, SynthConfig(teacher=url + "#some-vlm"))
    assert o.kept, o.reasons
    assert o.info["teacher"] == "endpoint:some-vlm" and o.info["n_tool_calls"] == 1
    first, second = bodies
    assert first["model"] == "some-vlm" and {t["function"]["name"] for t in first["tools"]} == {"crop_video", "view_visual_prompt"}
    assert any(p["type"] == "image_url" and p["image_url"]["url"].startswith("data:image/png;base64,")
               for p in first["messages"][1]["content"])
    tool_msg = next(m for m in second["messages"] if m["role"] == "tool")
    call = next(m for m in second["messages"] if m.get("tool_calls"))
    assert tool_msg["tool_call_id"] == call["tool_calls"][0]["id"]
    assert second["messages"][-1]["role"] == "user" and second["messages"][-1]["content"][1]["type"] == "image_url"
    assert isinstance(OpenAIPolicy("http://h/v1", "m").name, str)


# ---------------------------------------------------------------------------------------------- RL curation

def test_curation_keeps_only_mixed_pass_rates(toy_dataset):
    samples, base = toy_dataset
    few = samples[:6]
    always = list(curate_samples(few, base, CurateConfig(policy="noisy-oracle:1.0", k=2)))
    assert all(codes(o) == ["always_solved"] and o.info["pass_rate"] == 1.0 for o in always)
    never = list(curate_samples(few, base, CurateConfig(policy="noisy-oracle:0.0", k=2)))
    assert all(codes(o) == ["never_solved"] and o.info["pass_rate"] == 0.0 for o in never)
    mixed = list(curate_samples(few, base, CurateConfig(policy="noisy-oracle:0.5", k=6)))
    again = list(curate_samples(few, base, CurateConfig(policy="noisy-oracle:0.5", k=6)))
    assert [o.info for o in mixed] == [o.info for o in again]  # seeded by sample id and rollout
    kept = [o for o in mixed if o.kept]
    assert kept and all(0 < o.record.provenance["curate"]["pass_rate"] < 1 for o in kept)
    assert all(o.record.provenance["curate"]["input_id"] == o.id for o in kept)
    rates = [o.info["pass_rate"] for o in mixed]
    assert 0.25 < np.mean(rates) < 0.75


def test_noisy_oracle_wrong_answers_are_wrong(toy_dataset):
    from seekerlite.policies import run_episode

    samples, base = toy_dataset
    for s in samples[:4]:
        t = run_episode(NoisyOraclePolicy(0.0, seed=3), s, base_dir=base)
        assert t.answer is not None and t.answer != s.answer


def test_mc_to_oe(toy_dataset):
    samples, base = toy_dataset
    s = vtest_sample(question="What is the marked object's colour?", options=["red", "blue", "green"], answer="C")
    o = to_open_ended(s)
    assert (o.id, o.answer, o.options, o.extra["form"], o.provenance["converted_from"]) == ("q~oe", "green", None, "oe", "q")
    assert to_open_ended(vtest_sample()) is not None  # "A white sheet of paper": 5 words
    assert to_open_ended(vtest_sample(), max_words=3) is None
    assert to_open_ended(vtest_sample(question="Which of the following does the marked person carry?")) is None
    assert to_open_ended(vtest_sample(options=None, answer="x")) is None
    # toy MC questions have OE twins: they stay MC; an MC question without a twin becomes OE
    mc = next(x for x in samples if x.is_mc)
    o = next(curate_samples([mc] + [x for x in samples if not x.is_mc], base,
                            CurateConfig(policy="noisy-oracle:0.5", k=8, mc_to_oe=True, oe_max_words=10)))
    assert o.id == mc.id and (o.record is None or o.record.is_mc)
    lone = replace(mc, id="lone", question=mc.question + " (asked once)")
    (o,) = curate_samples([lone], base, CurateConfig(policy="noisy-oracle:0.5", k=8, mc_to_oe=True, oe_max_words=10))
    assert o.id == "lone" and o.record is not None and o.record.id == "lone~oe" and not o.record.is_mc
    assert o.record.provenance["curate"]["input_id"] == "lone"
