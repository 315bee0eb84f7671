"""GRPO rewards: accuracy, format and parsimony, as pure functions with TRL's reward signature.

    R = 0.8 * accuracy + 0.15 * format + 0.05 * parsimony          (weights: RewardConfig -> GRPOConfig.reward_weights)

    funcs, weights = make_reward_funcs(RewardConfig())             # hand both to GRPOTrainer / GRPOConfig
    score_completion(completion, answer="B", options=[...])        # every component + total, for one rollout

A *completion* is what TRL hands a reward function for a multi-turn rollout: the messages after the prompt,
``[assistant, tool, assistant, ...]`` (assistant turns carry parsed ``tool_calls``; tool turns carry our frames).
A plain string is read as one assistant turn. Dataset columns arrive as keyword lists (``answer``, ``options``,
``question``); TRL also passes ``environments``, ``trainer_state``, ... which these functions accept and ignore.

Design choices, each tested on crafted and adversarial completions in tests/test_rewards.py:
- accuracy: the episode's answer is the ``<answer>`` of its *last* turn, and only if the episode holds exactly one
  ``<answer>`` outside tool calls (spamming answers, or hiding one in a tool call, earns nothing). MC: the option
  letter must match. OE: a ``Judge`` says whether the free text means the reference (rule-based by default).
- format: the paper's grammar ``think (tool_call think)* answer``; ``format_problems`` says what is wrong.
- parsimony: ``max(0, 1 - lambda_c * extra_calls - lambda_f * extra_frames)``, paid only for a correct answer
  ("fewer calls for the same correctness"), with a floor of free calls/frames so that answering without looking
  earns no more than looking once: the policy is never pushed to stop looking.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from seekerlite.protocol import (
    ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, TOOL_NAMES, assistant_text,
    parse_reply,
)

Message = dict[str, Any]
Completion = list[Message] | str  # one rollout after the prompt


@dataclass
class RewardConfig:
    """Weights and knobs of the three rewards (the paper's values by default)."""

    accuracy_weight: float = 0.8  # weight of accuracy in the total reward
    format_weight: float = 0.15  # weight of format
    parsimony_weight: float = 0.05  # weight of parsimony; 0 switches it off
    call_penalty: float = 0.2  # lambda: parsimony lost per tool call beyond `free_calls`
    free_calls: int = 1  # floor: calls that cost nothing (>= 1 so that answering blind never beats looking once)
    frame_penalty: float = 0.0  # parsimony lost per returned frame beyond `free_frames` (0 = count calls only)
    free_frames: int = 8  # frames that cost nothing
    parsimony_needs_correct: bool = True  # pay parsimony only for a correct answer (else quick guessing pays)
    judge: str = "rule"  # OE judge: "rule" | "local:<model dir>" | "<http(s)://host/v1>#<model name>"
    f1_threshold: float = 0.6  # RuleJudge: token F1 needed to count an OE answer as correct

    @property
    def weights(self) -> list[float]:
        return [self.accuracy_weight, self.format_weight, self.parsimony_weight]


# ---------------------------------------------------------------------------------------------- reading rollouts

def completion_messages(completion: Completion) -> list[Message]:
    """A completion as a message list (a bare string is one assistant turn).

    >>> completion_messages("<answer>B</answer>")[0]["role"]
    'assistant'
    """
    if isinstance(completion, str):
        return [{"role": "assistant", "content": completion}]
    return list(completion)


def turn_text(message: Message) -> str:
    """The raw text one assistant turn stands for: reasoning (if a parser split it off) + content + tool calls."""
    text = assistant_text(message)
    thinking = message.get("reasoning_content") or message.get("thinking")
    return f"{THINK_OPEN}{thinking}{THINK_CLOSE}{text}" if thinking and THINK_OPEN not in text else text


def _strip_tool_calls(text: str) -> str:
    return re.sub(re.escape(TOOL_CALL_OPEN) + r".*?(?:" + re.escape(TOOL_CALL_CLOSE) + r"|$)", " ", text, flags=re.S)


def _assistant_texts(completion: Completion) -> list[str]:
    return [turn_text(m) for m in completion_messages(completion) if m.get("role") == "assistant"]


def final_answer(completion: Completion) -> str | None:
    """The episode's answer, or None: the ``<answer>`` of the last assistant turn, which must call no tool, and
    the only ``<answer>`` of the episode outside tool calls.

    >>> final_answer("<think>x</think><answer>B</answer>"), final_answer("<answer>A</answer><answer>B</answer>")
    ('B', None)
    """
    msgs = completion_messages(completion)
    texts = _assistant_texts(msgs)
    if not texts or msgs[-1].get("role") != "assistant" or msgs[-1].get("tool_calls"):
        return None
    last = texts[-1]
    if TOOL_CALL_OPEN in last:
        return None
    outside = [_strip_tool_calls(t) for t in texts]
    if sum(t.count(ANSWER_OPEN) for t in outside) != 1:
        return None
    return parse_reply(outside[-1]).answer or None


def count_tool_use(completion: Completion) -> tuple[int, int]:
    """(tool calls the model made, frames the tools returned) in one rollout.

    >>> count_tool_use([{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "crop_video", "arguments": {}}}]},
    ...                 {"role": "tool", "content": [{"type": "image", "image": None}] * 3}])
    (1, 3)
    """
    msgs = completion_messages(completion)
    calls = sum(t.count(TOOL_CALL_OPEN) for t in _assistant_texts(msgs))
    frames = sum(1 for m in msgs if m.get("role") == "tool" and isinstance(m.get("content"), list)
                 for p in m["content"] if isinstance(p, dict) and p.get("type") == "image")
    return calls, frames


def format_problems(completion: Completion) -> list[str]:
    """Everything that breaks the grammar ``think (tool_call think)* answer``; empty when well formed.

    >>> format_problems("<think>ok</think><answer>B</answer>")
    []
    >>> format_problems("<answer>B</answer> because")
    ['turn 0: does not start with <think>...</think>', 'turn 0: text after </answer>']
    """
    msgs = completion_messages(completion)
    turns = [(i, m) for i, m in enumerate(msgs) if m.get("role") == "assistant"]
    if not turns:
        return ["no assistant turn"]
    problems: list[str] = []
    n_answers = 0
    for k, (i, m) in enumerate(turns):
        text, last = turn_text(m).strip(), k == len(turns) - 1
        reply = parse_reply(text)
        if not text.startswith(THINK_OPEN) or THINK_CLOSE not in text:
            problems.append(f"turn {k}: does not start with {THINK_OPEN}...{THINK_CLOSE}")
        if text.count(THINK_OPEN) > 1:
            problems.append(f"turn {k}: more than one {THINK_OPEN} block")
        calls = text.count(TOOL_CALL_OPEN)
        inside = "".join(re.findall(re.escape(TOOL_CALL_OPEN) + r"(.*?)(?:" + re.escape(TOOL_CALL_CLOSE) + r"|$)", text, re.S))
        if ANSWER_OPEN in inside:
            problems.append(f"turn {k}: <answer> inside a tool call")
        outside = _strip_tool_calls(text)
        answers = outside.count(ANSWER_OPEN)
        n_answers += answers
        problems += [f"turn {k}: {e}" for e in reply.errors]
        for block in re.findall(re.escape(TOOL_CALL_OPEN) + r"(.*?)" + re.escape(TOOL_CALL_CLOSE), text, re.S):
            if ANSWER_OPEN not in block and not _strict_call(block):
                problems.append(f"turn {k}: tool call is not strict JSON {{\"name\", \"arguments\"}}")
        bad_names = [c.name for c in reply.tool_calls if c.name not in TOOL_NAMES]
        problems += [f"turn {k}: unknown tool {n!r}" for n in bad_names]
        if calls > 1:
            problems.append(f"turn {k}: {calls} tool calls (one per turn)")
        if calls and answers:
            problems.append(f"turn {k}: <answer> together with a tool call")
        if last and calls:
            problems.append("the episode ends on a tool call, without a final answer")
        if last and not calls and not answers:
            problems.append(f"turn {k}: neither a tool call nor an <answer>")
        rest = re.sub(re.escape(THINK_OPEN) + r".*?" + re.escape(THINK_CLOSE), " ", outside, flags=re.S)
        tail = rest.rsplit(ANSWER_CLOSE, 1)[1] if ANSWER_CLOSE in rest else ""
        if tail.strip():
            problems.append(f"turn {k}: text after {ANSWER_CLOSE}")
        body = re.sub(re.escape(ANSWER_OPEN) + r".*?" + re.escape(ANSWER_CLOSE), " ", rest[:len(rest) - len(tail)], flags=re.S)
        if body.strip():
            problems.append(f"turn {k}: text outside the tags")
    if n_answers > 1:
        problems.append(f"{n_answers} answers (want exactly one)")
    if msgs[-1].get("role") != "assistant" and "the episode ends on a tool call, without a final answer" not in problems:
        problems.append("the episode ends on a tool call, without a final answer")
    for m in msgs:  # tool calls TRL or our loop could not run: unknown tool, wrong argument names/types
        c = m.get("content") if m.get("role") == "tool" else None
        first = c if isinstance(c, str) else (c[0].get("text", "") if isinstance(c, list) and c else "")
        if first.startswith("{'error'") or first.startswith(("Error: unknown tool", "Error: bad arguments")):
            problems.append(f"tool call failed: {first[:60]}")
    return problems


def _strict_call(block: str) -> bool:
    try:
        obj = json.loads(block)
    except json.JSONDecodeError:
        return False
    return isinstance(obj, dict) and isinstance(obj.get("name"), str) and isinstance(obj.get("arguments", {}), dict)


# ---------------------------------------------------------------------------------------------- judges

class Judge(Protocol):
    """Says whether a free-text prediction means the reference: 1.0 (yes) or 0.0 (no)."""

    def __call__(self, prediction: str, reference: str, question: str = "") -> float: ...


_NUMBER_WORDS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
_SYNONYMS = {"grey": "gray", "colour": "color", "once": "1", "twice": "2", "never": "0", "leaves": "leave",
             "exits": "leave", "exit": "leave", "upwards": "up", "downwards": "down", "rightwards": "right",
             "leftwards": "left", "violet": "purple", "stays": "stay", "remains": "stay", "touches": "touch"}
_PHRASES = {r"\bnone of them\b|\bno other object\b|\bno object\b|\bnothing\b": "none",
            r"\bdoes not\b|\bdoesn't\b|\bdon't\b": "not"}
_STOPWORDS = {"a", "an", "the", "it", "its", "is", "are", "at", "about", "around", "approximately", "of", "to", "in",
              "s", "sec", "secs", "second", "seconds", "object", "marked", "frame", "through", "by", "and", "then"}
EXCLUSIVE_GROUPS: tuple[frozenset[str], ...] = (
    frozenset("red green blue yellow purple orange white black gray pink brown".split()),
    frozenset("left right up down top bottom".split()),
    frozenset({"yes", "no"}),
)  # a prediction naming a reference's term and another term of the same group contradicts or hedges


def _tokens(text: str) -> list[str]:
    s = text.lower()
    for pat, rep in _PHRASES.items():
        s = re.sub(pat, rep, s)
    words = re.findall(r"\d+(?:\.\d+)?|[a-z]+", s)
    words = [_SYNONYMS.get(w, _NUMBER_WORDS.get(w, w)) for w in words]
    return [w for w in words if w not in _STOPWORDS]


def token_f1(prediction: str, reference: str) -> float:
    """Token-level F1 after normalisation (lowercase, synonyms, number words, stopwords dropped).

    >>> token_f1("It turns Blue.", "blue"), token_f1("two", "2")
    (0.6666666666666666, 1.0)
    """
    p, r = _tokens(prediction), _tokens(reference)
    if not p or not r:
        return float(p == r)
    common = sum(min(p.count(w), r.count(w)) for w in set(r))
    if common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(r)
    return 2 * prec * rec / (prec + rec)


@dataclass
class RuleJudge:
    """The default OE judge: normalisation, synonyms, numbers that must agree, no contradicting/hedging terms,
    then token F1 >= threshold.

    >>> j = RuleJudge()
    >>> j("Blue", "blue"), j("it becomes blue", "blue"), j("red or blue", "blue"), j("at 2.4 s", "at about 2.3 s")
    (1.0, 1.0, 0.0, 1.0)
    """

    threshold: float = 0.6  # token F1 needed
    number_tolerance: float = 0.5  # numbers (seconds, counts) agree within this
    name: str = "rule"

    def __call__(self, prediction: str, reference: str, question: str = "") -> float:
        p, r = _tokens(prediction), _tokens(reference)
        nums = lambda ws: [float(w) for w in ws if re.fullmatch(r"\d+(?:\.\d+)?", w)]  # noqa: E731
        pn, rn = nums(p), nums(r)
        if rn or pn:  # every number must be matched, and no extra numbers (no "2 or 3")
            if len(pn) != len(rn) or any(abs(a - b) > self.number_tolerance for a, b in zip(sorted(pn), sorted(rn))):
                return 0.0
            p = [w for w in p if not re.fullmatch(r"\d+(?:\.\d+)?", w)] + ["<num>"] * len(pn)
            r = [w for w in r if not re.fullmatch(r"\d+(?:\.\d+)?", w)] + ["<num>"] * len(rn)
        for group in EXCLUSIVE_GROUPS:
            if (set(r) & group) and (set(p) & group) - set(r):
                return 0.0
        return float(token_f1(" ".join(p), " ".join(r)) >= self.threshold)


JUDGE_PROMPT = ("You grade answers about a video. Question: {question}\nReference answer: {reference}\n"
                "Candidate answer: {prediction}\nDoes the candidate mean the same as the reference? Reply yes or no.")


@dataclass
class LLMJudge:
    """An LLM as OE judge: any ``generate(prompt) -> reply`` function; see ``from_local`` and ``from_endpoint``.

    A reply without a clear yes/no falls back to ``fallback`` (the rule judge). Verdicts are cached.

    >>> LLMJudge(lambda prompt: "Yes, same meaning.")("blue", "navy blue")
    1.0
    """

    generate: Callable[[str], str]
    fallback: Judge | None = field(default_factory=RuleJudge)
    name: str = "llm"
    cache: dict[tuple[str, str, str], float] = field(default_factory=dict, repr=False)

    def __call__(self, prediction: str, reference: str, question: str = "") -> float:
        key = (prediction, reference, question)
        if key not in self.cache:
            reply = self.generate(JUDGE_PROMPT.format(question=question, reference=reference, prediction=prediction))
            m = re.search(r"\b(yes|no|correct|incorrect)\b", reply.lower())
            if m:
                self.cache[key] = float(m.group(1) in ("yes", "correct"))
            else:
                self.cache[key] = self.fallback(prediction, reference, question) if self.fallback else 0.0
        return self.cache[key]

    @classmethod
    def from_endpoint(cls, base_url: str, model: str, api_key: str | None = None, timeout: float = 60.0) -> LLMJudge:
        """Any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, llama.cpp server, Ollama, OpenAI, ...)."""

        def generate(prompt: str) -> str:
            body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}],
                               "max_tokens": 8, "temperature": 0}).encode()
            req = urllib.request.Request(base_url.rstrip("/") + "/chat/completions", data=body, headers={
                "Content-Type": "application/json", **({"Authorization": f"Bearer {api_key}"} if api_key else {})})
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the user's own endpoint
                return json.loads(resp.read())["choices"][0]["message"]["content"] or ""

        return cls(generate, name=f"llm:{model}")

    @classmethod
    def from_local(cls, model_id: str, max_new_tokens: int = 8) -> LLMJudge:
        """Any local transformers chat model (a folder or a cached hub id), text only, greedy."""
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        processor = AutoProcessor.from_pretrained(model_id)
        try:
            model = AutoModelForImageTextToText.from_pretrained(model_id).eval()
        except ValueError:  # a text-only model
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(model_id).eval()
        tok = getattr(processor, "tokenizer", processor)

        def generate(prompt: str) -> str:
            msgs = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
            ids = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True,
                                                return_tensors="pt")
            with torch.no_grad():
                out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
            return tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)

        return cls(generate, name=f"llm:{model_id}")


def make_judge(spec: str | Judge = "rule", f1_threshold: float = 0.6) -> Judge:
    """"rule" | "local:<model dir or id>" | "<http(s)://host/v1>#<model>" (API key from $OPENAI_API_KEY)."""
    import os

    if not isinstance(spec, str):
        return spec
    if spec == "rule":
        return RuleJudge(threshold=f1_threshold)
    if spec.startswith("local:"):
        return LLMJudge.from_local(spec[len("local:"):])
    if spec.startswith(("http://", "https://")) and "#" in spec:
        url, model = spec.split("#", 1)
        return LLMJudge.from_endpoint(url, model, api_key=os.environ.get("OPENAI_API_KEY"))
    raise ValueError(f"unknown judge {spec!r}: use 'rule', 'local:<model dir>' or 'http://host/v1#<model>'")


# ---------------------------------------------------------------------------------------------- the rewards

def _column(values: list[Any] | None, n: int) -> list[Any]:
    return list(values) if values is not None else [None] * n


def option_letter(prediction: str, options: list[str]) -> str | None:
    """The option an MC answer names *exactly*: "B", "(b)", "B.", "B. green" (text must match) or "green"; else None
    (so "A or B", "B, C" and "A B C D" name no option).

    >>> [option_letter(a, ["red", "green"]) for a in ("B", "(b)", "B. green", "Green", "B. red", "A or B")]
    ['B', 'B', 'B', 'B', None, None]
    """
    from seekerlite.schema import OPTION_LETTERS

    a, letters = prediction.strip(), OPTION_LETTERS[: len(options)]
    norm = lambda t: " ".join(t.lower().strip(" .").split())  # noqa: E731
    m = re.fullmatch(r"\(?([A-Ja-j])\)?[.:]?", a)
    if m:
        return m.group(1).upper() if m.group(1).upper() in letters else None
    m = re.fullmatch(r"\(?([A-Ja-j])[.:)]\s*(.+)", a, re.S)
    if m:
        letter = m.group(1).upper()
        return letter if letter in letters and norm(m.group(2)) == norm(options[letters.index(letter)]) else None
    hits = [L for L, o in zip(letters, options) if norm(a) == norm(o)]
    return hits[0] if len(hits) == 1 else None


def is_correct(completion: Completion, answer: str, options: list[str] | None = None, question: str = "",
               judge: Judge | None = None) -> bool:
    """MC: the final answer's option letter equals the key. OE: the judge accepts the final answer."""
    pred = final_answer(completion)
    if pred is None:
        return False
    if options:
        return option_letter(pred, list(options)) == answer
    return (judge or RuleJudge())(pred, answer, question or "") >= 0.5


def accuracy_reward(completions: list[Completion], answer: list[str], options: list[list[str] | None] | None = None,
                    question: list[str] | None = None, judge: Judge | None = None, **kwargs: Any) -> list[float]:
    """1.0 for a correct final answer, else 0.0 (see ``is_correct``).

    >>> accuracy_reward(["<think>.</think><answer>B</answer>", "<answer>red</answer>"], answer=["B", "red"],
    ...                 options=[["x", "y"], None])
    [1.0, 1.0]
    """
    opts, qs = _column(options, len(completions)), _column(question, len(completions))
    return [float(is_correct(c, a, o, q or "", judge)) for c, a, o, q in zip(completions, answer, opts, qs)]


def format_reward(completions: list[Completion], **kwargs: Any) -> list[float]:
    """1.0 when a rollout follows ``think (tool_call think)* answer`` exactly (see ``format_problems``), else 0.0.

    >>> format_reward(["<think>a</think><answer>B</answer>", "<answer>B</answer>"])
    [1.0, 0.0]
    """
    return [float(not format_problems(c)) for c in completions]


def parsimony_score(n_calls: int, n_frames: int, call_penalty: float = 0.2, free_calls: int = 1,
                    frame_penalty: float = 0.0, free_frames: int = 8) -> float:
    """``max(0, 1 - call_penalty * extra calls - frame_penalty * extra frames)``; the first calls/frames are free.

    >>> parsimony_score(0, 0), parsimony_score(1, 4), parsimony_score(3, 12)
    (1.0, 1.0, 0.6)
    """
    extra_calls, extra_frames = max(0, n_calls - free_calls), max(0, n_frames - free_frames)
    return max(0.0, 1.0 - call_penalty * extra_calls - frame_penalty * extra_frames)


def parsimony_reward(completions: list[Completion], answer: list[str] | None = None,
                     options: list[list[str] | None] | None = None, question: list[str] | None = None, *,
                     judge: Judge | None = None, call_penalty: float = 0.2, free_calls: int = 1,
                     frame_penalty: float = 0.0, free_frames: int = 8, needs_correct: bool = True,
                     **kwargs: Any) -> list[float]:
    """Fewer tool calls / frames for the same correctness: ``parsimony_score``, and 0 for a wrong answer when
    ``needs_correct`` (so guessing fast is not paid).

    >>> look = [{"role": "assistant", "content": "<think>.</think>", "tool_calls": [{"function": {"name": "crop_video", "arguments": {}}}]},
    ...         {"role": "tool", "content": []}, {"role": "assistant", "content": "<think>.</think><answer>B</answer>"}]
    >>> parsimony_reward([look, look[-1:], look[-1:]], answer=["B", "B", "C"], options=[["x", "y", "z"]] * 3)
    [1.0, 1.0, 0.0]
    """
    n = len(completions)
    correct = [True] * n
    if needs_correct:
        if answer is None:
            raise ValueError("parsimony_reward(needs_correct=True) needs the `answer` column")
        correct = [c > 0 for c in accuracy_reward(completions, answer, options, question, judge=judge)]
    out = []
    for comp, ok in zip(completions, correct):
        calls, frames = count_tool_use(comp)
        out.append(parsimony_score(calls, frames, call_penalty, free_calls, frame_penalty, free_frames) if ok else 0.0)
    return out


def _named(fn: Callable[..., list[float]], name: str, **bound: Any) -> Callable[..., list[float]]:
    """``fn`` with some keywords bound, as a plain function called ``name`` (TRL logs ``rewards/<name>/mean``)."""

    def reward(completions: list[Completion], **kwargs: Any) -> list[float]:
        return fn(completions, **(kwargs | bound))

    reward.__name__ = reward.__qualname__ = name
    reward.__doc__ = fn.__doc__
    return reward


def make_reward_funcs(cfg: RewardConfig | None = None, judge: Judge | None = None) -> tuple[list[Callable], list[float]]:
    """The three reward functions, bound to the config, and their weights (for ``GRPOConfig.reward_weights``)."""
    cfg = cfg or RewardConfig()
    judge = judge or make_judge(cfg.judge, cfg.f1_threshold)
    funcs = [_named(accuracy_reward, "accuracy", judge=judge), _named(format_reward, "format"),
             _named(parsimony_reward, "parsimony", judge=judge, call_penalty=cfg.call_penalty,
                    free_calls=cfg.free_calls, frame_penalty=cfg.frame_penalty, free_frames=cfg.free_frames,
                    needs_correct=cfg.parsimony_needs_correct)]
    return funcs, cfg.weights


def score_completion(completion: Completion, answer: str, options: list[str] | None = None, question: str = "",
                     cfg: RewardConfig | None = None, judge: Judge | None = None) -> dict[str, float]:
    """Every component and the weighted total for one rollout (what TRL logs, for one completion).

    >>> score_completion("<think>.</think><answer>B</answer>", "B", ["x", "y"])["total"]
    1.0
    """
    cfg = cfg or RewardConfig()
    funcs, weights = make_reward_funcs(cfg, judge)
    kw = {"answer": [answer], "options": [options], "question": [question]}
    out = {f.__name__: f([completion], **kw)[0] for f in funcs}
    calls, frames = count_tool_use(completion)
    out["total"] = sum(w * out[f.__name__] for f, w in zip(funcs, weights))
    return out | {"tool_calls": float(calls), "frames": float(frames)}
