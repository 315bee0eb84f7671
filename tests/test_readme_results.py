"""scripts/readme_results.py: the README's generated blocks come from their sources and stay in step with them."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import readme_results as rr

from seekerlite.models.pretrain_weights import LOG_FILE, WEIGHTS_DIR


def test_pretrain_table_reads_the_shipped_log():
    log = json.loads((WEIGHTS_DIR / LOG_FILE).read_text())
    table = rr.pretrain_table()
    for task, label in rr.PRETRAIN_TASKS:
        row = next(r for r in table.splitlines() if f"(`{task}`)" in r)
        assert row.startswith(f"| {label} ") and f"| {log['final_accuracy'][task]:.2f} |" in row


def test_replace_rewrites_only_between_the_markers():
    text = "a\n<!-- x -->\nold\n<!-- /x -->\nb"
    assert rr._replace(text, "<!-- x -->", "<!-- /x -->", "new") == "a\n<!-- x -->\n\nnew\n\n<!-- /x -->\nb"
    assert rr._replace(text, "<!-- y -->", "<!-- /x -->", "new") is None


def test_the_readme_pretrain_block_matches_the_shipped_weights():
    """Re-shipping the weights without `python scripts/readme_results.py RUN` leaves the README stale: this fails."""
    text = (ROOT / "README.md").read_text()
    body = text.split(rr.PRETRAIN_BEGIN, 1)[1].split(rr.PRETRAIN_END, 1)[0]
    assert body.strip() == rr.pretrain_table().strip()


def test_signal_table_reports_accuracy_three_ways_and_region_hit(tmp_path):
    def row(acc, hit=None, calls=0):
        return {"n": 10, "accuracy": acc, "ci": [acc - 0.1, acc + 0.1], "seed_sd": 0.05, "region_hit": hit,
                "region_calls": calls}

    table = {"SFT | no tools | oe": row(0.2), "SFT | tools | oe": row(0.3, 0.75, 8),
             "SFT | oracle's look | oe": row(0.5, 1.0, 10)}
    (tmp_path / "learning_signal.json").write_text(json.dumps(table))
    lines = rr.signal_table(tmp_path).splitlines()
    assert lines[0].endswith("| its crops holding the target |") and lines[1].count("---") == len(rr.WAYS) + 2
    assert lines[2] == "| OE SFT (n=10) | 20% [10-30], seeds sd 5 | 30% [20-40], seeds sd 5 | 50% [40-60], seeds sd 5 | 75% of 8 |"
