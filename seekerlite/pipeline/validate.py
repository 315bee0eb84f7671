"""Checking a pipeline config before any work starts: every field's type (``schema.from_dict``) and range (here).

    problems = config_problems(cfg)      # ["sources[0].n_clips: -3 (want >= 1)", ...]; [] when the config is usable
    check_config(cfg, where="my.json")   # ConfigError naming the file and the first bad field

A config that would fail half way (an unknown stage, ``n_clips: -3``, a colour the renderer does not know, two toy
worlds writing into one folder) is refused whole, before a single record is written.
"""

from __future__ import annotations

import math
from typing import Any

from seekerlite.paths import file_name
from seekerlite.pipeline.stage4_render import NAMED_COLORS
from seekerlite.pipeline.store import STAGES
from seekerlite.schema import PROMPT_TYPES, SchemaError

SOURCE_KINDS = ("toyworld", "jsonl")
FORMS = ("mc", "oe")


class ConfigError(SchemaError):
    """A config holds a value that no run can use; the message names the file and the field."""


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _range(out: list[str], name: str, x: Any, lo: float | None = None, hi: float | None = None,
           optional: bool = False) -> None:
    """Append a problem unless `x` is a finite number in [lo, hi] (or None when `optional`)."""
    if x is None and optional:
        return
    if not _num(x) or (lo is not None and x < lo) or (hi is not None and x > hi):
        want = " and ".join(w for w in (f">= {lo:g}" if lo is not None else "", f"<= {hi:g}" if hi is not None else "")
                            if w) or "a finite number"
        out.append(f"{name}: {x!r} (want {want})")


def source_name(src: Any) -> str:
    """The name a source records as ``provenance["input"]`` (toy worlds: also their folder name)."""
    return src.name or (f"toyworld-seed{src.seed}" if src.kind == "toyworld" else str(src.path or ""))


def config_problems(cfg: Any) -> list[str]:
    """Every out-of-range field of a PipelineConfig, as "field: value (want ...)"; empty when it is usable."""
    out: list[str] = []
    if not cfg.sources:
        out.append("sources: empty (want at least one source)")
    folders: dict[str, int] = {}
    for i, src in enumerate(cfg.sources):
        at = f"sources[{i}]"
        if src.kind not in SOURCE_KINDS:
            out.append(f"{at}.kind: {src.kind!r} (want one of {list(SOURCE_KINDS)})")
        if src.kind == "jsonl" and not src.path:
            out.append(f"{at}.path: a 'jsonl' source needs a path")
        _range(out, f"{at}.n_clips", src.n_clips, 1, 10_000)
        _range(out, f"{at}.max_samples", src.max_samples, 1, optional=True)
        if not src.forms or set(src.forms) - set(FORMS):
            out.append(f"{at}.forms: {src.forms!r} (want a non-empty list of {list(FORMS)})")
        if src.kind == "toyworld":  # two toy worlds in one folder would share (and corrupt) their clips
            folder = file_name(source_name(src))
            if folder in folders:
                out.append(f"{at}.name: toyworld sources {folders[folder]} and {i} would share the folder "
                           f"toyworld/{folder} (give them different names)")
            folders[folder] = i
    f = cfg.filter
    _range(out, "filter.min_words", f.min_words, 0)
    _range(out, "filter.max_words", f.max_words, max(f.min_words, 0) if _num(f.min_words) else 0)
    _range(out, "filter.max_answer_words", f.max_answer_words, 1)
    _range(out, "filter.min_score", f.min_score, 0, 1, optional=True)
    v = cfg.verify
    _range(out, "verify.min_duration", v.min_duration, 0)
    _range(out, "verify.max_duration", v.max_duration, v.min_duration if _num(v.min_duration) else 0)
    _range(out, "verify.min_fps", v.min_fps, 0)
    _range(out, "verify.max_fps", v.max_fps, v.min_fps if _num(v.min_fps) else 0)
    _range(out, "verify.span_tolerance", v.span_tolerance, 0)
    _range(out, "verify.verifier_frames", v.verifier_frames, 1, 64)
    _range(out, "verify.min_verifier_score", v.min_verifier_score, 0, 1, optional=True)
    m = cfg.masks
    _range(out, "masks.min_visible_frames", m.min_visible_frames, 0)
    _range(out, "masks.sam2_image_size", m.sam2_image_size, 64, 4096, optional=True)
    r = cfg.render
    unknown = sorted(set(r.prompt_types) - set(PROMPT_TYPES))
    if unknown:
        out.append(f"render.prompt_types: unknown types {unknown} (want some of {list(PROMPT_TYPES)})")
    for t, w in r.prompt_types.items():
        _range(out, f"render.prompt_types.{t}", w, 0)
    if not any(_num(w) and w > 0 for w in r.prompt_types.values()):
        out.append("render.prompt_types: no type has a weight > 0")
    if r.frame_choice not in ("best", "keep_or_best", "keep"):
        out.append(f"render.frame_choice: {r.frame_choice!r} (want 'best', 'keep_or_best' or 'keep')")
    _range(out, "render.keep_ratio", r.keep_ratio, 0, 1)
    _range(out, "render.border_margin", r.border_margin, 0)
    _range(out, "render.cut_penalty", r.cut_penalty, 0, 1)
    for name, colour in [("render.color", r.color)] + [(f"render.source_colors.{k}", c) for k, c in r.source_colors.items()]:
        if colour not in NAMED_COLORS:
            out.append(f"{name}: {colour!r} (want one of {sorted(NAMED_COLORS)})")
    s = cfg.synthesize
    _range(out, "synthesize.max_new_tokens", s.max_new_tokens, 1)
    _range(out, "synthesize.temperature", s.temperature, 0)
    c = cfg.curate
    _range(out, "curate.k", c.k, 1, 1000)
    _range(out, "curate.min_pass_rate", c.min_pass_rate, 0, 1)
    _range(out, "curate.max_pass_rate", c.max_pass_rate, c.min_pass_rate if _num(c.min_pass_rate) else 0, 1)
    _range(out, "curate.oe_max_words", c.oe_max_words, 1)
    _range(out, "curate.temperature", c.temperature, 0)
    _range(out, "curate.max_new_tokens", c.max_new_tokens, 1)
    return out


def check_config(cfg: Any, where: str = "the pipeline config") -> Any:
    """`cfg`, or ConfigError: "<where>: field '<first bad field>': ..." (every problem listed below it)."""
    problems = config_problems(cfg)
    if problems:
        first = problems[0].split(":", 1)
        more = "".join(f"\n  {p}" for p in problems[1:])
        raise ConfigError(f"{where}: field '{first[0]}':{first[1]}{more}", field=first[0])
    return cfg


def check_stage(name: str | None, what: str = "--until", allowed: tuple[str, ...] = STAGES) -> None:
    """ConfigError unless `name` is None or one of the pipeline's stages."""
    if name is not None and name not in allowed:
        raise ConfigError(f"{what}: unknown stage {name!r} (want one of {list(allowed)})", field=what)
