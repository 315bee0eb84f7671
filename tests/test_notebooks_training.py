"""Notebooks 03 (SFT) and 04 (GRPO) execute headless, top to bottom, in that order: 04 starts from the model 03
saves in runs/03_sft (as a learner would run them), so the suite trains the SFT student once."""

import pytest

from conftest import execute_notebook, notebook_images, notebook_text

pytestmark = pytest.mark.slow


def test_sft_notebook():
    nb = execute_notebook("03_sft.ipynb", timeout=900)  # the committed notebook is left untouched
    assert notebook_images(nb) >= 3  # loss mask, loss curve, trajectory
    text = notebook_text(nb)
    assert "all cases as expected" in text
    before, after = [line.split() for line in text.splitlines() if line.startswith(("before ", "after "))][-2:]
    assert before[0] == "before" and after[0] == "after"
    assert float(after[1].rstrip("%")) > float(before[1].rstrip("%")) + 20  # SFT teaches the reply format


def test_grpo_notebook():
    nb = execute_notebook("04_grpo.ipynb", timeout=900)
    assert notebook_images(nb) >= 3  # the group, the curves, the MC-vs-OE bars
    text = notebook_text(nb)
    assert "look once, right" in text and "TRL advantages" in text
    assert "| trained on MC |" in text and "| trained on OE |" in text
