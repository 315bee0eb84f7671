"""Protocol: the conversation's opening (system prompt, first user turn). Reading replies is tests/test_grammar.py."""

from seekerlite.protocol import (
    SYSTEM_PROMPT,
    build_first_turn,
    question_text,
    timestamp_text,
)
from seekerlite.schema import Sample


def _mc():
    return Sample(id="q", video_path="v.mp4", question="What colour does it turn?", options=["red", "blue", "green"], answer="B")


def test_first_turn_layout():
    msgs = build_first_turn(_mc(), "VP", 1.5, [(0.5, "f0"), (2.5, "f1")], duration=5.0)
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"] == [{"type": "text", "text": SYSTEM_PROMPT}]
    parts = msgs[1]["content"]
    images = [p["image"] for p in parts if p["type"] == "image"]
    assert images == ["VP", "f0", "f1"]
    texts = [p["text"] for p in parts if p["type"] == "text"]
    assert "<1.5 seconds>" in texts[0] and "5.0 seconds" in texts[0]
    assert "(2 frames)" in texts[1]
    assert texts[-1].startswith("Question: What colour") and "B. blue" in texts[-1]
    # each overview image is directly preceded by its timestamp label
    i = parts.index({"type": "image", "image": "f1"})
    assert parts[i - 1] == {"type": "text", "text": timestamp_text(2.5)}


def test_first_turn_without_system_or_prompt_time():
    msgs = build_first_turn(_mc(), "VP", None, [], duration=3.0, system=False)
    assert [m["role"] for m in msgs] == ["user"]
    first = msgs[0]["content"][0]["text"]
    assert first.endswith("The marked instance:") and "seconds>" not in first
    assert [p["image"] for p in msgs[0]["content"] if p["type"] == "image"] == ["VP"]


def test_question_text_and_timestamps():
    mc = question_text(_mc())
    assert mc.splitlines() == ["Question: What colour does it turn?", "A. red", "B. blue", "C. green",
                               "Answer with the option's letter."]
    oe = Sample(id="o", video_path="v", question="Q?", answer="blue")
    assert "short phrase" in question_text(oe) and "A." not in question_text(oe)
    assert timestamp_text(3.04) == "<3.0 seconds>" and timestamp_text(0) == "<0.0 seconds>"


def test_system_prompt_states_the_grammar():
    for tag in ("<think></think>", "<answer>", "crop_video", "view_visual_prompt", "0-1000"):
        assert tag in SYSTEM_PROMPT
