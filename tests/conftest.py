"""Shared fixtures: real sample data paths and a small toy-world dataset built once per test session."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = ROOT / "sample_data"


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    return SAMPLE_DATA / "videos" / "vtest.mp4"


@pytest.fixture(scope="session")
def real_samples():
    from seekerlite.schema import load_jsonl

    path = SAMPLE_DATA / "annotations" / "vtest_samples.jsonl"
    return load_jsonl(path), path.parent


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory):
    """(samples, base_dir) of a 3-clip toy world, seed 0."""
    from seekerlite.schema import load_jsonl
    from seekerlite.synth import ToyWorldConfig, generate_dataset

    out = tmp_path_factory.mktemp("toy")
    path = generate_dataset(out, n_clips=3, seed=0, config=ToyWorldConfig(seed=0))
    return load_jsonl(path), path.parent
