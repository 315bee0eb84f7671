"""benchmarks/pretrain_report.py: the shipped log's report, and a second run's accuracy in a column beside it."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import pretrain_report

from seekerlite.models.pretrain_weights import INFO_FILE, LOG_FILE, WEIGHTS_DIR


def test_report_shows_both_runs_final_accuracy_side_by_side(tmp_path):
    log, info = (json.loads((WEIGHTS_DIR / f).read_text()) for f in (LOG_FILE, INFO_FILE))
    before = json.loads((ROOT / "benchmarks" / "results" / "pretrain_learned_log.json").read_text())
    out = tmp_path / "r.md"
    assert pretrain_report.main(["--report", str(out), "--compare",
                                 str(ROOT / "benchmarks" / "results" / "pretrain_learned_log.json")]) == 0
    text = out.read_text()
    assert "| task | accuracy | before | majority answer |" in text and info["sha256"][:16] in text
    assert f"{log['config']['eval_per_task']} held-out examples per task" in text and "{" not in text
    row = next(line for line in text.splitlines() if line.startswith("| colour_crop |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == ["colour_crop", f"{log['final_accuracy']['colour_crop']:.3f}",
                     f"{before['final_accuracy']['colour_crop']:.3f}", f"{log['chance']['colour_crop']:.3f}"]
    assert "| task | accuracy | majority answer |" in pretrain_report.render(log, info)  # without --compare
