"""Create the views the original system documented for SQL users and dashboards.

tier_performance_mv (last 30 days, per repo, tier, task type and UTC day),
pool_performance_mv (last 7 days, per pool, repo and UTC hour) and solution_patterns_mv
(last 90 days, summaries used at least 5 times). Plain views: nothing is stored, so the
upgrade and the downgrade leave every row of `executions` as it was. The SQL is the same
on DuckDB and PostgreSQL; rates and means are DOUBLE PRECISION on both.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

VIEWS = {
    "tier_performance_mv": """
CREATE VIEW tier_performance_mv AS
SELECT
    repo,
    model_tier,
    task_type,
    CAST(date_trunc('day', timezone('UTC', "timestamp")) AS DATE) AS "date",
    count(*) AS total_executions,
    sum(CASE WHEN success THEN 1 ELSE 0 END) AS successful_count,
    avg(duration_seconds) AS avg_duration,
    avg(coalesce(actual_cost, cost_estimate)) AS avg_cost,
    avg(quality_score) AS avg_quality,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds) AS p95_duration,
    CAST(avg(CASE WHEN success THEN 1.0 ELSE 0.0 END) AS DOUBLE PRECISION) AS success_rate,
    CAST(avg(CASE WHEN user_accepted THEN 1.0 WHEN NOT user_accepted THEN 0.0 END)
        AS DOUBLE PRECISION) AS acceptance_rate,
    CAST(avg(user_rating) AS DOUBLE PRECISION) AS avg_rating
FROM executions
WHERE "timestamp" >= now() - INTERVAL '30 days'
GROUP BY repo, model_tier, task_type, CAST(date_trunc('day', timezone('UTC', "timestamp")) AS DATE)
""",
    "pool_performance_mv": """
CREATE VIEW pool_performance_mv AS
SELECT
    pool_type,
    repo,
    date_trunc('hour', timezone('UTC', "timestamp")) AS "hour",
    count(*) AS total_tasks,
    sum(CASE WHEN success THEN 1 ELSE 0 END) AS successful_tasks,
    avg(duration_seconds) AS avg_duration,
    avg(coalesce(actual_cost, cost_estimate)) AS avg_cost,
    CAST(avg(CASE WHEN success THEN 1.0 ELSE 0.0 END) AS DOUBLE PRECISION) AS success_rate,
    CAST(avg(CASE WHEN user_accepted THEN 1.0 WHEN NOT user_accepted THEN 0.0 END)
        AS DOUBLE PRECISION) AS acceptance_rate,
    CAST(avg(user_rating) AS DOUBLE PRECISION) AS avg_rating
FROM executions
WHERE "timestamp" >= now() - INTERVAL '7 days'
GROUP BY pool_type, repo, date_trunc('hour', timezone('UTC', "timestamp"))
""",
    "solution_patterns_mv": """
CREATE VIEW solution_patterns_mv AS
SELECT
    solution_summary,
    repo,
    array_agg(DISTINCT task_type) AS task_types,
    count(*) AS usage_count,
    sum(CASE WHEN success THEN 1 ELSE 0 END) AS success_count,
    avg(quality_score) AS avg_quality,
    min("timestamp") AS first_seen,
    max("timestamp") AS last_seen,
    CAST(avg(CASE WHEN success THEN 1.0 ELSE 0.0 END) AS DOUBLE PRECISION) AS success_rate
FROM executions
WHERE solution_summary IS NOT NULL AND "timestamp" >= now() - INTERVAL '90 days'
GROUP BY solution_summary, repo
HAVING count(*) >= 5
""",
}


def upgrade() -> None:
    for query in VIEWS.values():
        op.execute(query)


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
