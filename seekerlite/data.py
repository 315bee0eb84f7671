"""Where samples come from: seekerlite JSONL, a V2P-Bench annotation file, or a freshly generated toy world.

    samples, base = load_samples("sample_data/annotations/vtest_samples.jsonl")
    samples, base = load_samples("toy:4@7", out_dir="runs/eval")     # 4 toy clips of world seed 7
    train, held_out = split_by_video(samples, eval_fraction=0.25, seed=1)

Relative paths inside the records resolve against ``base`` (the file's folder). Every step (pipeline, SFT,
GRPO, evaluation) reads samples through ``load_samples``.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np

from seekerlite.schema import Sample, SchemaError, load_jsonl

TOY_SPEC = re.compile(r"toy(?::(\d+))?(?:@(\d+))?")
TOY_HELP = "toy[:N_CLIPS][@SEED]: a toy world generated for this run (default 4 clips, seed 0)"
MAX_TOY_CLIPS = 10_000  # a toy spec asking for more clips is refused (it would run for days)


def parse_toy_spec(spec: str) -> tuple[int, int] | None:
    """(clips, seed) of a ``toy[:N][@SEED]`` spec, or None when `spec` is not one.

    >>> parse_toy_spec("toy"), parse_toy_spec("toy:3@7"), parse_toy_spec("runs/x/rl.jsonl")
    ((4, 0), (3, 7), None)

    Raises:
        ValueError: a spec that starts like one (``toy:`` / ``toy@``) but is not valid (``toy:0``, ``toy:-3``).
    """
    text = spec.strip()
    m = TOY_SPEC.fullmatch(text)
    if m is None:
        if text.startswith(("toy:", "toy@")):
            raise ValueError(f"{spec!r} is not a toy-world spec ({TOY_HELP})")
        return None
    if len(m.group(1) or "") > 6 or len(m.group(2) or "") > 10:
        raise ValueError(f"{spec!r}: at most {MAX_TOY_CLIPS} clips and a seed below 2**31 ({TOY_HELP})")
    n, seed = int(m.group(1) or 4), int(m.group(2) or 0)
    if not 1 <= n <= MAX_TOY_CLIPS or seed >= 2 ** 31:
        raise ValueError(f"{spec!r}: a toy world needs 1 to {MAX_TOY_CLIPS} clips and a seed below 2**31 ({TOY_HELP})")
    return n, seed


def load_samples(spec: str | Path, *, out_dir: str | Path | None = None, video_root: str | None = None,
                 frame_root: str | None = None, locate_prompt_frames: bool = False,
                 families: tuple[str, ...] | None = None) -> tuple[list[Sample], Path]:
    """(samples, base folder) from a samples file or a toy-world spec.

    Args:
        spec: a seekerlite JSONL file, a V2P-Bench annotation file (told apart by its fields), or ``toy[:N][@SEED]``
            (generated into ``out_dir/toy-N-SEED``, reused when already there).
        out_dir: where a toy world is written (required for toy specs).
        families: the toy world's question families (``ToyWorldConfig.question_families``; None = the default
            six); a world of other families is written to its own folder ``toy-N-SEED-<families>``.
        video_root, frame_root, locate_prompt_frames: V2P-Bench options (see ``seekerlite.v2p.load_v2p``).

    Raises:
        FileNotFoundError: no such file. SchemaError: a malformed record (file, line and field named), or a file
        that holds no sample at all.
    """
    toy = parse_toy_spec(str(spec))
    if toy is not None:
        from seekerlite.toyworld import generate_dataset, world_config

        if out_dir is None:
            raise ValueError(f"{spec!r}: a toy world needs a folder to be written to (out_dir)")
        n, seed = toy
        name = f"toy-{n}-{seed}" + (f"-{'+'.join(families)}" if families is not None else "")
        path = Path(out_dir) / name / "samples.jsonl"
        if not path.is_file():
            fams = tuple(families) if families is not None else None
            generate_dataset(path.parent, n_clips=n, seed=seed, config=world_config(seed, fams))
        return load_jsonl(path), path.parent
    from seekerlite.v2p import is_v2p_file, load_v2p

    path = Path(spec)
    if not path.is_file():
        try:
            path.stat()  # an unreadable folder on the way: say so (PermissionError names the file), not "no such file"
        except PermissionError:
            raise
        except OSError:
            pass
        raise FileNotFoundError(f"no such data file: {path}" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        v2p = is_v2p_file(path)
    except (ValueError, RecursionError):  # not UTF-8, or nested too deep: the strict loader below says where
        v2p = False
    if v2p:
        samples = load_v2p(path, video_root, frame_root, locate_prompt_frames=locate_prompt_frames)
    else:
        samples = load_jsonl(path)
    if not samples:
        raise SchemaError(f"{path}: holds no samples (the file is empty or blank); nothing to train or evaluate on")
    return samples, path.parent


def subset(samples: list[Sample], max_samples: int | None, seed: int = 0) -> list[Sample]:
    """A seeded random subset of at most `max_samples`, in the original order."""
    if max_samples is None or max_samples >= len(samples):
        return list(samples)
    keep = np.sort(np.random.default_rng(seed).choice(len(samples), size=max_samples, replace=False))
    return [samples[i] for i in keep]


def split_by_video(samples: list[Sample], eval_fraction: float, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """(train, held out): whole videos held out (never questions of one clip on both sides), a seeded choice."""
    videos = sorted({s.video_path for s in samples})
    n_eval = max(1, round(eval_fraction * len(videos))) if eval_fraction > 0 and len(videos) > 1 else 0
    held = set(random.Random(seed).sample(videos, n_eval))
    return [s for s in samples if s.video_path not in held], [s for s in samples if s.video_path in held]


def keep_form(samples: list[Sample], form: str) -> list[Sample]:
    """The samples of one question form: "mc", "oe" or "both"."""
    if form not in ("mc", "oe", "both"):
        raise ValueError(f"form must be 'mc', 'oe' or 'both', got {form!r}")
    return [s for s in samples if form == "both" or (form == "mc") == s.is_mc]
