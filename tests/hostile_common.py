"""Shared by the adversarial suite (tests/test_hostile_*.py): a count of the hostile inputs it tried.

Every parametrized case is one input; property tests add the examples hypothesis drew (``tried()``). The session
summary (conftest.py) prints the total; tests/test_hostile_suite.py checks that there are at least 100 cases.
"""

from __future__ import annotations

from collections import Counter

TRIED: Counter[str] = Counter()  # hostile class -> inputs tried by property tests in this session


def tried(kind: str, n: int = 1) -> None:
    """Count `n` hostile inputs of class `kind` (call it inside a hypothesis test body)."""
    TRIED[kind] += n
