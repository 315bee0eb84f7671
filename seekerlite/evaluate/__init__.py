"""Evaluation: run a policy over samples and score it with the one judge (``run``), metrics with bootstrap
intervals (``metrics``), tables, charts and result files (``tables``), and ``seekerlite eval`` (``cli``)."""

from seekerlite.evaluate.metrics import GROUPS, EpisodeRecord, bootstrap_ci, format_stats, group_stats, summarize
from seekerlite.evaluate.run import (
    EvalConfig,
    evaluate,
    evaluate_format,
    policy_run,
    records_from_responses,
    sample_groups,
    settle_with_policy,
)
from seekerlite.evaluate.tables import (
    EvalResult,
    comparison_table,
    markdown_report,
    markdown_table,
    plot_accuracy,
    write_results,
)

__all__ = ["GROUPS", "EpisodeRecord", "EvalConfig", "EvalResult", "bootstrap_ci", "comparison_table", "evaluate",
           "evaluate_format", "format_stats", "group_stats", "markdown_report", "markdown_table", "plot_accuracy",
           "policy_run", "records_from_responses", "sample_groups", "settle_with_policy", "summarize",
           "write_results"]
