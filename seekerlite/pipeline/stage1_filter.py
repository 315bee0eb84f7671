"""Stage 1, low-cost text filtering: keep questions that are instance-level, answerable and well formed.

    for oc in filter_samples(samples, FilterConfig()):
        print(oc.id, oc.kept, oc.reasons)        # e.g. 'toy3-obj1-exit-mc' False ['answer_in_question: ...']

Rules (each a reason code when it fails; a record can fail several):

    too_short / too_long          question length in words
    not_a_question                neither a '?' nor an imperative ("Describe ...", "Count ...")
    no_instance_reference         the question never points at the marked instance ("the marked person",
                                  "in the red box", "the arrow", "labelled 2", ...)
    several_instances             it points at several ("the marked objects", "both boxes")
    no_instance_location          nothing says where the instance is: no visual prompt (box or marked image), no masklet
    empty_option / duplicate_options / answer_in_question   MC option sanity (the key's text given away in the question)
    empty_answer / answer_too_long                          OE reference sanity
    duplicate                     same video, question and options as an earlier record (the first one is kept)
    low_score                     the optional model scorer (``scorer``) rated it below ``min_score``

The optional scorer asks any local model "is this question about one specific marked instance, and answerable
from the video?" and reads P(yes) (``scorers.YesNoScorer``); the score is stored in ``provenance["stage1"]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from seekerlite.pipeline.store import Outcome, drop
from seekerlite.judge import normalize_text
from seekerlite.schema import Sample
from seekerlite.v2p import infer_prompt_type


@dataclass
class FilterConfig:
    """Stage 1's rules and its optional model scorer."""

    min_words: int = 4  # shortest question, in words (the prompt phrase included)
    max_words: int = 120  # longest question, in words
    max_answer_words: int = 60  # longest OE reference answer, in words
    require_instance_reference: bool = True  # the question must point at the marked instance
    check_answer_leak: bool = True  # drop MC/OE questions whose text contains the answer
    scorer: str | None = None  # None | "tiny" | a model folder or hub id (Qwen3-VL or a text causal LM)
    min_score: float | None = None  # drop below this P(yes); None = record the score only


_MARK_RE = re.compile(
    r"\b(?:marked|highlighted|indicated|outlined|circled|boxed|labell?ed|tagged|numbered|annotated|pointed (?:to|at)"
    r"|bounding box|arrows?|dots?|scribbl\w*|contours?|masks?|rectangles?|ellipses?|triangles?)\b"
    r"|\bin the (?:\w+ )?(?:box|circle|frame's box)\b|<\d+>", re.IGNORECASE)
_MULTI_RE = re.compile(
    r"\b(?:marked|highlighted|circled|boxed|outlined|labell?ed|indicated) (?:objects|people|persons|instances|items|"
    r"ones|animals|cars|vehicles|men|women|shapes)\b|\b(?:both|all(?: of)? the|each of the|these) (?:marked|boxes|arrows|"
    r"highlighted|circled|labell?ed)\b|\bthe (?:boxes|arrows|marks|masks|circles|triangles)\b", re.IGNORECASE)
_IMPERATIVE_RE = re.compile(r"(?:^|[.:!]\s+)(?:describe|tell|name|count|identify|explain|list|give|state|say|find)\b", re.IGNORECASE)


def _words(text: str) -> int:
    return len(text.split())


def _contains_phrase(text: str, phrase: str) -> bool:
    """Whole-word match of a normalized phrase inside normalized text."""
    return bool(phrase) and re.search(rf"(?:^| ){re.escape(phrase)}(?: |$)", text) is not None


def rule_reasons(sample: Sample, config: FilterConfig | None = None) -> list[str]:
    """Every rule `sample` breaks (empty: it passes). Pure: looks at this record only.

    >>> s = Sample(id="a", video_path="v.mp4", question="What colour is the marked ball?", answer="red")
    >>> rule_reasons(s)
    ['no_instance_location: no visual prompt and no masklet']
    """
    cfg = config or FilterConfig()
    q = sample.question.strip()
    out: list[str] = []
    n = _words(q)
    if n < cfg.min_words:
        out.append(f"too_short: {n} words < {cfg.min_words}")
    if n > cfg.max_words:
        out.append(f"too_long: {n} words > {cfg.max_words}")
    if "?" not in q and not _IMPERATIVE_RE.search(q):
        out.append("not_a_question: no '?' and no imperative")
    if cfg.require_instance_reference:
        if _MULTI_RE.search(q):
            out.append(f"several_instances: {_MULTI_RE.search(q).group(0)!r}")  # type: ignore[union-attr]
        elif not (_MARK_RE.search(q) or infer_prompt_type(q)):
            out.append("no_instance_reference: the question never points at a marked instance")
    vp = sample.visual_prompt
    located = sample.masklet is not None or (vp is not None and (vp.box is not None or vp.image_path is not None))
    if not located:
        out.append("no_instance_location: no visual prompt and no masklet")
    nq = normalize_text(q)
    if sample.options is not None:
        opts = [normalize_text(o) for o in sample.options]
        if any(not o for o in opts):
            out.append("empty_option: an option is empty")
        if len(set(opts)) < len(opts):
            out.append("duplicate_options: two options say the same")
        key = opts[ord(sample.answer) - ord("A")]
        others = [o for i, o in enumerate(opts) if i != ord(sample.answer) - ord("A")]
        if cfg.check_answer_leak and len(key) >= 4 and _contains_phrase(nq, key) \
                and not any(_contains_phrase(nq, o) for o in others if len(o) >= 4):
            out.append(f"answer_in_question: the question contains the key {sample.options[ord(sample.answer) - 65]!r}")
    else:
        ref = normalize_text(sample.answer)
        if not ref:
            out.append("empty_answer: the OE reference is empty")
        elif _words(sample.answer) > cfg.max_answer_words:
            out.append(f"answer_too_long: {_words(sample.answer)} words > {cfg.max_answer_words}")
        elif cfg.check_answer_leak and len(ref) >= 4 and _words(ref) >= 2 and _contains_phrase(nq, ref):
            out.append("answer_in_question: the question contains the reference answer")
    return out


def duplicate_of(samples: list[Sample]) -> dict[str, str]:
    """{id: id of the first record with the same video, question and options} for every repeat.

    Computed over the whole input first, so the verdict of a record never depends on where a run resumed.
    """
    first: dict[tuple[Any, ...], str] = {}
    out = {}
    for s in samples:
        key = (s.video_path, normalize_text(s.question), tuple(normalize_text(o) for o in s.options or []) or None)
        if key in first:
            out[s.id] = first[key]
        else:
            first[key] = s.id
    return out


SCORER_PROMPT = ("Here is a question about a video.\n{question}\nIs this question about one specific marked "
                 "instance, and can it be answered by watching the video? Answer yes or no.")


def filter_samples(samples: Iterable[Sample], config: FilterConfig | None = None, *, skip: Iterable[str] = (),
                   scorer: Any = None) -> Iterator[Outcome]:
    """Stage 1 over an iterable of samples: one Outcome per sample whose id is not in `skip`.

    Args:
        samples: candidate questions.
        config: the rules; ``config.scorer`` names a model for the optional scorer.
        skip: ids already done (a resumed run).
        scorer: an object with ``score(prompt) -> float`` (overrides ``config.scorer``; tests pass their own).
    """
    from seekerlite.protocol import question_text

    cfg = config or FilterConfig()
    samples = list(samples)
    dups = duplicate_of(samples)
    skip = set(skip)
    for s in samples:
        if s.id in skip:
            continue
        reasons = rule_reasons(s, cfg)
        if s.id in dups:
            reasons.append(f"duplicate: same as {dups[s.id]}")
        info: dict[str, Any] = {}
        if not reasons and (scorer is not None or cfg.scorer):
            if scorer is None:
                from seekerlite.pipeline.scorers import YesNoScorer

                scorer = YesNoScorer(cfg.scorer)  # loaded once, on the first record that needs it
            info["score"] = round(float(scorer.score(SCORER_PROMPT.format(question=question_text(s)))), 4)
            if cfg.min_score is not None and info["score"] < cfg.min_score:
                reasons.append(f"low_score: {info['score']:.3f} < {cfg.min_score}")
        if reasons:
            yield drop(s.id, reasons, **info)
            continue
        yield Outcome(s.id, replace(s, provenance={**s.provenance, "stage1": info}))
