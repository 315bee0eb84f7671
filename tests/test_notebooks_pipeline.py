"""Notebook 01 (the data pipeline) executes headless, top to bottom, on the demo config, and draws its figures."""

import pytest
from conftest import execute_notebook, notebook_images, notebook_text


@pytest.mark.slow
def test_data_pipeline_notebook():
    nb = execute_notebook("01_data_pipeline.ipynb", timeout=600)
    assert notebook_images(nb) >= 7
    text = notebook_text(nb)
    assert "simulated crash" in text and "duplicates: 0" in text
    assert "| stage1_filter |" in text and "| rl |" in text and "no_instance_reference" in text
