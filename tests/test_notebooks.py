"""Notebooks 00 and 02 execute headless, top to bottom, and draw their figures."""

import pytest

from conftest import execute_notebook, notebook_images, notebook_text


@pytest.mark.slow
def test_quickstart_notebook():
    nb = execute_notebook("00_quickstart.ipynb", timeout=300)
    assert notebook_images(nb) >= 5


@pytest.mark.slow
def test_tool_environment_notebook():
    nb = execute_notebook("02_tool_environment.ipynb", timeout=600)
    assert notebook_images(nb) >= 4
    text = notebook_text(nb)
    assert "oracle  accuracy 1.00" in text
