"""The conversation protocol: tags, the first user turn, and parsing assistant replies.

A reply of the student is, in the Qwen3-VL tool format (as TRL's ``qwen3_vl.jinja`` renders it):

    <think>I should look at 2-4 s around the marked person.</think>
    <tool_call>
    {"name": "crop_video", "arguments": {"start_time": 2.0, "end_time": 4.0}}
    </tool_call>

or a final

    <think>...</think><answer>B</answer>

Messages follow the Hugging Face chat format: ``{"role", "content": [{"type": "text"|"image", ...}]}``;
an assistant turn that calls tools carries ``"tool_calls": [{"type": "function", "function": {"name", "arguments"}}]``
and the template turns them into ``<tool_call>`` JSON. Parsing goes the other way and never raises: what cannot
be read becomes an entry in ``ParsedReply.errors``.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

from seekerlite.schema import OPTION_LETTERS, Sample

# --- tags, in one place ---------------------------------------------------------------------------
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TOOL_NAMES = ("view_visual_prompt", "crop_video")

SYSTEM_PROMPT = (
    "You answer questions about one specific instance in a video. The instance is marked on one frame of the "
    "video (the visual-prompt frame). You see that frame and a coarse overview of the video; you can look closer "
    "with tools. crop_video returns frames from a time window (seconds), optionally cut to a region "
    "[x0, y0, x1, y1] given in 0-1000 coordinates of the full frame. view_visual_prompt shows the marked frame "
    "again. Think inside <think></think> before every action. Call at most one tool per turn. When you are "
    "sure, reply with <think>...</think><answer>...</answer>: the option letter for multiple choice, a short "
    "phrase otherwise."
)

_TOOL_CALL_RE = re.compile(re.escape(TOOL_CALL_OPEN) + r"(.*?)(?:" + re.escape(TOOL_CALL_CLOSE) + r"|$)", re.S)
_ANSWER_RE = re.compile(re.escape(ANSWER_OPEN) + r"(.*?)" + re.escape(ANSWER_CLOSE), re.S)
_THINK_RE = re.compile(re.escape(THINK_OPEN) + r"(.*?)" + re.escape(THINK_CLOSE), re.S)


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
) -> list[dict[str, Any]]:
    """The conversation's opening messages: [system,] user(question, marked frame, overview).

    Args:
        sample: the question (and options) to ask.
        prompt_image: the visual-prompt frame (PIL image or anything the processor takes).
        prompt_time: its timestamp, seconds (None when unknown).
        overview: (timestamp seconds, image) pairs, uniformly sampled over the video.
        duration: video length, seconds (so the model knows the valid time range).
        system: include the system prompt.
    """
    parts: list[dict[str, Any]] = [
        {"type": "text", "text": f"The video lasts {duration:.1f} seconds. The marked instance"
                                 + (f", at {timestamp_text(prompt_time)}:" if prompt_time is not None else ":")},
        {"type": "image", "image": prompt_image},
        {"type": "text", "text": f"Overview of the video ({len(overview)} frames):"},
    ]
    for t, img in overview:
        parts += [{"type": "text", "text": timestamp_text(t)}, {"type": "image", "image": img}]
    parts.append({"type": "text", "text": question_text(sample)})
    msgs = [{"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]}] if system else []
    return msgs + [{"role": "user", "content": parts}]


# --- building assistant turns --------------------------------------------------------------------

def assistant_turn(think: str | None = None, tool_call: tuple[str, dict[str, Any]] | None = None,
                   answer: str | None = None) -> dict[str, Any]:
    """An assistant message in HF format: think text, then either one tool call or a final answer.

    >>> assistant_turn("look", ("crop_video", {"start_time": 0.0, "end_time": 1.0}))["tool_calls"][0]["function"]["name"]
    'crop_video'
    """
    text = f"{THINK_OPEN}{think}{THINK_CLOSE}" if think is not None else ""
    if answer is not None:
        text += f"{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"
    msg: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_call is not None:
        name, args = tool_call
        msg["tool_calls"] = [{"type": "function", "function": {"name": name, "arguments": args}}]
    return msg


def render_tool_call(name: str, arguments: dict[str, Any]) -> str:
    """The exact text the Qwen3-VL template writes for one tool call."""
    return f'{TOOL_CALL_OPEN}\n{{"name": "{name}", "arguments": {json.dumps(arguments)}}}\n{TOOL_CALL_CLOSE}'


def assistant_text(message: dict[str, Any]) -> str:
    """The raw text an assistant message stands for (content + rendered tool calls), as the model emits it."""
    content = message.get("content") or ""
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    calls = [render_tool_call(c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or []]
    return "\n".join([content] + calls) if calls and content else (content + "".join(calls))


# --- parsing --------------------------------------------------------------------------------------

@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass
class ParsedReply:
    """What one assistant reply says. Never raised from: problems land in `errors`."""

    text: str
    think: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    answer: str | None = None
    n_answers: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def is_final(self) -> bool:
        return self.answer is not None and not self.tool_calls


def _loads_lenient(s: str) -> Any:
    """json.loads, then a few repairs common in small-model output (single quotes, trailing commas, missing braces)."""
    s = s.strip()
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        pass
    fixed = re.sub(r",\s*([}\]])", r"\1", s)
    depth = fixed.count("{") - fixed.count("}")
    if 0 < depth <= 3:
        fixed += "}" * depth
    try:
        return json.loads(fixed)
    except json.JSONDecodeError:
        pass
    try:  # Python-literal style: {'name': 'crop_video', 'arguments': {...}, 'x': None}
        return ast.literal_eval(fixed)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise ValueError(f"could not parse tool call JSON: {s[:120]!r}") from None


def _to_tool_call(obj: Any) -> ToolCall:
    if not isinstance(obj, dict):
        raise ValueError(f"tool call must be a JSON object, got {type(obj).__name__}")
    if "function" in obj and isinstance(obj["function"], dict):  # OpenAI-style wrapper
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("tool call has no \"name\"")
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        args = _loads_lenient(args) if args.strip() else {}
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ValueError(f"tool call \"arguments\" must be an object, got {type(args).__name__}")
    return ToolCall(name=name, arguments=args)


def parse_reply(text: str) -> ParsedReply:
    """Parse one assistant reply (plain text). Robust to malformed JSON; never raises.

    >>> r = parse_reply('<think>x</think><tool_call>\\n{"name": "crop_video", "arguments": {"start_time": 1, "end_time": 2}}\\n</tool_call>')
    >>> r.tool_calls[0].arguments["end_time"], r.answer
    (2, None)
    >>> parse_reply("<think>sure</think><answer> B </answer>").answer
    'B'
    """
    text = text if isinstance(text, str) else str(text)
    out = ParsedReply(text=text)
    m = _THINK_RE.search(text)
    out.think = m.group(1).strip() if m else None
    for block in _TOOL_CALL_RE.findall(text):
        try:
            out.tool_calls.append(_to_tool_call(_loads_lenient(block)))
        except (ValueError, TypeError) as e:
            out.errors.append(str(e))
    if TOOL_CALL_OPEN in text and text.count(TOOL_CALL_OPEN) != text.count(TOOL_CALL_CLOSE):
        out.errors.append("unbalanced <tool_call> tags")
    answers = _ANSWER_RE.findall(text)
    out.n_answers = len(answers)
    if answers:
        out.answer = answers[-1].strip()
    elif ANSWER_OPEN in text:
        out.errors.append("<answer> is not closed")
    return out


def parse_generated(tokenizer: Any, completion_ids: list[int], prompt_ids: list[int]) -> ParsedReply:
    """Parse generated token ids: TRL/transformers' response parser for tool calls (typed arguments), text
    parsing for think/answer, and the robust text parser as fallback when the tokenizer's parser fails.

    Always pass the prompt ids: without ``prefix=`` the tokenizer's parser raises (see design notes).
    """
    text = tokenizer.decode(completion_ids, skip_special_tokens=True)
    reply = parse_reply(text)
    if not hasattr(tokenizer, "parse_response") or TOOL_CALL_OPEN not in text:
        return reply
    try:
        parsed = tokenizer.parse_response(completion_ids, prefix=prompt_ids)
    except Exception:  # noqa: BLE001 - the text parser's answer stands
        return reply
    calls = []
    for c in parsed.get("tool_calls") or []:
        try:
            calls.append(_to_tool_call(c))
        except (ValueError, TypeError):
            return reply
    if calls and len(calls) >= len(reply.tool_calls):
        reply.tool_calls, reply.errors = calls, [e for e in reply.errors if "tool call" not in e]
    return reply


def normalize_choice(answer: str | None, options: list[str] | None) -> str | None:
    """Map an MC answer ("B", "(b)", "B. red", "red") to its option letter, or None.

    >>> normalize_choice("(b) green", ["red", "green"]), normalize_choice("GREEN", ["red", "green"])
    ('B', 'B')
    """
    if answer is None or options is None:
        return None
    a = answer.strip()
    letters = OPTION_LETTERS[: len(options)]
    m = re.match(r"^\(?([A-Ja-j])\)?(?:[.:)\s]|$)", a)
    if m and m.group(1).upper() in letters:
        return m.group(1).upper()
    low = a.lower().strip(" .")
    for letter, opt in zip(letters, options):
        if low == opt.lower().strip(" ."):
            return letter
    return None
