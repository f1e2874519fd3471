"""The documented views SQL users and dashboards query, and the columns each must have.

Migration 0002 creates them as plain views on DuckDB and PostgreSQL (the windows are
relative to now(), so a view always shows the recent past). They aggregate every stored
row as it is, like the original system's views did; the typed analytics methods leave out
rows that break a record rule (see `repository.row_rules`).
"""

from __future__ import annotations

VIEW_COLUMNS: dict[str, tuple[str, ...]] = {
    "tier_performance_mv": (
        "repo",
        "model_tier",
        "task_type",
        "date",
        "total_executions",
        "successful_count",
        "avg_duration",
        "avg_cost",
        "avg_quality",
        "p95_duration",
        "success_rate",
        "acceptance_rate",
        "avg_rating",
    ),
    "pool_performance_mv": (
        "pool_type",
        "repo",
        "hour",
        "total_tasks",
        "successful_tasks",
        "avg_duration",
        "avg_cost",
        "success_rate",
        "acceptance_rate",
        "avg_rating",
    ),
    "solution_patterns_mv": (
        "solution_summary",
        "repo",
        "task_types",
        "usage_count",
        "success_count",
        "avg_quality",
        "first_seen",
        "last_seen",
        "success_rate",
    ),
}
"""Each view's columns, in order: the documented ones, then our additions."""
