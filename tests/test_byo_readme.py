"""The README's "Bring your own videos" section, run literally: its bash blocks in order on the sample cup clip.

The first three steps (find the box, write the questions, run the pipeline) run in a fixture shared by the tests;
the training step (slow) continues in the same folder. Also: stage 4 never pairs a question's mark words with a
different mark, for every type it draws.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seekerlite.marks import MARKS
from seekerlite.pipeline.stage4_render import (
    PHRASE_PATTERNS,
    RenderConfig,
    find_mark_words,
    render_samples,
)
from seekerlite.schema import PROMPT_TYPES, Masklet, Sample, VisualPrompt, load_jsonl

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Bring your own videos"


def readme_blocks() -> list[str]:
    """The bash code blocks of the README's bring-your-own section, dedented, in order."""
    text = (ROOT / "README.md").read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end > 0 else None]
    blocks = re.findall(r"^([ \t]*)```bash\n(.*?)^\1```", section, flags=re.DOTALL | re.MULTILINE)
    return [textwrap.dedent(body) for _, body in blocks]


def _run(script: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          check=False, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def byo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A folder standing in for the repository root (sample_data linked in) after the section's first blocks."""
    cwd = tmp_path_factory.mktemp("byo")
    (cwd / "sample_data").symlink_to(ROOT / "sample_data")
    blocks = readme_blocks()
    assert len(blocks) >= 5, "the section lost its code blocks"
    first = "\n".join(b for b in blocks if "seekerlite sft" not in b)
    res = _run(first, cwd, timeout=240)
    assert res.returncode == 0, f"README block failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return cwd, blocks


@pytest.mark.slow  # ~35 s: five commands, one tracking, the pipeline
def test_readme_finds_the_box_and_runs_the_pipeline(byo: tuple[Path, list[str]]) -> None:
    cwd, _ = byo
    from PIL import Image

    for png in ("grid.png", "box.png", "track.png"):
        assert Image.open(cwd / "my_videos" / png).size[0] >= 300, png
    track = json.loads((cwd / "my_videos" / "track.json").read_text())
    assert track["prompt"]["box"] == [228.0, 90.0, 312.0, 285.0]
    rendered = load_jsonl(cwd / "runs" / "mine" / "stage4_render.jsonl")
    assert {s.id for s in rendered} == {"cup-move", "cup-colour"}
    for s in rendered:  # kept as asked: the question's words and the drawn mark agree
        assert s.visual_prompt.prompt_type == "rectangle" and "in the red box" in s.question
        assert s.visual_prompt.timestamp == pytest.approx(26 / 26.777, abs=0.01)
    assert (cwd / "runs" / "mine" / "sft" / "sft.jsonl").stat().st_size > 0


@pytest.mark.slow  # ~90 s: SFT, GRPO and eval on the tiny student
def test_readme_trains_and_evaluates(byo: tuple[Path, list[str]]) -> None:
    cwd, blocks = byo
    train = "\n".join(b for b in blocks if "seekerlite sft" in b)
    res = _run(train, cwd, timeout=480)
    assert res.returncode == 0, f"README training block failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    results = json.loads((cwd / "runs" / "mine-eval" / "results.json").read_text())
    assert [r["sample_id"] for r in results["records"]] == ["cup-move", "cup-colour"]
    assert (cwd / "runs" / "mine-grpo" / "run.json").exists()


def test_box_errors_name_the_frame(tmp_path: Path) -> None:
    from seekerlite.cli import main

    video = str(ROOT / "sample_data" / "videos" / "cup.mp4")
    assert main(["frame", "--video", video, "--frame", "26", "--box", "228 90 312 385", "--out",
                 str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()
    assert main(["prompts", "--video", video, "--frame", "26", "--box", "400,10,520,100", "--out", str(tmp_path)]) == 2


# ------------------------------------------------------------------------------- stage 4's mark words

def test_every_mark_phrase_is_found_again() -> None:
    from seekerlite.pipeline.stage4_render import mark_phrase

    for t in PROMPT_TYPES:
        words = mark_phrase(t, "red", "3", "dog")
        assert find_mark_words(f"What does {words} do next?") == (words, "dog"), t
    assert set(PHRASE_PATTERNS) == set(MARKS)
    assert find_mark_words("What does the marked dog do next?") is None


def _clip(path: Path) -> Path:
    import cv2
    import numpy as np

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 64))
    for i in range(12):
        img = np.full((64, 96, 3), 200, np.uint8)
        img[20:44, 10 + i * 3: 30 + i * 3] = (30, 30, 200)
        w.write(img)
    w.release()
    return path


@pytest.mark.parametrize("choice", ["draw", "keep"])
def test_stage4_question_names_the_drawn_mark(tmp_path: Path, choice: str) -> None:
    _clip(tmp_path / "v.mp4")
    boxes = [[10.0 + i * 3, 20.0, 30.0 + i * 3, 44.0] for i in range(12)]
    samples = [Sample(f"s{k}", "v.mp4", "Where does the square in the red box go?", "right",
                      visual_prompt=VisualPrompt(5, None, "ellipse" if k % 2 else "rectangle", box=boxes[5]),
                      masklet=Masklet("sq", list(range(12)), boxes)) for k in range(24)]
    cfg = RenderConfig(prompt_type_choice=choice, frame_choice="keep")
    out = [o.record for o in render_samples(samples, tmp_path, tmp_path, cfg)]
    types = {s.visual_prompt.prompt_type for s in out}
    if choice == "keep":
        assert [s.visual_prompt.prompt_type for s in out] == [s.visual_prompt.prompt_type for s in samples]
    else:
        assert len(types) >= 4  # drawn from every type
    for s in out:
        words = find_mark_words(s.question)
        assert words is not None and words[1] == "square", s.question
        drawn = [t for t, p in PHRASE_PATTERNS.items() if p.fullmatch(words[0])]
        assert drawn == [s.visual_prompt.prompt_type], (s.question, s.visual_prompt.prompt_type)


def test_stage4_keeps_the_type_when_it_cannot_rewrite_the_words(tmp_path: Path) -> None:
    _clip(tmp_path / "v.mp4")
    boxes = [[10.0 + i * 3, 20.0, 30.0 + i * 3, 44.0] for i in range(12)]
    samples = [Sample(f"s{k}", "v.mp4", "Where does the red-boxed square go?", "right",
                      visual_prompt=VisualPrompt(5, None, "rectangle", box=boxes[5]),
                      masklet=Masklet("sq", list(range(12)), boxes)) for k in range(12)]
    out = [o.record for o in render_samples(samples, tmp_path, tmp_path, RenderConfig(frame_choice="keep"))]
    assert {s.visual_prompt.prompt_type for s in out} == {"rectangle"}
    assert all(s.question == "Where does the red-boxed square go?" for s in out)
