"""The one judge: whether an answer is right. Rewards, evaluation, the pipeline's checks and the episode loop all
ask this module, so no answer is right in one place and wrong in another.

    is_correct("B", key="B", options=["red", "green"])          # MC: strict option letter -> True
    is_correct("A or B", key="B", options=["red", "green"])     # hedging names no option -> False
    answer_is_correct(sample, "it turns blue", judge=RuleJudge())  # OE: a Judge decides

Rules:
- **MC, strict** (``mc_letter``): the answer names exactly one option: "B", "(b)", "B.", "B. <that option's text>" or
  the option's text alone. "A or B", "A B C D", "B. red" (with B not red) name none.
- **OE** (``Judge``): ``RuleJudge`` (normalisation, synonyms, numbers that must agree, no contradicting or hedging
  terms, token F1) by default; ``LLMJudge`` with a local model or an OpenAI-compatible endpoint.
- **V2P-Bench's own rule** (``v2p_letter``), used only to score a benchmark response file so its numbers stay
  comparable with the published table: the response's first character is the letter.
A results file names the rule that produced it (``SCORING_RULES``).
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from seekerlite.schema import OPTION_LETTERS, Sample

SCORING_RULES = {
    "seekerlite": "MC: strict option letter of the episode's one final <answer>; OE: the judge",
    "v2p-first-char": "V2P-Bench's rule: the response's first character equals the answer letter",
}


def normalize_text(s: str) -> str:
    """Lowercase, drop punctuation and articles (used to compare questions and find duplicates).

    >>> normalize_text("The  Red circle.")
    'red circle'
    """
    s = re.sub(r"[^\w\s.]", " ", s.lower()).replace(".", " ")
    return " ".join(w for w in s.split() if w not in {"a", "an", "the"})


# ---------------------------------------------------------------------------------------------- MC

def mc_letter(prediction: str, options: list[str]) -> str | None:
    """The option an MC answer names *exactly*: "B", "(b)", "B.", "B. green" (text must match) or "green"; else None
    (so "A or B", "B, C" and "A B C D" name no option).

    >>> [mc_letter(a, ["red", "green"]) for a in ("B", "(b)", "B. green", "Green", "B. red", "A or B")]
    ['B', 'B', 'B', 'B', None, None]
    """
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


def v2p_letter(response: str | None, n_options: int = 10) -> str | None:
    """V2P-Bench's official rule: the letter is the response's first character (after leading spaces), if it is one
    of the first `n_options` letters.

    >>> v2p_letter("B. The man"), v2p_letter("The answer is B"), v2p_letter(" c")
    ('B', None, 'C')
    """
    c = (response or "").lstrip()[:1].upper()
    return c if c and c in OPTION_LETTERS[:n_options] else None


# ---------------------------------------------------------------------------------------------- OE judges

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


# ---------------------------------------------------------------------------------------------- the verdict

def is_correct(prediction: str | None, key: str, options: list[str] | None = None, question: str = "",
               judge: Judge | None = None) -> bool:
    """Is `prediction` (an episode's final answer, None when it gave none) right? MC (``options`` given): its
    strict option letter equals ``key``. OE: ``judge`` (default ``RuleJudge()``) scores it >= 0.5 against ``key``.

    >>> is_correct("B", "B", ["x", "y"]), is_correct("A B", "B", ["x", "y"]), is_correct("blue", "blue"), is_correct(None, "B")
    (True, False, True, False)
    """
    if prediction is None:
        return False
    if options:
        return mc_letter(prediction, list(options)) == key
    return float((judge or RuleJudge())(prediction, key, question or "")) >= 0.5


def answer_is_correct(sample: Sample, prediction: str | None, judge: Judge | None = None) -> bool:
    """``is_correct`` for a Sample's key, options and question."""
    return is_correct(prediction, sample.answer, sample.options, sample.question, judge)
