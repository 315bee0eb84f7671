"""The reply grammar: parsing replies (fuzzed: nothing escapes), linear-time reading, per-turn and per-episode checks."""

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seekerlite.grammar import (
    ANSWER_CLOSE,
    ANSWER_OPEN,
    THINK_CLOSE,
    THINK_OPEN,
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    assistant_text,
    assistant_turn,
    final_answer,
    format_problems,
    parse_reply,
    render_tool_call,
    reply_ok,
    turn_problems,
)
from seekerlite.train.rewards import accuracy_reward, format_reward

CROP = {"start_time": 1.0, "end_time": 3.0}
OPTIONS = ["red", "green", "blue", "yellow"]


# ---------------------------------------------------------------------------------------------- parsing

def test_parse_tool_call_and_answer():
    args = {"start_time": 1.5, "end_time": 3.0, "region": [0, 0, 500, 500]}
    r = parse_reply("<think>look</think>\n" + render_tool_call("crop_video", args))
    assert r.think == "look" and r.answer is None and not r.errors and not r.is_final
    assert [(c.name, c.arguments) for c in r.tool_calls] == [("crop_video", args)]
    r = parse_reply("<think>ok</think><answer>C</answer>")
    assert r.is_final and r.answer == "C" and r.n_answers == 1
    r = parse_reply("<answer>A</answer> then <answer>B</answer>")
    assert r.n_answers == 2 and r.answer == "B"
    assert parse_reply("<think>maybe <answer>A</answer></think><answer>B</answer>").n_answers == 2  # hedging in think


def test_parse_malformed_tool_calls():
    # single quotes / python literal, trailing comma, missing closing brace, OpenAI wrapper, string arguments
    cases = [
        "<tool_call>{'name': 'crop_video', 'arguments': {'start_time': 1, 'end_time': 2}}</tool_call>",
        '<tool_call>{"name": "crop_video", "arguments": {"start_time": 1, "end_time": 2,},}</tool_call>',
        '<tool_call>{"name": "crop_video", "arguments": {"start_time": 1, "end_time": 2}</tool_call>',
        '<tool_call>{"function": {"name": "crop_video", "arguments": "{\\"start_time\\": 1, \\"end_time\\": 2}"}}</tool_call>',
    ]
    for text in cases:
        r = parse_reply(text)
        assert [(c.name, c.arguments) for c in r.tool_calls] == [("crop_video", {"start_time": 1, "end_time": 2})], text
    bad = parse_reply('<tool_call>{"arguments": {}}</tool_call>')
    assert not bad.tool_calls and "no \"name\"" in bad.errors[0]
    bad = parse_reply("<tool_call>not json at all")
    assert not bad.tool_calls and any("could not parse" in e for e in bad.errors) and any("unbalanced" in e for e in bad.errors)
    assert "not closed" in parse_reply("<answer>B").errors[0]


def test_assistant_turn_round_trip():
    msg = assistant_turn("zoom in", ("crop_video", {"start_time": 0.0, "end_time": 2.0}))
    text = assistant_text(msg)
    r = parse_reply(text)
    assert r.think == "zoom in" and r.tool_calls[0].arguments == {"start_time": 0.0, "end_time": 2.0}
    assert parse_reply(assistant_text(assistant_turn("done", answer="A"))).answer == "A"
    assert reply_ok(text, last=False) and reply_ok(assistant_text(assistant_turn("done", answer="A")), last=True)


def test_final_answer_is_the_one_final_answer():
    assert final_answer("<think>x</think><answer> B </answer>") == "B"
    assert final_answer("<think>x</think><answer>A</answer><answer>B</answer>") is None  # two answers
    assert final_answer("<think>x</think><answer></answer>") is None  # empty
    assert final_answer("<think>x</think><answer>B") is None  # unclosed
    assert final_answer("<think>x</think><answer>B</answer>" + render_tool_call("crop_video", CROP)) is None
    call = {"role": "assistant", "content": "<think>x</think>",
            "tool_calls": [{"type": "function", "function": {"name": "crop_video", "arguments": CROP}}]}
    tool = {"role": "tool", "content": [{"type": "text", "text": "frames"}]}
    last = {"role": "assistant", "content": "<think>y</think><answer>B</answer>"}
    assert final_answer([call, tool, last]) == "B"
    assert final_answer([call, tool]) is None  # ends on a tool turn
    assert final_answer([dict(call, content="<think>x</think><answer>A</answer>"), tool, last]) is None  # an early answer
    assert final_answer([]) is None


_tagged = st.sampled_from([TOOL_CALL_OPEN, TOOL_CALL_CLOSE, ANSWER_OPEN, ANSWER_CLOSE, THINK_OPEN, THINK_CLOSE,
                           "{", "}", '"name"', '"arguments"', ":", ",", '"crop_video"', "[", "]", "'", "\\", "\n"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_tagged, st.text(max_size=8)), max_size=30))
def test_parser_fuzz_never_raises(pieces):
    text = "".join(pieces)
    r = parse_reply(text)
    for c in r.tool_calls:
        assert isinstance(c.name, str) and isinstance(c.arguments, dict)
    assert r.answer is None or isinstance(r.answer, str)
    assert isinstance(format_problems(text), list) and isinstance(turn_problems(text), list)
    answer = final_answer(text)
    assert answer is None or (isinstance(answer, str) and answer)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["start_time", "end_time", "region", "x"]),
                       st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(), st.text(max_size=5),
                                 st.lists(st.integers(), max_size=5), st.none()), max_size=4))
def test_well_formed_calls_round_trip(args):
    r = parse_reply(render_tool_call("crop_video", args))
    assert not r.errors and r.tool_calls[0].arguments == json.loads(json.dumps(args))


# ---------------------------------------------------------------------------------------------- linear time, no recursion
# Before the refactor, protocol.py found tags with lazy regular expressions (_ANSWER_RE = <answer>(.*?)</answer>,
# _THINK_RE likewise): from every unclosed <answer> / <think> the match ran to the end of the text and failed, so
# these replies took time quadratic in their length (minutes for 1 MB). The one-scan reader is linear.

MB = 1_000_000
BABBLE = {
    "unclosed <answer>": ANSWER_OPEN * (MB // len(ANSWER_OPEN)),
    "unclosed <think>": THINK_OPEN * (MB // len(THINK_OPEN)),
    "unclosed <tool_call>": TOOL_CALL_OPEN * (MB // len(TOOL_CALL_OPEN)),
    "all three unclosed": (ANSWER_OPEN + THINK_OPEN + TOOL_CALL_OPEN) * (MB // 26),
    "think, then unclosed <answer>": "<think>x</think>" + ANSWER_OPEN * (MB // len(ANSWER_OPEN)),
    "stray closing tags": ANSWER_CLOSE * (MB // len(ANSWER_CLOSE)),
    "nested braces in a tool call": f"<think>x</think>{TOOL_CALL_OPEN}" + "{" * (MB // 2) + "}" * (MB // 2) + TOOL_CALL_CLOSE,
    "unclosed braces in a tool call": f"<think>x</think>{TOOL_CALL_OPEN}" + '{"name": ' * (MB // 9),
}


@pytest.mark.parametrize("name", list(BABBLE))
@pytest.mark.parametrize("fn", [parse_reply, format_problems, final_answer], ids=lambda f: f.__name__)
def test_reading_a_megabyte_of_babble_is_fast(name, fn):
    text = BABBLE[name]
    assert len(text) >= 0.99 * MB
    t0 = time.perf_counter()
    fn(text)
    assert time.perf_counter() - t0 < 1.0, f"{fn.__name__} on 1 MB of {name}"


DEEP = {
    "[ * 100000": "[" * 100_000,
    "[ * 10000 (under the size cap)": "[" * 10_000,
    "deep arguments": '{"name": "crop_video", "arguments": {"region": ' + "[" * 5000 + "]" * 5000 + "}}",
    "deep string arguments": '{"name": "crop_video", "arguments": "' + "[" * 5000 + '"}',
    "{ * 100000": "{" * 100_000,
}


@pytest.mark.parametrize("name", list(DEEP))
def test_deeply_nested_json_never_raises(name):
    text = f"<think>x</think>{TOOL_CALL_OPEN}\n{DEEP[name]}\n{TOOL_CALL_CLOSE}"
    r = parse_reply(text)
    assert not r.tool_calls and r.errors
    assert any("strict JSON" in p or "parse" in p or "characters long" in p for p in format_problems(text))
    assert format_reward([text]) == [0.0] and accuracy_reward([text], answer=["A"], options=[OPTIONS]) == [0.0]
    last = text + "<answer>A</answer>"
    assert accuracy_reward([last], answer=["A"], options=[OPTIONS]) == [0.0]  # a tool call in the last turn


def test_deep_structured_arguments_score_zero():
    """A TRL-parsed turn whose arguments nest deeper than json can render: the rewards score 0, never raise."""
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    turn = {"role": "assistant", "content": "<think>x</think>",
            "tool_calls": [{"type": "function", "function": {"name": "crop_video", "arguments": {"region": deep}}}]}
    comp = [turn, {"role": "tool", "content": "Error: bad"}, {"role": "assistant", "content": "<think>y</think><answer>A</answer>"}]
    assert format_reward([comp]) == [0.0]
    assert accuracy_reward([comp], answer=["A"], options=[OPTIONS]) == [0.0]  # unreadable: scores 0, never raises


# ---------------------------------------------------------------------------------------------- turn_problems / reply_ok

GOOD_CALL = f"<think>look</think>\n{render_tool_call('crop_video', CROP)}"
GOOD_ANSWER = "<think>it is green</think><answer>B</answer>"


def test_good_replies():
    assert turn_problems(GOOD_CALL, last=False) == [] and turn_problems(GOOD_ANSWER, last=True) == []
    assert reply_ok(GOOD_CALL) and reply_ok(GOOD_ANSWER)  # last=None: either role
    assert reply_ok(GOOD_CALL, last=False) and not reply_ok(GOOD_CALL, last=True)  # a last turn must answer
    assert reply_ok(GOOD_ANSWER, last=True) and not reply_ok(GOOD_ANSWER, last=False)  # an answer only at the end
    assert reply_ok(f"<think>look</think>{render_tool_call('view_visual_prompt', {})}", last=False)
    assert format_problems([{"role": "assistant", "content": GOOD_CALL},
                            {"role": "tool", "content": [{"type": "text", "text": "4 frames"}]},
                            {"role": "assistant", "content": GOOD_ANSWER}]) == []


@pytest.mark.parametrize("text, last, problem", [
    ("<think></think><answer>B</answer>", True, "empty <think>"),
    ("<think>  </think>" + render_tool_call("crop_video", CROP), False, "empty <think>"),
    ("<think>x</think><answer></answer>", True, "empty <answer>"),
    ("<think>x</think><answer> </answer>", True, "empty <answer>"),
    ("<think>x</think><answer>A</answer><answer>B</answer>", True, "2 answers in one turn"),
    ("<think>x</think>so<answer>B</answer>", True, "text outside the tags"),
    ("<think>x</think>" + render_tool_call("crop_video", CROP) + " ok", False, "text outside the tags"),
    ("<think>x</think><answer>B</answer> because", True, "text after </answer>"),
    ("</think><think>x</think><answer>B</answer>", True, "stray closing tag </think>"),
    ("<think>x</think></tool_call><answer>B</answer>", True, "stray closing tag </tool_call>"),
    ("<think>x</think><tool_call>\n<answer>B</answer>\n</tool_call>", False, "<answer> inside a tool call"),
    ("<think>x</think>" + render_tool_call("zoom", {}), False, "unknown tool 'zoom'"),
    ("<think>x</think><tool_call>{'name': 'crop_video', 'arguments': {}}</tool_call>", False, "not strict JSON"),
    ('<think>x</think><tool_call>{"name": "crop_video", "arguments": {"start_time": 1,}}</tool_call>', False,
     "not strict JSON"),
    ("<think>x</think>" + render_tool_call("crop_video", CROP), True, "ends on a tool call"),
    ("<think>x</think><answer>B</answer>", False, "an <answer> before the last turn"),
    ("<think>x</think>I think B", True, "neither a tool call nor an <answer>"),
    ("<answer>B</answer>", True, "does not start with <think>"),
    ("<think>x <answer>A</answer></think><answer>B</answer>", True, "tags inside <think>"),
])
def test_turn_problems(text, last, problem):
    probs = turn_problems(text, last=last)
    assert any(problem in p for p in probs), probs
    assert not reply_ok(text, last=last)
    if problem.startswith(("empty", "2 answers", "text", "stray", "unknown", "not strict", "does not", "tags")):
        assert not reply_ok(text)  # wrong in either role


def test_format_problems_number_the_turns():
    bad = [{"role": "assistant", "content": "<think></think>" + render_tool_call("crop_video", CROP)},
           {"role": "tool", "content": [{"type": "text", "text": "4 frames"}]},
           {"role": "assistant", "content": "<think>x</think><answer></answer>"}]
    probs = format_problems(bad)
    assert "turn 0: empty <think>" in probs and "turn 1: empty <answer>" in probs
    assert format_problems([]) == ["no assistant turn"]
