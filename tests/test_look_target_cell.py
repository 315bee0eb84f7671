"""benchmarks/look_target_cell.py: the share of tool questions whose oracle crop lies in the mark's cell."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import look_target_cell as ltc

from seekerlite.toyworld import TOOL_TASKS


def test_counts_are_per_tool_family_and_bounded(tmp_path):
    res = ltc.measure(6, [6], tmp_path)
    assert res and set(res) <= set(TOOL_TASKS)
    for c in res.values():
        assert c["n"] > 0 and 0 <= c["same"] <= c["n"] and 0 <= c["center"] <= c["n"]


def test_same_counts_agreement_with_the_oracle_cell(tmp_path, monkeypatch):
    """With the mark's cell and the oracle's cell both forced to "center" every question agrees; with the mark's
    forced to another cell none does, and the "center" count follows the oracle's cell alone."""
    monkeypatch.setattr(ltc, "mark_cell", lambda s, env: "center")
    monkeypatch.setattr(ltc, "zoom_plan", lambda s, env, prefer: (0.0, 1.0, "center"))
    res = ltc.measure(6, [6], tmp_path)
    assert all(c["same"] == c["n"] == c["center"] for c in res.values())
    monkeypatch.setattr(ltc, "mark_cell", lambda s, env: "top left")
    res = ltc.measure(6, [6], tmp_path)
    assert all(c["same"] == 0 and c["center"] == c["n"] for c in res.values())
