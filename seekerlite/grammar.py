"""The reply grammar: the tags a student writes, how a reply is rendered, read and checked. One module, used by
the episode loop, the rewards, SFT data checks and evaluation alike.

A reply is ``<think>...</think>`` then either one tool call or a final answer (the paper's grammar; an episode
is ``think (tool_call think)* answer`` with exactly one answer):

    <think>I should look at 2-4 s around the marked person.</think>
    <tool_call>
    {"name": "crop_video", "arguments": {"start_time": 2.0, "end_time": 4.0}}
    </tool_call>

    parse_reply(text)              # ParsedReply: think, tool calls (lenient JSON), answer, errors; never raises
    final_answer(completion)       # the episode's answer, or None when it is not exactly one final <answer>
    format_problems(completion)    # [] when the whole episode follows the grammar, else what breaks it

Reading is linear in the length of the text: tags are found by one scan (``_blocks``), never by backtracking
regular expressions, so a policy that babbles 1 MB of unclosed tags costs milliseconds, not minutes.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

# --- tags, in one place ---------------------------------------------------------------------------
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TOOL_NAMES = ("view_visual_prompt", "crop_video")
MAX_CALL_CHARS = 16_384  # a tool call's JSON longer than this is refused unparsed (bounded work per call)

Message = dict[str, Any]
Completion = list[Message] | str  # one rollout after the prompt: [assistant, tool, assistant, ...] or a reply
_TAG_RE = re.compile(r"</?(?:think|tool_call|answer)>")
_OPEN_RE = re.compile(r"<(think|tool_call|answer)>")
_CLOSE_RE = re.compile(r"</(?:think|tool_call|answer)>")


# --- writing replies -------------------------------------------------------------------------------

def render_tool_call(name: str, arguments: dict[str, Any]) -> str:
    """The exact text the Qwen3-VL chat template writes for one tool call.

    >>> render_tool_call("view_visual_prompt", {})
    '<tool_call>\\n{"name": "view_visual_prompt", "arguments": {}}\\n</tool_call>'
    """
    return f'{TOOL_CALL_OPEN}\n{{"name": "{name}", "arguments": {json.dumps(arguments)}}}\n{TOOL_CALL_CLOSE}'


SEEN_TEXT = "From the frames I saw: "  # how a final reply's think states what was seen (the oracle; pretraining)


def answer_reply(answer: str, seen: str | None = None) -> str:
    """A final reply that says what was seen, then answers (the oracle's, and the perception pretraining's, so a
    pretrained student names what it sees where the episodes need it).

    >>> answer_reply("A", "red")
    '<think>From the frames I saw: red.</think><answer>A</answer>'
    """
    return f"{THINK_OPEN}{SEEN_TEXT}{answer if seen is None else seen}.{THINK_CLOSE}{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"


def assistant_turn(think: str | None = None, tool_call: tuple[str, dict[str, Any]] | None = None,
                   answer: str | None = None) -> Message:
    """An assistant message in HF format: think text, then either one tool call or a final answer.

    >>> assistant_turn("look", ("crop_video", {"start_time": 0.0, "end_time": 1.0}))["tool_calls"][0]["function"]["name"]
    'crop_video'
    """
    text = f"{THINK_OPEN}{think}{THINK_CLOSE}" if think is not None else ""
    if answer is not None:
        text += f"{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"
    msg: Message = {"role": "assistant", "content": text}
    if tool_call is not None:
        name, args = tool_call
        msg["tool_calls"] = [{"type": "function", "function": {"name": name, "arguments": args}}]
    return msg


def assistant_text(message: Message) -> str:
    """The raw text an assistant message stands for (content + rendered tool calls), as the model emits it."""
    content = message.get("content") or ""
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    calls = []
    for c in message.get("tool_calls") or []:
        fn = c.get("function", c) if isinstance(c, dict) else {}
        args = fn.get("arguments", {}) if isinstance(fn, dict) else {}
        calls.append(render_tool_call(str(fn.get("name", "")), args if isinstance(args, dict) else {"raw": str(args)}))
    return "\n".join([content] + calls) if calls and content else (content + "".join(calls))


def turn_text(message: Message) -> str:
    """One assistant turn's raw text: reasoning (when a response parser split it off) + content + tool calls."""
    text = assistant_text(message)
    thinking = message.get("reasoning_content") or message.get("thinking")
    return f"{THINK_OPEN}{thinking}{THINK_CLOSE}{text}" if thinking and THINK_OPEN not in text else text


# --- reading: one linear scan ----------------------------------------------------------------------

@dataclass
class Block:
    """One top-level tagged block of a reply: ``text[start:end]`` is the whole block, ``content`` what it holds."""

    kind: str  # "think" | "tool_call" | "answer"
    start: int
    end: int
    content: str
    closed: bool  # False: the text ended before the closing tag
    nested: list[str] = field(default_factory=list)  # tags met inside (e.g. "<answer>" inside a tool call)


def _blocks(text: str) -> tuple[list[Block], list[str]]:
    """Top-level blocks in order, and stray closing tags met outside any block. Linear, and in C: per block one
    ``search`` for its opening tag, one ``find`` for its closing tag and one ``findall`` each for the strays before
    it and the tags inside it (tags cannot overlap), so 100k unclosed tags are not 100k Python steps."""
    blocks: list[Block] = []
    stray: list[str] = []
    pos = 0
    while True:
        m = _OPEN_RE.search(text, pos)
        stray += _CLOSE_RE.findall(text, pos, m.start() if m else len(text))
        if m is None:
            return blocks, stray
        close = f"</{m.group(1)}>"
        end = text.find(close, m.end())
        stop = end if end >= 0 else len(text)  # the content ends here
        blocks.append(Block(m.group(1), m.start(), stop + len(close) if end >= 0 else stop, text[m.end():stop],
                            end >= 0, _TAG_RE.findall(text, m.end(), stop)))
        if end < 0:
            return blocks, stray
        pos = stop + len(close)


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass
class ParsedReply:
    """What one assistant reply says. Never raised from: problems land in `errors`."""

    text: str
    think: str | None = None  # the first <think> block's text
    tool_calls: list[ToolCall] = field(default_factory=list)
    answer: str | None = None  # the last <answer> block's text, stripped
    n_answers: int = 0  # <answer> tags outside tool calls (inside <think> too: hedging counts)
    errors: list[str] = field(default_factory=list)

    @property
    def is_final(self) -> bool:
        return self.answer is not None and not self.tool_calls


def _loads_lenient(s: str) -> Any:
    """json.loads, then a few repairs common in small-model output (single quotes, trailing commas, missing braces).

    Raises ValueError (never RecursionError or MemoryError) when nothing parses.
    """
    s = s.strip()
    if len(s) > MAX_CALL_CHARS:
        raise ValueError(f"tool call JSON is {len(s)} characters long (more than {MAX_CALL_CHARS})")
    try:
        return json.loads(s)
    except (json.JSONDecodeError, RecursionError):
        pass
    fixed = re.sub(r",\s*([}\]])", r"\1", s)
    depth = fixed.count("{") - fixed.count("}")
    if 0 < depth <= 3:
        fixed += "}" * depth
    try:
        return json.loads(fixed)
    except (json.JSONDecodeError, RecursionError):
        pass
    try:  # Python-literal style: {'name': 'crop_video', 'arguments': {...}, 'x': None}
        return ast.literal_eval(fixed)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise ValueError(f"could not parse tool call JSON: {s[:120]!r}") from None


def to_tool_call(obj: Any) -> ToolCall:
    """A ToolCall from a parsed JSON object (``{"name", "arguments"}``, or OpenAI's ``{"function": {...}}``)."""
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
    """Parse one assistant reply (plain text). Robust to malformed JSON; linear time; never raises.

    >>> r = parse_reply('<think>x</think><tool_call>\\n{"name": "crop_video", "arguments": {"start_time": 1, "end_time": 2}}\\n</tool_call>')
    >>> r.tool_calls[0].arguments["end_time"], r.answer
    (2, None)
    >>> parse_reply("<think>sure</think><answer> B </answer>").answer
    'B'
    """
    text = text if isinstance(text, str) else str(text)
    out = ParsedReply(text=text)
    blocks, _ = _blocks(text)
    thinks = [b for b in blocks if b.kind == "think"]
    out.think = thinks[0].content.strip() if thinks and thinks[0].closed else None
    for b in blocks:
        if b.kind == "tool_call":
            try:
                out.tool_calls.append(to_tool_call(_loads_lenient(b.content)))
            except (ValueError, TypeError) as e:
                out.errors.append(str(e))
            if not b.closed:
                out.errors.append("unbalanced <tool_call> tags")
    answers = [b for b in blocks if b.kind == "answer"]
    out.n_answers = len(answers) + sum(b.nested.count(ANSWER_OPEN) for b in blocks if b.kind == "think")
    closed = [b for b in answers if b.closed]
    if closed:
        out.answer = closed[-1].content.strip()
    if any(not b.closed for b in answers):
        out.errors.append("<answer> is not closed")
    return out


def parse_generated(tokenizer: Any, completion_ids: list[int], prompt_ids: list[int]) -> ParsedReply:
    """Parse generated token ids: the tokenizer's response parser (TRL's schema: typed tool-call arguments) when
    it works, the text parser otherwise. Always pass the prompt ids: without ``prefix=`` the parser raises."""
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
            calls.append(to_tool_call(c))
        except (ValueError, TypeError):
            return reply
    if calls and len(calls) >= len(reply.tool_calls):
        reply.tool_calls, reply.errors = calls, [e for e in reply.errors if "tool call" not in e]
    return reply


# --- episodes ---------------------------------------------------------------------------------------

def completion_messages(completion: Completion) -> list[Message]:
    """A completion as a message list (a bare string is one assistant turn).

    >>> completion_messages("<answer>B</answer>")[0]["role"]
    'assistant'
    """
    if isinstance(completion, str):
        return [{"role": "assistant", "content": completion}]
    return list(completion)


def outside_calls(text: str, sep: str = " ") -> str:
    """The text with every tool-call block cut out, the pieces joined by `sep` (what answers and hedges are counted
    in; what an assistant message keeps as content beside its parsed ``tool_calls``).

    >>> outside_calls('<think>a</think><tool_call>{"name": "x"}</tool_call><answer>B</answer>', sep="")
    '<think>a</think><answer>B</answer>'
    """
    blocks, _ = _blocks(text)
    pieces, pos = [], 0
    for b in blocks:
        if b.kind == "tool_call":
            pieces.append(text[pos:b.start])
            pos = b.end
    return sep.join(pieces + [text[pos:]])


def final_answer(completion: Completion) -> str | None:
    """The episode's answer, or None: the ``<answer>`` of the last assistant turn, which must call no tool, and
    the only ``<answer>`` of the episode outside tool calls (so hedged or spammed answers earn nothing).

    >>> final_answer("<think>x</think><answer>B</answer>"), final_answer("<answer>A</answer><answer>B</answer>")
    ('B', None)
    """
    msgs = completion_messages(completion)
    texts = [turn_text(m) for m in msgs if m.get("role") == "assistant"]
    if not texts or msgs[-1].get("role") != "assistant" or msgs[-1].get("tool_calls"):
        return None
    if TOOL_CALL_OPEN in texts[-1]:
        return None
    if sum(parse_reply(outside_calls(t)).n_answers for t in texts) != 1:
        return None
    return parse_reply(texts[-1]).answer or None


def count_tool_use(completion: Completion) -> tuple[int, int]:
    """(tool calls the model made, frames the tools returned) in one rollout.

    >>> count_tool_use([{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "crop_video", "arguments": {}}}]},
    ...                 {"role": "tool", "content": [{"type": "image", "image": None}] * 3}])
    (1, 3)
    """
    msgs = completion_messages(completion)
    calls = sum(1 for m in msgs if m.get("role") == "assistant" for b in _blocks(turn_text(m))[0] if b.kind == "tool_call")
    frames = sum(1 for m in msgs if m.get("role") == "tool" and isinstance(m.get("content"), list)
                 for p in m["content"] if isinstance(p, dict) and p.get("type") == "image")
    return calls, frames


def _strict_call(block: str) -> bool:
    if len(block) > MAX_CALL_CHARS:
        return False
    try:
        obj = json.loads(block)
    except (json.JSONDecodeError, RecursionError):
        return False
    return isinstance(obj, dict) and isinstance(obj.get("name"), str) and isinstance(obj.get("arguments", {}), dict)


def turn_problems(text: str, last: bool = True) -> list[str]:
    """What breaks the grammar in one reply: a non-empty ``<think>`` first, then one strict-JSON tool call of a
    known tool *or* one non-empty ``<answer>`` (the answer only in the last turn), nothing else.

    >>> turn_problems("<think>ok</think><answer>B</answer>")
    []
    >>> turn_problems("<answer>B</answer> because")
    ['does not start with <think>...</think>', 'text after </answer>']
    """
    text = text.strip()
    blocks, stray = _blocks(text)
    reply = parse_reply(text)
    problems: list[str] = []
    thinks = [b for b in blocks if b.kind == "think"]
    calls = [b for b in blocks if b.kind == "tool_call"]
    answers = [b for b in blocks if b.kind == "answer"]
    if not blocks or blocks[0].kind != "think" or blocks[0].start != 0 or not blocks[0].closed:
        problems.append(f"does not start with {THINK_OPEN}...{THINK_CLOSE}")
    elif not blocks[0].content.strip():
        problems.append(f"empty {THINK_OPEN}")
    if len(thinks) > 1:
        problems.append(f"more than one {THINK_OPEN} block")
    if any(ANSWER_OPEN in b.nested for b in calls):
        problems.append("<answer> inside a tool call")
    if any(b.nested for b in thinks):
        problems.append(f"tags inside {THINK_OPEN}")
    problems += reply.errors
    for b in calls:
        if b.closed and ANSWER_OPEN not in b.nested and not _strict_call(b.content):
            problems.append("tool call is not strict JSON {\"name\", \"arguments\"}")
    problems += [f"unknown tool {c.name!r}" for c in reply.tool_calls if c.name not in TOOL_NAMES]
    if len(calls) > 1:
        problems.append(f"{len(calls)} tool calls (one per turn)")
    if calls and answers:
        problems.append("<answer> together with a tool call")
    if len(answers) > 1:
        problems.append(f"{len(answers)} answers in one turn")
    if any(b.closed and not b.content.strip() for b in answers):
        problems.append(f"empty {ANSWER_OPEN}")
    if last and calls:
        problems.append("the episode ends on a tool call, without a final answer")
    if not calls and not answers:
        problems.append("neither a tool call nor an <answer>")
    if not last and answers and not calls:
        problems.append("an <answer> before the last turn")
    if stray:
        problems.append(f"stray closing tag {stray[0]}")
    if answers and text[answers[-1].end:].strip():
        problems.append(f"text after {ANSWER_CLOSE}")
    pos, outside = 0, []
    for b in blocks:
        outside.append(text[pos:b.start])
        pos = b.end
    if not (blocks and blocks[-1].kind == "answer"):  # text after a last </answer> is reported above
        outside.append(text[pos:])
    if "".join(outside).strip():
        problems.append("text outside the tags")
    return problems


def format_problems(completion: Completion) -> list[str]:
    """Everything that breaks the grammar ``think (tool_call think)* answer`` in one episode; empty when well formed.

    >>> format_problems("<think>ok</think><answer>B</answer>")
    []
    >>> format_problems("<answer>B</answer> because")
    ['turn 0: does not start with <think>...</think>', 'turn 0: text after </answer>']
    """
    msgs = completion_messages(completion)
    turns = [m for m in msgs if m.get("role") == "assistant"]
    if not turns:
        return ["no assistant turn"]
    problems: list[str] = []
    for k, m in enumerate(turns):
        problems += [f"turn {k}: {p}" for p in turn_problems(turn_text(m), last=k == len(turns) - 1)]
    n_answers = sum(parse_reply(outside_calls(turn_text(m))).n_answers for m in turns)
    if n_answers > 1:
        problems.append(f"{n_answers} answers (want exactly one)")
    ends = "the episode ends on a tool call, without a final answer"
    if msgs[-1].get("role") != "assistant" and not any(p.endswith(ends) for p in problems):
        problems.append(ends)
    for m in msgs:  # tool calls that could not run: unknown tool, wrong argument names or types
        c = m.get("content") if m.get("role") == "tool" else None
        first = c if isinstance(c, str) else (c[0].get("text", "") if isinstance(c, list) and c and isinstance(c[0], dict) else "")
        if first.startswith("{'error'") or first.startswith(("Error: unknown tool", "Error: bad arguments")):
            problems.append(f"tool call failed: {first[:60]}")
    return problems


def reply_ok(text: str, last: bool | None = None) -> bool:
    """Is one reply well formed (``turn_problems`` finds nothing)? ``last=None``: either as a middle turn (a tool
    call) or as the last turn (an answer).

    >>> reply_ok('<think>look</think><tool_call>\\n{"name": "view_visual_prompt", "arguments": {}}\\n</tool_call>')
    True
    >>> reply_ok("<think>sure</think><answer>B</answer>"), reply_ok("<answer>B</answer>"), reply_ok("<think>x</think>B")
    (True, False, False)
    """
    if last is None:
        return not turn_problems(text, last=False) or not turn_problems(text, last=True)
    return not turn_problems(text, last=last)
