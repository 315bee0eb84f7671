"""The conversation's opening: the system prompt and the first user turn (question, marked frame, overview).

    messages = build_first_turn(sample, prompt_image, prompt_time=1.5, overview=[(0.5, img0), ...], duration=5.0)

Messages follow the Hugging Face chat format: ``{"role", "content": [{"type": "text"|"image", ...}]}``. What the
student then writes (``<think>``, ``<tool_call>``, ``<answer>``) is the reply grammar of ``seekerlite.grammar``.
"""

from __future__ import annotations

from typing import Any

from seekerlite.schema import OPTION_LETTERS, Sample

SYSTEM_PROMPT = (
    "You answer questions about one specific instance in a video. The instance is marked on one frame of the "
    "video (the visual-prompt frame). You see that frame and a coarse overview of the video; you can look closer "
    "with tools. crop_video returns frames from a time window (seconds), optionally cut to a region: "
    "one cell of a 3x3 grid (\"top left\", \"top\", \"top right\", \"left\", \"center\", \"right\", "
    "\"bottom left\", \"bottom\", \"bottom right\") or a box [x0, y0, x1, y1] given in 0-1000 coordinates of "
    "the full frame. view_visual_prompt shows the marked frame "
    "again. Think inside <think></think> before every action. Call at most one tool per turn. When you are "
    "sure, reply with <think>...</think><answer>...</answer>: the option letter for multiple choice, a short "
    "phrase otherwise."
)

NO_TOOLS_TEXT = "Tools are off for this question: answer from these frames."  # ends the first turn of a no-tool episode


def tools_off(text: str) -> str:
    """The first turn's last text in an episode without tools (``NO_TOOLS_TEXT`` added on its own line).

    >>> tools_off("Question: Which colour?")
    'Question: Which colour?\\nTools are off for this question: answer from these frames.'
    """
    return f"{text}\n{NO_TOOLS_TEXT}"


def timestamp_text(t: float) -> str:
    """The label put before every frame the model sees (the paper's ``<t.t seconds>``).

    >>> timestamp_text(3.04)
    '<3.0 seconds>'
    """
    return f"<{t:.1f} seconds>"


def question_text(sample: Sample) -> str:
    """Question plus lettered options (MC) and the expected answer form."""
    lines = [f"Question: {sample.question}"]
    if sample.options is not None:
        lines += [f"{OPTION_LETTERS[i]}. {opt}" for i, opt in enumerate(sample.options)]
        lines.append("Answer with the option's letter.")
    else:
        lines.append("Answer with a short phrase.")
    return "\n".join(lines)


def build_first_turn(
    sample: Sample,
    prompt_image: Any,
    prompt_time: float | None,
    overview: list[tuple[float, Any]],
    duration: float,
    system: bool = True,
    tools: bool = True,
) -> list[dict[str, Any]]:
    """The conversation's opening messages: [system,] user(question, marked frame, overview).

    Args:
        sample: the question (and options) to ask.
        prompt_image: the visual-prompt frame (PIL image or anything the processor takes).
        prompt_time: its timestamp, seconds (None when unknown).
        overview: (timestamp seconds, image) pairs, uniformly sampled over the video.
        duration: video length, seconds (so the model knows the valid time range).
        system: include the system prompt.
        tools: the episode offers tool rounds; False ends the turn with ``NO_TOOLS_TEXT`` (a no-tool episode
            says so, so one student can be trained and evaluated both ways: ``config.no_tool_env``).
    """
    parts: list[dict[str, Any]] = [
        {"type": "text", "text": f"The video lasts {duration:.1f} seconds. The marked instance"
                                 + (f", at {timestamp_text(prompt_time)}:" if prompt_time is not None else ":")},
        {"type": "image", "image": prompt_image},
        {"type": "text", "text": f"Overview of the video ({len(overview)} frames):"},
    ]
    for t, img in overview:
        parts += [{"type": "text", "text": timestamp_text(t)}, {"type": "image", "image": img}]
    parts.append({"type": "text", "text": question_text(sample) if tools else tools_off(question_text(sample))})
    msgs = [{"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]}] if system else []
    return msgs + [{"role": "user", "content": parts}]
