"""Protocol: building turns, parsing replies (with fuzzing: nothing escapes), answer normalisation."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from seekerlite.protocol import (
    ANSWER_OPEN, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, assistant_text, assistant_turn, build_first_turn,
    normalize_choice, parse_reply, question_text, render_tool_call, timestamp_text,
)
from seekerlite.schema import Sample


def _mc():
    return Sample(id="q", video_path="v.mp4", question="What colour does it turn?", options=["red", "blue", "green"], answer="B")


def test_first_turn_layout():
    msgs = build_first_turn(_mc(), "VP", 1.5, [(0.5, "f0"), (2.5, "f1")], duration=5.0)
    assert [m["role"] for m in msgs] == ["system", "user"]
    parts = msgs[1]["content"]
    images = [p["image"] for p in parts if p["type"] == "image"]
    assert images == ["VP", "f0", "f1"]
    texts = [p["text"] for p in parts if p["type"] == "text"]
    assert "<1.5 seconds>" in texts[0] and "5.0 seconds" in texts[0]
    assert texts[-1].startswith("Question: What colour") and "B. blue" in texts[-1]
    # each overview image is directly preceded by its timestamp label
    i = parts.index({"type": "image", "image": "f1"})
    assert parts[i - 1] == {"type": "text", "text": timestamp_text(2.5)}
    oe = Sample(id="o", video_path="v", question="Q?", answer="blue")
    assert "short phrase" in question_text(oe) and "A." not in question_text(oe)


def test_parse_tool_call_and_answer():
    args = {"start_time": 1.5, "end_time": 3.0, "region": [0, 0, 500, 500]}
    r = parse_reply("<think>look</think>\n" + render_tool_call("crop_video", args))
    assert r.think == "look" and r.answer is None and not r.errors
    assert [(c.name, c.arguments) for c in r.tool_calls] == [("crop_video", args)]
    r = parse_reply("<think>ok</think><answer>C</answer>")
    assert r.is_final and r.answer == "C" and r.n_answers == 1
    r = parse_reply("<answer>A</answer> then <answer>B</answer>")
    assert r.n_answers == 2 and r.answer == "B"


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


def test_normalize_choice():
    opts = ["red", "blue", "green"]
    assert [normalize_choice(a, opts) for a in ["B", "b", "(c)", "A. red", "Blue.", "purple", "D", "", None]] == \
        ["B", "B", "C", "A", "B", None, None, None, None]


_tagged = st.sampled_from([TOOL_CALL_OPEN, TOOL_CALL_CLOSE, ANSWER_OPEN, "</answer>", "<think>", "</think>",
                           "{", "}", '"name"', '"arguments"', ":", ",", '"crop_video"', "[", "]", "'", "\\", "\n"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_tagged, st.text(max_size=8)), max_size=30))
def test_parser_fuzz_never_raises(pieces):
    r = parse_reply("".join(pieces))
    for c in r.tool_calls:
        assert isinstance(c.name, str) and isinstance(c.arguments, dict)
    assert r.answer is None or isinstance(r.answer, str)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["start_time", "end_time", "region", "x"]),
                       st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(), st.text(max_size=5),
                                 st.lists(st.integers(), max_size=5), st.none()), max_size=4))
def test_well_formed_calls_round_trip(args):
    r = parse_reply(render_tool_call("crop_video", args))
    assert not r.errors and r.tool_calls[0].arguments == json.loads(json.dumps(args))
