"""verl's reward for VideoSeeker rollouts: ``compute_score``, the same reward as seekerlite's GRPO.

    custom_reward_function.path=<seekerlite>/integrations/verl_reward.py  custom_reward_function.name=compute_score

verl's reward manager calls ``compute_score(data_source, solution_str, ground_truth, extra_info)`` with the
rollout's response decoded to text (special tokens dropped): assistant turns, and between them the tool turns
the chat template wrote, ``user\\n<tool_response>\\n...\\n</tool_response>\\nassistant\\n``. ``completion_from_text``
turns that back into seekerlite's ``[assistant, tool, assistant, ...]`` and ``score_completion`` scores it: the
same 0.8 accuracy + 0.15 format + 0.05 parsimony, grammar and judge as ``seekerlite.train.rewards`` (one
implementation, imported). The image tokens are gone from the text, so a tool turn's images are counted from its
text (``N frames from ...``; one image for a grid or the marked frame), as the TRL rollout counts its images.
"""

from __future__ import annotations

import re
from typing import Any

from seekerlite.grammar import Message
from seekerlite.train.rewards import RewardConfig, score_completion

RESPONSE_OPEN, RESPONSE_CLOSE = "<tool_response>", "</tool_response>"
_FRAMES = re.compile(r"(\d+) frames from ")
_BEFORE_TOOL = re.compile(r"\s*(?:user|tool)\s*$")  # the tool turn's role word, left when <|im_start|> is dropped
_AFTER_TOOL = re.compile(r"^\s*assistant\s*")


def _images_in(text: str) -> int:
    """Images a tool turn carried, read from the environment's own text (the image tokens are decoded away)."""
    m = _FRAMES.match(text.strip())
    if m:
        return 1 if "one grid image" in text else int(m.group(1))
    return 1 if text.strip().startswith("The target is marked") else 0


def completion_from_text(text: str) -> list[Message]:
    """verl's decoded multi-turn response as seekerlite messages (tool turns with placeholder image parts).

    >>> [m["role"] for m in completion_from_text("<think>a</think><tool_call>{}</tool_call>user\\n"
    ...  "<tool_response>\\nThe target is marked.\\n</tool_response>\\nassistant\\n<think>b</think><answer>B</answer>")]
    ['assistant', 'tool', 'assistant']
    """
    msgs: list[Message] = []
    pos = 0
    while True:
        start = text.find(RESPONSE_OPEN, pos)
        if start < 0:
            break
        end = text.find(RESPONSE_CLOSE, start)
        end = len(text) if end < 0 else end
        said = text[pos:start]
        said = _BEFORE_TOOL.sub("", _AFTER_TOOL.sub("", said) if msgs else said)
        if said.strip() or not msgs:
            msgs.append({"role": "assistant", "content": said.strip()})
        body = text[start + len(RESPONSE_OPEN):end].strip()
        msgs.append({"role": "tool", "content": [{"type": "text", "text": body}]
                     + [{"type": "image", "image": None}] * _images_in(body)})
        pos = end + len(RESPONSE_CLOSE)
    rest = text[pos:] if pos < len(text) else ""
    if msgs:
        rest = _AFTER_TOOL.sub("", rest)
    if rest.strip() or not msgs:
        msgs.append({"role": "assistant", "content": rest.strip()})
    return msgs


def _options(extra_info: dict[str, Any]) -> list[str] | None:
    opts = extra_info.get("options")
    return None if opts is None else [str(o) for o in list(opts)]


def compute_score(data_source: str, solution_str: str, ground_truth: str, extra_info: dict[str, Any] | None = None,
                  **kwargs: Any) -> dict[str, float]:
    """The GRPO reward of one verl rollout: ``{"score": total, "accuracy", "format", "parsimony", "tool_calls",
    "frames"}`` (verl logs every key). `extra_info` is the parquet row's (``options``, ``question``) plus verl's
    ``num_turns``; `ground_truth` the answer (an option letter for multiple choice).

    >>> compute_score("seekerlite", "<think>x</think><answer>B</answer>", "B", {"options": ["p", "q"]})["score"]
    1.0
    """
    info = dict(extra_info or {})
    scores = score_completion(completion_from_text(solution_str or ""), str(ground_truth), _options(info),
                              str(info.get("question") or ""), RewardConfig())
    return {"score": scores["total"], **{k: v for k, v in scores.items() if k != "total"}}
