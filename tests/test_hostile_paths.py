"""Hostile ids and names: one injective, escaping file-name function, and nothing ever written outside the run folder
(issue 13, class 1: ``x/y`` and ``x_y`` shared ``prompts/x_y.png``; class 2: ids and source names such as
``../../x`` escaped the run folder, and a natural id such as ``cam1/clip3`` aborted a whole stage)."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hostile_common import tried
from hypothesis import given, settings
from hypothesis import strategies as st

HOSTILE_IDS = ["x/y", "x_y", "../../x", "../../../../tmp/evil", "/etc/passwd", "..", ".", "", "a\x00b", "a\nb",
               "cam1/clip3", "C:\\win\\path", "%2F", "%", "~~", "-rf", ".hidden", "a" * 400, "\u00e9t\u00e9/\u2603",
               "\ud800lone", " ", "a/./b", "CON", "x" * 159 + "/"]


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", HOSTILE_IDS, ids=[repr(n)[:30] for n in HOSTILE_IDS])
def test_file_name_is_one_safe_component_and_round_trips(name):
    from seekerlite.paths import MAX_NAME, file_name, name_of

    out = file_name(name)
    assert out and out not in (".", "..") and "/" not in out and "\\" not in out and "\x00" not in out
    assert out.isascii() and len(out) <= MAX_NAME and not out.startswith(".")
    if "~~" not in out:
        assert name_of(out) == name


def test_x_slash_y_and_x_underscore_y_never_collide():
    from seekerlite.paths import file_name

    names = HOSTILE_IDS + ["x%2Fy", "x%y", "x.y", "x-y", "X/y", "a" * 401]
    assert len({file_name(n) for n in names}) == len(set(names))


@settings(max_examples=300, deadline=None)
@given(a=st.text(), b=st.text())
def test_file_name_is_injective_and_invertible(a, b):
    from seekerlite.paths import file_name, name_of

    tried("paths", 2)
    fa, fb = file_name(a), file_name(b)
    assert (fa == fb) == (a == b)
    assert "/" not in fa and fa not in ("", ".", "..") and ("~~" in fa or name_of(fa) == a)


@pytest.mark.parametrize("parts", [("..", "x"), ("a/../../b",), ("/etc/passwd",), ("prompts", "../../x.png"),
                                   ("link", "x")], ids=["dotdot", "nested-dotdot", "absolute", "deep", "symlink-out"])
def test_inside_refuses_paths_that_leave_the_root(tmp_path, parts):
    from seekerlite.paths import PathEscapeError, inside

    root = tmp_path / "run"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)  # a symlink pointing out of the run
    with pytest.raises(PathEscapeError, match="outside"):
        inside(root, *parts)


def _render(samples, run):
    from seekerlite.pipeline.stage4_render import RenderConfig, render_samples

    cfg = RenderConfig(prompt_types={"rectangle": 1.0})
    return list(render_samples(samples, run, run, cfg))


@pytest.fixture(scope="module")
def one_toy_sample(toy_dataset):
    """(a toy sample whose paths are absolute, so it renders from any folder)."""
    samples, base = toy_dataset
    s = next(s for s in samples if s.masklet is not None)
    return replace(s, video_path=str(Path(base) / s.video_path))


def test_stage4_gives_x_slash_y_and_x_underscore_y_their_own_marks(one_toy_sample, tmp_path):
    """Before: both samples' marks went to prompts/x_y.png, so one sample showed the other's mark."""
    run = tmp_path / "run"
    a = replace(one_toy_sample, id="x/y")
    b = replace(one_toy_sample, id="x_y", visual_prompt=replace(one_toy_sample.visual_prompt,
                                                                frame_index=one_toy_sample.masklet.visible_frames()[0]))
    out = {o.id: o.record for o in _render([a, b], run)}
    pa, pb = out["x/y"].visual_prompt.image_path, out["x_y"].visual_prompt.image_path
    assert pa != pb and (run / pa).is_file() and (run / pb).is_file()


@settings(max_examples=25, deadline=None)
@given(sid=st.sampled_from(HOSTILE_IDS[:-4]) | st.text(min_size=1, max_size=40))
def test_stage4_never_writes_outside_the_run_folder(one_toy_sample, sid):
    """A property over hostile ids: stage 4 writes its prompt inside the run folder, and nowhere else."""
    tried("paths")
    with tempfile.TemporaryDirectory() as tmp:
        outer = Path(tmp)
        run = outer / "a" / "b" / "run"
        run.mkdir(parents=True)
        before = _files(outer)
        [oc] = _render([replace(one_toy_sample, id=sid)], run)
        new = set(_files(outer)) - set(before)
        assert new and all(Path(outer / f).resolve().is_relative_to(run.resolve()) for f in new), new
        assert (run / oc.record.visual_prompt.image_path).resolve().is_relative_to(run.resolve())


@pytest.mark.parametrize("sid", ["../../../../escape", "/abs/escape", "a/b/c", "..", "x" * 300],
                         ids=["dotdot", "absolute", "nested", "dotdot-alone", "long"])
def test_chat_dataset_and_eval_transcripts_stay_in_their_folder(toy_dataset, tmp_path, sid):
    """save_chat_dataset used the sample id as an image prefix unescaped: ``../../escape_000.png``."""
    from seekerlite.evaluate.metrics import EpisodeRecord, summarize
    from seekerlite.evaluate.tables import EvalResult, write_results
    from seekerlite.policies import OraclePolicy, run_episode
    from seekerlite.trajectory import load_chat_dataset, save_chat_dataset

    samples, base = toy_dataset
    traj = run_episode(OraclePolicy(), samples[0], base_dir=base)
    traj.sample_id = sid
    outer = tmp_path / "outer"
    run = outer / "deep" / "run"
    run.mkdir(parents=True)
    path = save_chat_dataset([traj], run / "sft")
    assert load_chat_dataset(path, load_images=False)[0]["sample_id"] == sid
    rec = EpisodeRecord(sample_id=sid, correct=True, answer="A", reference="A")
    write_results(EvalResult(policy="oracle", data="x", records=[rec], trajectories=[traj],
                                summary=summarize([rec], n_bootstrap=10)), run / "eval",
                  save_images=1)
    assert all((outer / f).resolve().is_relative_to(run.resolve()) for f in _files(outer)), sorted(_files(outer))


@pytest.mark.parametrize("name", ["../../escape", "<absolute>", "a/b", ".."])
def test_a_source_name_never_leaves_the_run_folder(tmp_path, name):
    from seekerlite.pipeline.runner import SourceConfig, source_samples

    name = str(tmp_path / "absolute_escape") if name == "<absolute>" else name
    outer = tmp_path / "outer"
    run = outer / "run"
    run.mkdir(parents=True)
    samples = source_samples(SourceConfig("toyworld", n_clips=1, seed=3, forms=["mc"], name=name), run)
    assert samples and all(s.provenance["input"] == name for s in samples)
    assert all((outer / f).resolve().is_relative_to(run.resolve()) for f in _files(outer))
    assert not (tmp_path / "absolute_escape").exists() and not (tmp_path / "escape").exists()
