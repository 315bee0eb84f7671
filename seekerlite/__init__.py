from pathlib import Path

__version__ = "0.1.0"
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
"""The repository's sample_data/ folder (real clips + annotations)."""
