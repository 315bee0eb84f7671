"""The adversarial suite itself: at least 100 hostile cases over the issue's five classes (issue 13, "done when":
the suite reports how many hostile cases it tried - see the ``hostile cases tried: N`` line that conftest.py
prints at the end of a session)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).parent
CLASSES = {  # the classes of failure -> the files that attack them
    "data loss / silent corruption": ["test_hostile_lock.py", "test_hostile_records.py", "test_hostile_time.py"],
    "writes outside the run folder": ["test_hostile_paths.py"],
    "hangs": ["test_hostile_tracking.py", "test_hostile_tools.py"],
    "tools that raise": ["test_hostile_tools.py"],
    "tracebacks instead of errors": ["test_hostile_cli.py", "test_hostile_records.py"],
}


def test_the_suite_holds_at_least_100_hostile_cases_over_every_class():
    files = sorted(p.name for p in TESTS.glob("test_hostile_*.py") if p.name != Path(__file__).name)
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *[str(TESTS / f) for f in files]], capture_output=True, text=True, timeout=600,
                          cwd=TESTS.parent, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    per_file = Counter(m.group(1) for m in re.finditer(r"^tests/(test_hostile_\w+\.py)::", proc.stdout, re.MULTILINE))
    assert sum(per_file.values()) >= 100, per_file
    for kind, names in CLASSES.items():
        assert sum(per_file[n] for n in names) >= 5, (kind, per_file)
