"""Bridges to existing engines for scale-out (no distributed code of our own).

    seekerlite export verl --data runs/pipe/rl.jsonl --out runs/verl   # parquet + tool YAML + run_verl.sh

- ``verl_session``: one stateless tool call (sample, budgets and the call in; text and images out) on
  ``VideoSeekerEnv``; no verl import.
- ``verl_tools``: verl ``BaseTool`` subclasses over ``verl_session`` (the only module that imports verl).
- ``verl_reward``: ``compute_score`` for verl's reward manager, the same reward as ``seekerlite.train.rewards``.
- ``verl_export``: the ``seekerlite export verl`` command.

verl is optional: nothing here is imported by the rest of the package, and only ``verl_tools`` needs it.
"""
