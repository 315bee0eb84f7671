"""benchmarks/skill_retention.py: the shipped base's held-out pretraining scores next to a fine-tuned model's."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import skill_retention as sr


def test_table_scores_the_base_and_each_model(tmp_path):
    from seekerlite.models.pretrain_weights import ensure_pretrained_tiny_model

    out = tmp_path / "r.md"
    assert sr.main([str(ensure_pretrained_tiny_model()), "--label", "again", "--per-task", "8", "--threads", "1",
                    "--out", str(out)]) == 0
    rows = [line.split(" | ") for line in out.read_text().splitlines() if line.startswith(("| shipped", "| again"))]
    assert len(rows) == 2 and rows[0][1:] == rows[1][1:]  # the same weights score the same
    assert all(0.0 <= float(v.strip(" |")) <= 1.0 for v in rows[0][1:])
