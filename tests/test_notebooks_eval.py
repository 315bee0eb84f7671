"""Notebook 05 (evaluation) executes headless, top to bottom, and draws its figures."""

import pytest

from conftest import execute_notebook, notebook_images, notebook_text


@pytest.mark.slow
def test_evaluate_notebook():
    nb = execute_notebook("05_evaluate.ipynb", timeout=600)
    assert notebook_images(nb) >= 4
    text = notebook_text(nb)
    assert "| oracle | " in text and "| no-tool:random | " in text
    assert "| all | 8 | 50.0 |" in text  # the hand-made example
