"""Each reward on crafted completions, good and adversarial, in the message format TRL hands reward functions.
The judges themselves (RuleJudge, LLMJudge, the strict MC letter) are tested in tests/test_judge.py."""

from __future__ import annotations

import pytest

from seekerlite.grammar import (
    count_tool_use,
    final_answer,
    format_problems,
    render_tool_call,
)
from seekerlite.train.rewards import (
    RewardConfig,
    accuracy_reward,
    episode_correct,
    format_reward,
    make_reward_funcs,
    parsimony_reward,
    parsimony_score,
    score_completion,
)

OPTIONS = ["red", "green", "blue", "yellow"]
CROP = {"start_time": 1.0, "end_time": 3.0}


def call(think: str = "look", name: str = "crop_video", args: dict | None = None, extra: str = "") -> dict:
    """An assistant turn as TRL parses it: text content + structured tool_calls."""
    return {"role": "assistant", "content": f"<think>{think}</think>{extra}",
            "tool_calls": [{"type": "function", "function": {"name": name, "arguments": CROP if args is None else args}}]}


def tool(frames: int = 4, error: str | None = None) -> dict:
    if error:
        return {"role": "tool", "name": "crop_video", "content": error}
    parts = [{"type": "text", "text": f"{frames} frames from 1.0 to 3.0 seconds:"}]
    for i in range(frames):
        parts += [{"type": "text", "text": f"<{1 + i / 2:.1f} seconds>"}, {"type": "image", "image": object()}]
    return {"role": "tool", "name": "crop_video", "content": parts}


def final(text: str) -> dict:
    return {"role": "assistant", "content": text}


def answer(a: str = "B") -> dict:
    return final(f"<think>It is green.</think><answer>{a}</answer>")


GOOD = [call(), tool(), answer()]
BLIND = [answer()]  # answers without looking
LOOK3 = [call(), tool(), call(), tool(), call(), tool(), answer()]


def scores(completion, ans="B", options=OPTIONS, cfg=None):
    return score_completion(completion, ans, options, "What colour?", cfg)


# ---------------------------------------------------------------------------------------------- good cases

def test_good_rollout_scores_full():
    s = scores(GOOD)
    assert (s["accuracy"], s["format"], s["parsimony"], s["total"]) == (1.0, 1.0, 1.0, 1.0)
    assert (s["tool_calls"], s["frames"]) == (1.0, 4.0)


def test_plain_string_completion_and_raw_tool_call_text():
    raw = f"<think>look</think>\n{render_tool_call('crop_video', CROP)}"
    assert format_problems([final(raw), tool(), answer()]) == []  # unparsed tool-call text reads the same
    assert accuracy_reward(["<think>x</think><answer>B</answer>"], answer=["B"], options=[OPTIONS]) == [1.0]


def test_mc_exact_option_match():
    cases = ("B", "(B)", "b.", "B. green", "green", "B. red", "A or B", "A B C D", "B, C", "(B) or (C)", "E", "")
    got = accuracy_reward([[answer(a)] for a in cases], answer=["B"] * len(cases), options=[OPTIONS] * len(cases))
    assert got == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]


def test_oe_accuracy():
    oe = accuracy_reward([[answer("It becomes green")], [answer("red")], [answer("green or red")]], answer=["green"] * 3,
                         options=[None] * 3)
    assert oe == [1.0, 0.0, 0.0]


def test_empty_or_missing_answers_earn_nothing():
    for comp in ([final("<think>x</think><answer></answer>")], [final("<think>x</think><answer>  </answer>")],
                 [final("<think>x</think>B")], [final("<think>x</think><answer>B")], [call(), tool()]):
        assert final_answer(comp) is None and not episode_correct(comp, "B", OPTIONS)
        assert scores(comp)["accuracy"] == 0.0 and scores(comp)["total"] == 0.0


def test_last_turn_tool_call_is_not_an_answer():
    """TRL's last allowed turn: its tool call is not run, so the rollout ends on an assistant turn with a call."""
    capped = [call(), tool(), call(extra="<answer>B</answer>")]
    assert final_answer(capped) is None and scores(capped)["total"] == 0.0
    assert any("ends on a tool call" in p for p in format_problems(capped))


# ---------------------------------------------------------------------------------------------- adversarial cases

def test_answer_without_looking_is_not_paid_more_than_looking_once():
    blind, once, thrice = scores(BLIND), scores(GOOD), scores(LOOK3)
    assert blind["total"] == once["total"] == 1.0  # the floor: the first call is free
    assert thrice["parsimony"] == pytest.approx(0.6) and thrice["total"] < once["total"]
    wrong_blind = scores([answer("A")])
    assert wrong_blind["accuracy"] == 0.0 and wrong_blind["parsimony"] == 0.0  # fast guessing earns no parsimony
    assert wrong_blind["total"] == pytest.approx(0.15)  # only format


def test_many_answers_earn_nothing():
    spam = [call(), tool(), final("<think>hedge</think><answer>A</answer><answer>B</answer><answer>C</answer>")]
    s = scores(spam)
    assert s["accuracy"] == 0.0 and s["format"] == 0.0 and s["total"] == 0.0
    assert any("answers" in p for p in format_problems(spam))
    across_turns = [call(extra="<answer>B</answer>"), tool(), answer("B")]  # an early answer plus a final one
    assert final_answer(across_turns) is None and scores(across_turns)["total"] == 0.0
    assert any("together with a tool call" in p for p in format_problems(across_turns))


def test_answer_inside_a_tool_call():
    hidden = [final('<think>x</think><tool_call>\n<answer>B</answer>\n</tool_call>')]
    assert final_answer(hidden) is None and accuracy_reward([hidden], answer=["B"], options=[OPTIONS]) == [0.0]
    assert any("inside a tool call" in p for p in format_problems(hidden))
    # as a JSON argument: TRL calls crop_video(answer="B"), the call fails, the episode ends on the tool turn
    as_arg = [call(args={"answer": "B"}), tool(error="{'error': \"crop_video() got an unexpected keyword argument 'answer'\"}")]
    s = scores(as_arg)
    assert s["accuracy"] == 0.0 and s["format"] == 0.0
    assert any("failed" in p for p in format_problems(as_arg))
    # an answer hidden in the tool call, then a proper answer: two answers -> nothing
    both = [final('<think>x</think><tool_call>{"name": "crop_video", "arguments": {"start_time": 0, "end_time": 1}}'
                  '<answer>B</answer></tool_call>'), tool(), answer("B")]
    assert scores(both)["format"] == 0.0


@pytest.mark.parametrize("completion, problem", [
    ([final("<answer>B</answer>")], "does not start with <think>"),
    ([final("<think></think><answer>B</answer>")], "empty <think>"),
    ([final("<think>a</think><answer></answer>")], "empty <answer>"),
    ([call(think=" "), tool(), answer()], "turn 0: empty <think>"),
    ([final("<think>a</think><think>b</think><answer>B</answer>")], "more than one <think>"),
    ([final("<think>a</think><answer>B</answer> and also C")], "text after </answer>"),
    ([final("Sure! <think>a</think><answer>B</answer>")], "does not start"),
    ([final("<think>a</think>hmm<answer>B</answer>")], "text outside the tags"),
    ([final("<think>a</think>I think B")], "neither a tool call nor an <answer>"),
    ([call(), tool()], "ends on a tool call"),
    ([call(name="zoom"), tool(error="{'error': 'Tool zoom not found.'}"), answer()], "unknown tool"),
    ([final('<think>a</think><tool_call>{"name": "crop_video", "arguments": {"start_time": 1,</tool_call>'), tool(), answer()],
     "not strict JSON"),
    ([final("<think>a</think><tool_call>{'name': 'crop_video', 'arguments': {}}</tool_call>"), tool(), answer()],
     "not strict JSON"),
    ([final(f"<think>a</think>{render_tool_call('crop_video', CROP)}{render_tool_call('view_visual_prompt', {})}"),
      tool(), tool(), answer()], "2 tool calls"),
    ([final("<think>a</think><answer>B")], "not closed"),
    ([], "no assistant turn"),
])
def test_format_catches(completion, problem):
    probs = format_problems(completion)
    assert any(problem in p for p in probs), probs
    assert format_reward([completion]) == [0.0]


def test_tool_errors_from_bad_times_are_not_format_errors():
    """A well-formed call with a time range outside the video is a semantic mistake, not a format one."""
    bad_range = [call(args={"start_time": 9.0, "end_time": 20.0}),
                 {"role": "tool", "content": [{"type": "text", "text": "Error: start_time 9 is outside the video"}]},
                 answer()]
    assert format_problems(bad_range) == []


# ---------------------------------------------------------------------------------------------- parsimony knobs

def test_parsimony_weights_and_floor():
    comps, kw = [BLIND, GOOD, LOOK3], dict(answer=["B"] * 3, options=[OPTIONS] * 3)
    assert parsimony_reward(comps, **kw) == pytest.approx([1.0, 1.0, 0.6])
    assert parsimony_reward(comps, **kw, free_calls=0) == pytest.approx([1.0, 0.8, 0.4])  # no floor: blind wins
    assert parsimony_reward(comps, **kw, frame_penalty=0.05, free_frames=4) == pytest.approx([1.0, 1.0, 0.2])
    assert parsimony_reward([[answer("A")]], answer=["B"], options=[OPTIONS], needs_correct=False) == [1.0]
    assert count_tool_use(LOOK3) == (3, 12)
    assert [parsimony_score(n, 0) for n in range(7)] == pytest.approx([1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0])
    assert parsimony_score(2, 20, free_calls=2, frame_penalty=0.05, free_frames=10) == pytest.approx(0.5)


def test_trl_signature_and_weights():
    cfg = RewardConfig(accuracy_weight=0.7, format_weight=0.2, parsimony_weight=0.1)
    funcs, weights = make_reward_funcs(cfg)
    assert [f.__name__ for f in funcs] == ["accuracy", "format", "parsimony"] and weights == [0.7, 0.2, 0.1]
    kwargs = dict(prompts=[[]] * 2, completion_ids=[[1], [2]], answer=["B", "green"], options=[OPTIONS, None],
                  question=["q", "q"], sample=["{}", "{}"], environments=[None, None], trainer_state=None,
                  log_metric=lambda *a: None, log_extra=lambda *a: None)
    outs = [f(completions=[GOOD, [answer("green")]], **kwargs) for f in funcs]
    assert outs == [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
    assert scores(GOOD, cfg=cfg)["total"] == pytest.approx(1.0)


def test_rewards_never_raise(caplog):
    odd = [[{"role": "assistant", "content": None}], [{"role": "assistant"}], [{"content": "x"}], "", [42]]
    n = len(odd)
    assert accuracy_reward(odd, answer=["B"] * n, options=[OPTIONS] * n) == [0.0] * n
    assert format_reward(odd) == [0.0] * n
    assert parsimony_reward(odd, answer=["B"] * n, options=[OPTIONS] * n) == [0.0] * n
    from seekerlite.train.rewards import reward_failures

    before = reward_failures().get("parsimony: no answer column", 0)
    assert parsimony_reward([GOOD]) == [0.0]  # no answer column: nothing is correct; counted, never raised
    assert reward_failures()["parsimony: no answer column"] == before + 1


def test_a_given_judge_decides_oe_only():
    always = lambda prediction, reference, question="": 1.0
    funcs, _ = make_reward_funcs(RewardConfig(), judge=always)
    acc = funcs[0]([[answer("anything")], [answer("A or B")]], answer=["green", "B"], options=[None, OPTIONS])
    assert acc == [1.0, 0.0]  # OE: the judge says yes; MC: the strict letter says no
