"""The one judge: hedged answers are wrong everywhere (judge, reward, episode loop, evaluation), the GRPO reward and
the evaluation verdict agree on any reply (property test), the OE judges, and V2P-Bench's first-character rule."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import fake_openai_server
from hypothesis import find, given, settings
from hypothesis import strategies as st

from seekerlite.config import EnvConfig
from seekerlite.env import VideoSeekerEnv
from seekerlite.evaluate import EvalConfig, evaluate
from seekerlite.grammar import final_answer, render_tool_call
from seekerlite.judge import (
    LLMJudge,
    RuleJudge,
    answer_is_correct,
    is_correct,
    make_judge,
    mc_letter,
    normalize_text,
    token_f1,
    v2p_letter,
)
from seekerlite.policies import PolicyReply, run_episode
from seekerlite.schema import Sample
from seekerlite.train.rewards import accuracy_reward, episode_correct

OPTIONS = ["red", "green", "blue", "yellow"]
HEDGED = ["A B C D", "A or B", "A. green", "A, B", "(A) or (B)"]
RIGHT = ["A", "(a)", "A.", "A. red", "red"]
CROP = {"start_time": 0.0, "end_time": 1.0}


class Scripted:
    """Replays fixed replies, then ends the episode with a reply that has neither a tool call nor an answer."""

    name = "scripted"

    def __init__(self, replies):
        self.replies, self.given = list(replies), []

    def act(self, messages, env):
        text = self.replies.pop(0) if self.replies else "<think>done</think>"
        self.given.append(text)
        return PolicyReply(text)


@pytest.fixture(scope="module")
def toy_mc(toy_dataset):
    """A real toy sample (its video) asked as MC with key "A" over OPTIONS, and the toy world's base folder."""
    samples, base = toy_dataset
    return replace(next(s for s in samples if s.is_mc), options=OPTIONS, answer="A"), base


def verdicts(answer: str, sample: Sample, base) -> dict[str, bool]:
    """Whether `answer` is right, asked of every place that decides it."""
    reply = f"<think>x</think><answer>{answer}</answer>"
    traj = run_episode(Scripted([reply]), sample, base_dir=base)
    result = evaluate(Scripted([reply]), [sample], base, EvalConfig(n_bootstrap=0), progress=False)
    return {
        "judge.is_correct": is_correct(answer, "A", OPTIONS),
        "judge.answer_is_correct": answer_is_correct(sample, answer),
        "rewards.accuracy_reward": accuracy_reward([reply], answer=["A"], options=[OPTIONS]) == [1.0],
        "Trajectory.correct": traj.correct,
        "evaluate": result.records[0].correct and result.summary["overall"]["accuracy"] == 1.0,
    }


@pytest.mark.parametrize("answer", HEDGED)
def test_hedged_answers_are_wrong_everywhere(answer, toy_mc):
    got = verdicts(answer, *toy_mc)
    assert not any(got.values()), got


@pytest.mark.parametrize("answer", RIGHT)
def test_right_answers_are_right_everywhere(answer, toy_mc):
    got = verdicts(answer, *toy_mc)
    assert all(got.values()), got


def test_an_answer_next_to_a_tool_call_is_a_hedge_everywhere(toy_mc):
    """Turn 1 looks and answers "B", turn 2 answers "A": two answers, wrong in the loop, evaluation and reward."""
    sample, base = toy_mc
    replies = [f"<think>look</think>\n{render_tool_call('crop_video', CROP)}<answer>B</answer>",
               "<think>x</think><answer>A</answer>"]
    traj = run_episode(Scripted(replies), sample, base_dir=base)
    assert traj.n_tool_calls == 1 and traj.answer is None and traj.correct is False
    assert "<answer>B</answer>" in traj.messages[2]["content"]  # the transcript keeps what the reply said
    result = evaluate(Scripted(replies), [sample], base, EvalConfig(n_bootstrap=0), progress=False)
    assert result.records[0].correct is False
    raw = [{"role": "assistant", "content": replies[0]}, traj.messages[3], {"role": "assistant", "content": replies[1]}]
    assert accuracy_reward([raw], answer=["A"], options=[OPTIONS]) == [0.0]
    assert accuracy_reward([traj.messages[2:]], answer=["A"], options=[OPTIONS]) == [0.0]


# ---------------------------------------------------------------------------------------------- mc_letter

def test_mc_letter_is_strict():
    opts = ["red", "blue", "green"]
    # the lenient normalize_choice accepted all of these too; strictness shows on the hedges below
    assert [mc_letter(a, opts) for a in ["B", "b", "(c)", "A. red", "Blue.", "purple", "D", ""]] == \
        ["B", "B", "C", "A", "B", None, None, None]
    assert [mc_letter(a, opts) for a in ["A or B", "A B C", "A, B", "B. red", "(A) or (B)", "AB", "A:", "c) green"]] == \
        [None, None, None, None, None, None, "A", "C"]
    assert mc_letter("the red", ["the red", "red"]) == "A" and mc_letter("Red", ["red", "RED"]) is None  # ambiguous text
    assert not is_correct(None, "A", opts) and not is_correct("", "A", opts)


def test_oe_verdict_uses_the_judge():
    assert is_correct("It turns red.", "red") and not is_correct("red or blue", "red")
    assert is_correct("anything", "red", judge=lambda p, r, q="": 1.0)
    assert not is_correct(None, "red", judge=lambda p, r, q="": 1.0)
    oe = Sample(id="o", video_path="v.mp4", question="What colour?", answer="red")
    assert answer_is_correct(oe, "red") and not answer_is_correct(oe, "blue")


# ---------------------------------------------------------------------------------------------- property: reward == evaluation

LETTER_ETC = ["A", "B", "C", "D", "E", *OPTIONS, "or", ",", " ", "(", ")", "."]
TAGS = ["<answer>", "</answer>", "<think>", "</think>"]
CALLS = [render_tool_call("crop_video", CROP), render_tool_call("view_visual_prompt", {}),
         "<tool_call>{'name': 'crop_video'}</tool_call>", "<tool_call>not json</tool_call>"]
fragment = st.one_of(st.sampled_from(LETTER_ETC + TAGS + CALLS), st.text(max_size=5))
free_reply = st.lists(fragment, max_size=12).map("".join)
inner = st.lists(st.sampled_from(LETTER_ETC), min_size=1, max_size=5).map("".join)
shaped_reply = st.builds(lambda think, ans, tail: f"<think>{think}</think><answer>{ans}</answer>{tail}",
                         st.sampled_from(["x", "", "hmm <answer>B</answer>"]), inner,
                         st.sampled_from(["", "", " because", "<answer>B</answer>", CALLS[0]]))
reply = st.one_of(shaped_reply, free_reply)
trl_call = st.builds(lambda extra: {"role": "assistant", "content": f"<think>look</think>{extra}",
                                    "tool_calls": [{"type": "function", "function": {"name": "crop_video", "arguments": CROP}}]},
                     st.sampled_from(["", "<answer>A</answer>", " ok"]))
TOOL_MSG = {"role": "tool", "name": "crop_video", "content": [{"type": "text", "text": "4 frames from 0.0 to 1.0 seconds:"}]}
completion = st.one_of(
    reply,  # one turn, as a plain string
    reply.map(lambda r: [{"role": "assistant", "content": r}]),
    st.tuples(st.one_of(reply.map(lambda r: {"role": "assistant", "content": r}), trl_call), reply)
      .map(lambda t: [t[0], TOOL_MSG, {"role": "assistant", "content": t[1]}]),  # two turns
)
MC = Sample(id="mc", video_path="v.mp4", question="What colour is it?", options=OPTIONS, answer="A")
OE = Sample(id="oe", video_path="v.mp4", question="What colour is it?", answer="red")


@settings(max_examples=200, deadline=None)
@given(completion)
def test_reward_and_evaluation_verdict_agree(c):
    pred = final_answer(c)
    for s in (MC, OE):
        verdict = is_correct(pred, s.answer, s.options, s.question)
        assert accuracy_reward([c], answer=[s.answer], options=[s.options], question=[s.question]) == [float(verdict)]
        assert episode_correct(c, s.answer, s.options, s.question) == verdict == answer_is_correct(s, pred)
        if verdict:  # a right answer is one clean final <answer>
            assert pred is not None and pred.strip() == pred and pred


def test_the_strategy_reaches_right_and_wrong_answers():
    assert is_correct(final_answer(find(completion, lambda c: is_correct(final_answer(c), "A", OPTIONS))), "A", OPTIONS)
    hedge = find(completion, lambda c: final_answer(c) is not None and not is_correct(final_answer(c), "A", OPTIONS)
                 and "A" in final_answer(c))
    assert accuracy_reward([hedge], answer=["A"], options=[OPTIONS]) == [0.0]


call_reply = st.builds(lambda call, tail: f"<think>look</think>\n{call}{tail}", st.sampled_from(CALLS),
                       st.one_of(st.sampled_from(["", "<answer>B</answer>", "<answer>A</answer>", " ok"]), free_reply))


_ENVS: dict = {}


def _shared_env(cfg: EnvConfig) -> VideoSeekerEnv:
    """One environment for every example (its video stays open between episodes)."""
    return _ENVS.setdefault(repr(cfg), VideoSeekerEnv(cfg))


@settings(max_examples=100, deadline=None)
@given(st.tuples(st.one_of(call_reply, reply), reply))
def test_the_episode_loop_gives_the_rewards_verdict(toy_mc, replies):
    """Play the replies through the real loop (tools run on a toy video): the trajectory's answer and verdict are
    the reward's, on the loop's own transcript and on the same replies read as raw text."""
    mc, base = toy_mc
    env_cfg = EnvConfig()
    env = _shared_env(env_cfg)
    for s in (mc, replace(mc, options=None, answer="red")):
        policy = Scripted(replies)
        traj = run_episode(policy, s, env_cfg, env=env, base_dir=base)
        comp = traj.messages[2:]  # after [system, user]
        texts = iter(t.text for t in traj.turns)
        raw = [{"role": "assistant", "content": next(texts)} if m["role"] == "assistant" else m for m in comp]
        kw = dict(answer=[s.answer], options=[s.options], question=[s.question])
        assert traj.answer == final_answer(comp) == final_answer(raw), (replies, comp)
        assert [float(bool(traj.correct))] == accuracy_reward([comp], **kw) == accuracy_reward([raw], **kw), replies


# ---------------------------------------------------------------------------------------------- OE judges

def test_oe_rule_judge():
    j = RuleJudge()
    assert j("Green.", "green") == 1.0 and j("it turns green", "green") == 1.0 and j("grey", "gray") == 1.0
    assert j("two", "2") == 1.0 and j("twice", "2") == 1.0 and j("3", "2") == 0.0 and j("2 or 3", "2") == 0.0
    assert j("at 2.4 s", "at about 2.3 s") == 1.0 and j("at about 4.1 s", "at about 2.3 s") == 0.0
    assert j("yes, through the left edge", "yes, through the left edge") == 1.0
    assert j("no, it stays in the frame", "yes, through the left edge") == 0.0
    assert j("the blue square", "the blue square") == 1.0 and j("the red square", "the blue square") == 0.0
    assert j("red or green", "green") == 0.0 and j("green, maybe blue", "green") == 0.0  # hedging between colours
    assert token_f1("It turns Blue.", "blue") == pytest.approx(2 / 3) and normalize_text("The  Red circle.") == "red circle"
    oe = accuracy_reward([f"<think>x</think><answer>{a}</answer>" for a in ("It becomes green", "red")],
                         answer=["green"] * 2, options=[None, None])
    assert oe == [1.0, 0.0]


def _judge_reply(body):
    verdict = "Yes." if "Candidate answer: emerald" in body["messages"][0]["content"] else "No"
    return {"role": "assistant", "content": verdict}


def test_llm_judge_openai_compatible_endpoint():
    with fake_openai_server(_judge_reply) as (url, seen):
        judge = make_judge(f"{url}#judge-model")
        assert judge("emerald", "green", "What colour?") == 1.0 and judge("red", "green") == 0.0
        assert judge("emerald", "green", "What colour?") == 1.0 and len(seen) == 2  # cached
        assert seen[0]["model"] == "judge-model"
        got = accuracy_reward(["<think>x</think><answer>emerald</answer>"], answer=["green"], options=[None],
                              question=["What colour?"], judge=judge)
        assert got == [1.0]
        mc = accuracy_reward(["<think>x</think><answer>emerald</answer>"], answer=["B"], options=[OPTIONS], judge=judge)
        assert mc == [0.0] and len(seen) == 2  # MC never asks the judge: the strict letter decides


def test_llm_judge_falls_back_to_rules_on_unclear_replies():
    judge = LLMJudge(lambda prompt: "hmm, maybe")
    assert judge("green", "green") == 1.0 and judge("red", "green") == 0.0
    assert LLMJudge(lambda prompt: "hmm", fallback=None)("green", "green") == 0.0


def test_llm_judge_local_model_runs():
    """Any local chat model can judge; the tiny model's reply is noise, so the verdict falls back to the rules."""
    from seekerlite.models import ensure_tiny_model

    judge = make_judge(f"local:{ensure_tiny_model()}")
    assert judge("green", "green") in (0.0, 1.0)


def test_make_judge_specs():
    assert isinstance(make_judge("rule"), RuleJudge) and make_judge("rule", f1_threshold=0.9).threshold == 0.9
    custom = RuleJudge(threshold=0.1)
    assert make_judge(custom) is custom
    with pytest.raises(ValueError, match="unknown judge"):
        make_judge("gpt")


# ---------------------------------------------------------------------------------------------- V2P-Bench's rule

def test_v2p_letter_is_the_first_character():
    assert v2p_letter("B. The man") == "B" and v2p_letter(" c") == "C" and v2p_letter("D") == "D"
    assert v2p_letter("The answer is B") is None and v2p_letter("(A)") is None  # first character only
    assert v2p_letter("") is None and v2p_letter(None) is None and v2p_letter("   ") is None
    assert v2p_letter("E", n_options=4) is None and v2p_letter("E", n_options=5) == "E"
    assert v2p_letter("Answer: B") == "A"  # the benchmark's rule, quirks included
    # not the judge: the first-character rule takes hedges the strict letter refuses
    assert v2p_letter("A or B", 4) == "A" and mc_letter("A or B", OPTIONS) is None
