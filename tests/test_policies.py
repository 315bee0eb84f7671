"""The episode loop with the oracle, random and tiny-model policies; trajectories on disk; the CLI."""

import json

import pytest

from seekerlite.config import EnvConfig, assistant_turns
from seekerlite.grammar import render_tool_call
from seekerlite.judge import answer_is_correct
from seekerlite.policies import (
    NoisyOraclePolicy,
    OraclePolicy,
    PolicyReply,
    RandomPolicy,
    run_episode,
    run_episodes,
)
from seekerlite.trajectory import Trajectory


def _well_formed(traj):
    roles = [m["role"] for m in traj.messages]
    assert roles[:2] == ["system", "user"]
    for i, m in enumerate(traj.messages[2:], 2):
        if m["role"] == "tool":
            # a tool message follows an assistant message with tool calls (or another tool message)
            prev = next(p for p in reversed(traj.messages[:i]) if p["role"] != "tool")
            assert prev["role"] == "assistant" and prev.get("tool_calls")
            assert isinstance(m["content"], list) and m["content"]
    assert traj.messages[-1]["role"] in ("assistant", "tool")
    assert traj.finish_reason in ("answer", "no_action", "max_turns")
    assert len(traj.turns) == roles.count("assistant")


def test_oracle_solves_every_toy_sample(toy_dataset):
    samples, base = toy_dataset
    trajs = run_episodes(OraclePolicy(seed=0), samples, base_dir=base, progress=False)
    assert len(trajs) == len(samples) >= 6
    for t in trajs:
        _well_formed(t)
        assert t.correct and t.finish_reason == "answer" and 1 <= t.n_tool_calls <= 2
        assert not any(turn.tool_errors for turn in t.turns)
    assert any(t.tool_log[-1].region_px for t in trajs)  # attribute questions zoom in
    assert any(t.tool_log[0].name == "view_visual_prompt" for t in trajs)


def test_oracle_on_real_samples(real_samples):
    samples, base = real_samples
    for s in samples:
        t = run_episode(OraclePolicy(), s, base_dir=base)
        _well_formed(t)
        assert t.correct and t.n_frames >= 1
        crop = [r for r in t.tool_log if r.name == "crop_video"][0]
        assert s.span is None or all(s.span[0] - 1.0 <= ts <= s.span[1] + 1.0 for ts in crop.timestamps)


def test_random_policy_well_formed_and_seeded(toy_dataset):
    samples, base = toy_dataset
    a = run_episodes(RandomPolicy(seed=3), samples, base_dir=base, progress=False)
    b = run_episodes(RandomPolicy(seed=3), samples, base_dir=base, progress=False)
    for t in a:
        _well_formed(t)
    assert [t.answer for t in a] == [t.answer for t in b]
    assert any(turn.tool_errors for t in a for turn in t.turns)  # it makes bad calls and gets error observations


class Scripted:
    """A policy that replays fixed replies (to exercise the loop's edge cases)."""

    name = "scripted"

    def __init__(self, replies):
        self.replies = list(replies)

    def act(self, messages, env):
        return PolicyReply(self.replies.pop(0))


def test_loop_edge_cases(toy_dataset):
    samples, base = toy_dataset
    s = samples[0]
    t = run_episode(Scripted(["<think>hmm</think> no tags"]), s, base_dir=base)
    assert t.finish_reason == "no_action" and t.answer is None and t.correct is False
    t = run_episode(Scripted([render_tool_call("zoom", {}), render_tool_call("crop_video", {"start": 1}),
                              "<answer>A</answer>"]), s, base_dir=base)
    tool_texts = [m["content"][0]["text"] for m in t.messages if m["role"] == "tool"]
    assert "unknown tool 'zoom'" in tool_texts[0] and "bad arguments for crop_video" in tool_texts[1]
    assert t.finish_reason == "answer"
    loop = [render_tool_call("view_visual_prompt", {})] * 10
    env = EnvConfig(max_tool_rounds=2)
    t = run_episode(Scripted(loop), s, env, base_dir=base)
    assert t.finish_reason == "max_turns" and len(t.turns) == assistant_turns(env) == 3


def test_last_turn_tool_call_is_not_run(toy_dataset):
    """TRL's tool loop: max_tool_rounds rounds of calls, then one more reply whose tool call is not run."""
    samples, base = toy_dataset
    call = "<think>look</think>\n" + render_tool_call("crop_video", {"start_time": 0.0, "end_time": 1.0})
    for rounds in (0, 1, 3):
        t = run_episode(Scripted([call] * 10), samples[0], EnvConfig(max_tool_rounds=rounds), base_dir=base)
        assert len(t.turns) == rounds + 1 and t.finish_reason == "max_turns"
        assert [m["role"] for m in t.messages].count("tool") == rounds == t.n_tool_calls
        assert t.messages[-1]["role"] == "assistant" and t.messages[-1]["tool_calls"]  # the unrun call is kept
        assert all(r.ok for r in t.tool_log) and t.answer is None and t.correct is False
    # answering in the last allowed turn is fine
    t = run_episode(Scripted([call, "<think>ok</think><answer>A</answer>"]), samples[0], EnvConfig(max_tool_rounds=1),
                    base_dir=base)
    assert t.finish_reason == "answer" and t.answer == "A" and t.n_tool_calls == 1


def test_episode_answer_is_strict(toy_dataset):
    """The trajectory's answer is the one final <answer>; hedges, empty and repeated answers are wrong."""
    samples, base = toy_dataset
    mc = next(s for s in samples if s.is_mc)
    other = next(c for c in "ABCD" if c != mc.answer)
    right = run_episode(Scripted([f"<think>x</think><answer>({mc.answer.lower()})</answer>"]), mc, base_dir=base)
    assert right.answer == f"({mc.answer.lower()})" and right.correct and right.finish_reason == "answer"
    for reply in (f"<think>x</think><answer>{mc.answer} or {other}</answer>",
                  f"<think>x</think><answer>{other}</answer><answer>{mc.answer}</answer>",
                  "<think>x</think><answer></answer>", f"<think>x</think>{mc.answer}"):
        t = run_episode(Scripted([reply]), mc, base_dir=base)
        assert t.correct is False, reply
    assert run_episode(Scripted(["<think>x</think><answer></answer>"]), mc, base_dir=base).finish_reason == "no_action"


def test_trajectory_save_load(tmp_path, toy_dataset):
    samples, base = toy_dataset
    t = run_episode(OraclePolicy(), samples[0], base_dir=base)
    path = t.save(tmp_path / "ep")
    data = json.loads(path.read_text())
    paths = [p["image"] for m in data["messages"] if isinstance(m["content"], list) for p in m["content"] if p["type"] == "image"]
    assert paths and all((tmp_path / "ep" / p).is_file() for p in paths)
    back = Trajectory.load(path)
    assert back.answer == t.answer and back.n_frames == t.n_frames and len(back.images()) == len(t.images())
    assert back.images()[0].size == t.images()[0].size


def test_answer_scoring(toy_dataset):
    samples, _ = toy_dataset
    mc = next(s for s in samples if s.is_mc)
    oe = next(s for s in samples if not s.is_mc)
    assert answer_is_correct(mc, mc.answer) and answer_is_correct(mc, f"({mc.answer.lower()})")
    assert answer_is_correct(mc, mc.options["ABCD".index(mc.answer)])  # the option's text names it too
    assert not answer_is_correct(mc, None) and not answer_is_correct(mc, "A B C D")
    assert not answer_is_correct(mc, f"{mc.answer} or {next(c for c in 'ABCD' if c != mc.answer)}")
    assert answer_is_correct(oe, "The " + oe.answer.upper() + ".")
    assert answer_is_correct(oe, "x", judge=lambda p, r, q="": 1.0) and not answer_is_correct(oe, None)


def test_noisy_oracle_pass_rate(toy_dataset):
    samples, base = toy_dataset
    few = samples[:4]  # MC and OE
    assert all(t.correct for t in run_episodes(NoisyOraclePolicy(1.0), few, base_dir=base, progress=False))
    assert not any(t.correct for t in run_episodes(NoisyOraclePolicy(0.0), few, base_dir=base, progress=False))
    with pytest.raises(ValueError, match="p_correct"):
        NoisyOraclePolicy(1.5)


def test_cli_episode(tmp_path, real_samples):
    from seekerlite.cli import main

    samples, base = real_samples
    out = tmp_path / "ep"
    assert main(["episode", "--sample", str(base / "vtest_samples.jsonl"), "--index", "0", "--policy", "oracle",
                 "--out", str(out)]) == 0
    assert (out / "trajectory.json").is_file() and (out / "trajectory.png").stat().st_size > 10_000
    assert main(["episode", "--sample", str(base / "vtest_samples.jsonl"), "--index", "99", "--out", str(out)]) == 2
    assert main(["episode", "--sample", str(tmp_path / "nope.jsonl"), "--out", str(out)]) == 2


def test_chat_dataset_round_trip(tmp_path, toy_dataset):
    from seekerlite.trajectory import load_chat_dataset, save_chat_dataset

    samples, base = toy_dataset
    trajs = run_episodes(OraclePolicy(), samples[:3], base_dir=base, progress=False)
    path = save_chat_dataset(trajs[:2], tmp_path / "sft")
    save_chat_dataset(trajs[2:], tmp_path / "sft", append=True)
    recs = load_chat_dataset(path)
    assert [r["sample_id"] for r in recs] == [t.sample_id for t in trajs]
    for r, t in zip(recs, trajs):
        assert [m["role"] for m in r["messages"]] == [m["role"] for m in t.messages]
        got = [p["image"] for m in r["messages"] if isinstance(m["content"], list) for p in m["content"] if p["type"] == "image"]
        assert [im.size for im in got] == [im.size for im in t.images()]
    raw = load_chat_dataset(path, load_images=False)
    assert all(isinstance(p["image"], str) for m in raw[0]["messages"] if isinstance(m["content"], list)
               for p in m["content"] if p["type"] == "image")
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: not a chat record"):
        load_chat_dataset(tmp_path / "bad.jsonl")


def test_oracle_look_runs_the_oracles_crop_then_the_answerer(toy_dataset):
    """``oracle-look:SPEC``: the first turn is the oracle's crop_video (never a re-view), every later turn is SPEC's;
    a batched answerer is asked in one batch for the episodes that reached it."""
    from seekerlite.policies import OracleLookPolicy, make_policy

    samples, base = toy_dataset
    picked = samples[:6]
    policy, env = make_policy("oracle-look:random", EnvConfig())
    assert isinstance(policy, OracleLookPolicy) and policy.name == "oracle-look:random" and env == EnvConfig()
    oracle = run_episodes(OraclePolicy(seed=0, p_view_prompt=0.0), picked, env, base_dir=str(base), progress=False)
    looked = run_episodes(policy, picked, env, base_dir=str(base), progress=False)
    for o, t in zip(oracle, looked, strict=True):
        assert t.turns[0].tool_calls == o.turns[0].tool_calls and t.turns[0].tool_calls[0]["name"] == "crop_video"
        thinks = ("<think>I will guess.</think>", "<think>Look again.</think>", "<think>Let me look.</think>")
        assert t.turns[1:] and all(x.text.startswith(thinks) for x in t.turns[1:])  # RandomPolicy's own replies

    class Batched:
        name, calls = "batched", []

        def act_batch(self, batch, envs):
            self.calls.append(len(batch))
            return [PolicyReply("<think>x</think><answer>A</answer>") for _ in batch]

    answerer = Batched()
    trajs = run_episodes(OracleLookPolicy(answerer), picked, env, base_dir=str(base), batch_size=4, progress=False)
    assert answerer.calls == [4, 2] and all(t.answer == "A" and t.n_tool_calls == 1 for t in trajs)


def test_oracle_names_the_marks_cell_and_prefers_it(tmp_path):
    """The oracle's crop think says where the mark is (the pretraining's ``cell`` answer) and the region it crops;
    the region repeats the last cell named. Among crops holding the instance as well, the mark's cell wins: the
    agreement between the crop's cell and the mark's is higher with ``prefer`` than without, on a tool world."""
    from seekerlite.config import EnvConfig
    from seekerlite.data import load_samples
    from seekerlite.env import VideoSeekerEnv
    from seekerlite.policies import OraclePolicy, run_episodes
    from seekerlite.policies.scripted import mark_cell, zoom_plan
    from seekerlite.regions import parse_cell
    from seekerlite.toyworld import TOOL_TASKS

    samples, base = load_samples("toy:8@7", out_dir=tmp_path, families=TOOL_TASKS)
    env = VideoSeekerEnv(EnvConfig(), base_dir=base)
    same = {None: 0, "mark": 0}
    zoomed = []
    for s in samples:
        env.reset(s)
        mark = mark_cell(s, env)
        plain, preferred = zoom_plan(s, env), zoom_plan(s, env, prefer=mark)
        if plain is None:
            continue
        zoomed.append(s)
        same[None] += plain[2] == mark
        same["mark"] += preferred[2] == mark
    assert zoomed and same["mark"] > same[None]
    trajs = run_episodes(OraclePolicy(seed=0, p_view_prompt=0.0), zoomed, EnvConfig(), base_dir=str(base),
                         progress=False)
    for s, t in zip(zoomed, trajs, strict=True):
        env.reset(s)
        call = t.messages[2]
        region = call["tool_calls"][0]["function"]["arguments"].get("region")
        if s.task not in OraclePolicy.ZOOM_TASKS:
            assert region is None and "look closer." in call["content"]
            continue
        cell = parse_cell(region)  # written " <cell>" (regions.cell_argument)
        assert region == " " + cell
        assert call["content"].startswith(f"<think>The marked object is in the {mark_cell(s, env)} cell.")
        assert call["content"].endswith("there.</think>" if cell == mark_cell(s, env) else f"the {cell} cell.</think>")
        assert f"region {cell} (pixels" in t.messages[3]["content"][0]["text"]  # the tool's text names it plainly
        assert t.correct
