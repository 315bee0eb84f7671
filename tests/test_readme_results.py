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
