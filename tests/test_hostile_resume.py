"""Resuming after a kill -9 in the middle of saving a training checkpoint (issue 13: kill -9 / resume of SFT/GRPO
checkpoints). The Trainer writes a checkpoint in place (weights, optimizer, RNG, then ``trainer_state.json``), so
a run killed while saving leaves a partial ``checkpoint-N``; ``--resume`` must pass over it. (The full
train -> cut -> resume -> same losses check is tests/test_sft.py::test_sft_trains_saves_and_resumes; the pipeline's
kill -9 at random points of every stage is tests/test_pipeline_resume.py.)"""

from __future__ import annotations

import json

import pytest

from seekerlite.train.sft import latest_checkpoint


@pytest.mark.parametrize("partial", [[], ["model.safetensors"], ["model.safetensors", "optimizer.pt", "rng_state.pth"]],
                         ids=["empty-folder", "weights-only", "no-trainer-state"])
def test_resume_passes_over_a_checkpoint_cut_short_by_a_kill(tmp_path, partial):
    for step in (2, 10):  # complete ones (10 > 9: sorted by number, not by name)
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    torn = tmp_path / "checkpoint-12"
    torn.mkdir()
    for name in partial:
        (torn / name).write_bytes(b"\0" * 10)
    (tmp_path / "checkpoint-x").mkdir()  # not a checkpoint of ours
    assert latest_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")
    (torn / "trainer_state.json").write_text("{}")
    assert latest_checkpoint(tmp_path) == str(torn)
    assert latest_checkpoint(tmp_path / "nothing-here") is None
