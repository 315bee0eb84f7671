"""benchmarks/sft_variants.py --report: the screen's table comes from the variants' own variant.json files."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import sft_variants as sv


def _variant(work: Path, name: str, hit: float | None, **knobs) -> None:
    form = {"n": 32, "accuracy": 0.25, "after_oracle_crop": 0.5, "region_hit": hit}
    row = {"variant": {"name": name, "seed": 0, **knobs}, "skills": {"cell": 0.4},
           "mc": form, "oe": {**form, "accuracy": 0.375}}
    (work / name).mkdir(parents=True)
    (work / name / "variant.json").write_text(json.dumps(row))


def test_report_tabulates_every_variant_with_its_knobs(tmp_path):
    _variant(tmp_path, "a", 0.5, rehearsal_tasks="cell,crop_read")
    _variant(tmp_path, "b", None)
    out = tmp_path / "r.md"
    assert sv.main(["--report", str(out), "--work", str(tmp_path), "--note", "a line"]) == 0
    rows = [ln for ln in out.read_text().splitlines() if ln.startswith(("| a", "| b"))]
    a, b = (ln.split(" | ") for ln in rows)
    assert "cell,crop_read" in a and "25 %" in a and "50 %" in a and "38 %" in a and "0.40" in a
    assert b[5] == "-" and b.count("-") >= 3  # an unrecorded knob and a form without region calls
    assert "Machine:" in out.read_text() and out.read_text().rstrip().endswith("- a line")


def test_report_without_variants_says_so(tmp_path):
    with pytest.raises(SystemExit, match="no \\*/variant.json"):
        sv.main(["--report", str(tmp_path / "r.md"), "--work", str(tmp_path)])
