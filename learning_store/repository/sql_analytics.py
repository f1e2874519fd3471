"""Analytics as SQL, the same statements on DuckDB and PostgreSQL.

Aggregation happens in the database, so no query pulls the table into Python; the
definitions match `learning_store.analytics`, and the tests hold both to the same answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from learning_store.analytics import window_start
from learning_store.models import as_utc
from learning_store.repository.row_rules import readable
from learning_store.repository.sql_core import SqlCore
from learning_store.results import (
    OutcomeCount,
    PoolPerformance,
    SolutionPattern,
    StoreStats,
    TierPerformance,
)
from learning_store.schema import equals, executions
from learning_store.urls import duckdb_path

_t = executions.c
_utc = sa.func.timezone("UTC", _t.timestamp)
_cost = sa.func.coalesce(_t.actual_cost, _t.cost_estimate)
_successes = sa.func.sum(sa.case((_t.success, 1), else_=0))


_accepted = sa.func.avg(sa.case((_t.user_accepted, 1.0), (~_t.user_accepted, 0.0)))
_rating = sa.func.avg(_t.user_rating)


def _window(
    connection: Connection, repo: str | None, days_back: int | None
) -> list[sa.ColumnElement[bool]]:
    clauses = [readable(connection.dialect.name)]
    if days_back is not None:
        clauses.append(_t.timestamp >= window_start(days_back))
    if repo is not None:
        clauses.append(equals(_t.repo, repo))
    return clauses


def tier_performance(
    connection: Connection, *, repo: str | None, days_back: int
) -> list[TierPerformance]:
    """Per repo, model tier, task type and UTC day; newest day first."""
    day = sa.cast(sa.func.date_trunc("day", _utc), sa.Date).label("day")
    total = sa.func.count().label("total")
    statement = (
        sa.select(
            _t.repo,
            _t.model_tier,
            _t.task_type,
            day,
            total,
            _successes.label("successful"),
            sa.func.avg(_t.duration_seconds).label("avg_duration"),
            sa.func.percentile_cont(0.95).within_group(_t.duration_seconds).label("p95_duration"),
            sa.func.avg(_cost).label("avg_cost"),
            sa.func.avg(_t.quality_score).label("avg_quality"),
            _accepted.label("acceptance_rate"),
            _rating.label("avg_rating"),
        )
        .where(*_window(connection, repo, days_back))
        .group_by(_t.repo, _t.model_tier, _t.task_type, day)
        .order_by(day.desc(), _t.repo, _t.model_tier, _t.task_type)
    )
    return [
        TierPerformance(
            repo=row.repo,
            model_tier=row.model_tier,
            task_type=row.task_type,
            day=row.day,
            total=row.total,
            successful=int(row.successful),
            success_rate=int(row.successful) / row.total,
            avg_duration=float(row.avg_duration),
            p95_duration=float(row.p95_duration),
            avg_cost=float(row.avg_cost),
            avg_quality=_optional_float(row.avg_quality),
            acceptance_rate=_optional_float(row.acceptance_rate),
            avg_rating=_optional_float(row.avg_rating),
        )
        for row in connection.execute(statement)
    ]


def pool_performance(
    connection: Connection, *, repo: str | None, days_back: int
) -> list[PoolPerformance]:
    """Per pool type, repo and UTC hour; newest hour first."""
    hour = sa.func.date_trunc("hour", _utc).label("hour")
    statement = (
        sa.select(
            _t.pool_type,
            _t.repo,
            hour,
            sa.func.count().label("total"),
            _successes.label("successful"),
            sa.func.avg(_t.duration_seconds).label("avg_duration"),
            sa.func.avg(_cost).label("avg_cost"),
            _accepted.label("acceptance_rate"),
            _rating.label("avg_rating"),
        )
        .where(*_window(connection, repo, days_back))
        .group_by(_t.pool_type, _t.repo, hour)
        .order_by(hour.desc(), _t.pool_type, _t.repo)
    )
    return [
        PoolPerformance(
            pool_type=row.pool_type,
            repo=row.repo,
            hour=as_utc(row.hour),
            total=row.total,
            successful=int(row.successful),
            success_rate=int(row.successful) / row.total,
            avg_duration=float(row.avg_duration),
            avg_cost=float(row.avg_cost),
            acceptance_rate=_optional_float(row.acceptance_rate),
            avg_rating=_optional_float(row.avg_rating),
        )
        for row in connection.execute(statement)
    ]


def outcome_counts(
    connection: Connection, *, repo: str | None, days_back: int
) -> list[OutcomeCount]:
    """Per model tier and task type: executions, successes, and cost/duration/quality sums."""
    statement = (
        sa.select(
            _t.model_tier,
            _t.task_type,
            sa.func.count().label("executions"),
            _successes.label("successes"),
            sa.func.sum(_cost).label("cost_sum"),
            sa.func.sum(_t.duration_seconds).label("duration_sum"),
            sa.func.coalesce(sa.func.sum(_t.quality_score), 0.0).label("quality_sum"),
            sa.func.count(_t.quality_score).label("rated"),
        )
        .where(*_window(connection, repo, days_back))
        .group_by(_t.model_tier, _t.task_type)
        .order_by(_t.model_tier, _t.task_type)
    )
    return [
        OutcomeCount(
            model_tier=row.model_tier,
            task_type=row.task_type,
            executions=int(row.executions),
            successes=int(row.successes),
            cost_sum=float(row.cost_sum),
            duration_sum=float(row.duration_sum),
            quality_sum=float(row.quality_sum),
            rated=int(row.rated),
        )
        for row in connection.execute(statement)
    ]


def solution_patterns(
    connection: Connection, *, repo: str | None, min_usage: int, limit: int, days_back: int
) -> list[SolutionPattern]:
    """Recurring solution summaries per repo in the window, best success rate first."""
    usage = sa.func.count().label("usage_count")
    successes = _successes.label("success_count")
    rate = (sa.cast(_successes, sa.Double) / sa.func.count()).label("success_rate")
    last_seen = sa.func.max(_t.timestamp).label("last_seen")
    statement = (
        sa.select(
            _t.solution_summary,
            _t.repo,
            sa.func.array_agg(sa.distinct(_t.task_type)).label("task_types"),
            usage,
            successes,
            rate,
            sa.func.avg(_t.quality_score).label("avg_quality"),
            sa.func.min(_t.timestamp).label("first_seen"),
            last_seen,
        )
        .where(_t.solution_summary.is_not(None), *_window(connection, repo, days_back))
        .group_by(_t.solution_summary, _t.repo)
        .having(sa.func.count() >= min_usage)
        .order_by(rate.desc(), usage.desc(), last_seen.desc(), _t.solution_summary, _t.repo)
        .limit(limit)
    )
    return [
        SolutionPattern(
            solution_summary=row.solution_summary,
            repo=row.repo,
            task_types=sorted(row.task_types),
            usage_count=row.usage_count,
            success_count=int(row.success_count),
            success_rate=float(row.success_rate),
            avg_quality=_optional_float(row.avg_quality),
            first_seen=as_utc(row.first_seen),
            last_seen=as_utc(row.last_seen),
        )
        for row in connection.execute(statement)
    ]


def store_counts(
    connection: Connection,
) -> tuple[int, datetime | None, datetime | None, dict[str, int], int, int]:
    """Readable rows, their time span, per repo and without embedding; then invalid rows."""
    valid = readable(connection.dialect.name)
    total, oldest, newest, without, invalid = connection.execute(
        sa.select(
            sa.func.count().filter(valid),
            sa.func.min(_t.timestamp).filter(valid),
            sa.func.max(_t.timestamp).filter(valid),
            sa.func.count().filter(sa.and_(valid, _t.embedding.is_(None))),
            sa.func.count().filter(~sa.func.coalesce(valid, sa.false())),
        )
    ).one()
    per_repo: dict[str, int] = dict(
        connection.execute(
            sa.select(_t.repo, sa.func.count()).where(valid).group_by(_t.repo).order_by(_t.repo)
        ).all()
    )
    return (
        int(total),
        as_utc(oldest) if oldest else None,
        as_utc(newest) if newest else None,
        {str(repo): int(count) for repo, count in per_repo.items()},
        int(without or 0),
        int(invalid or 0),
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


class SqlAnalyticsMethods(SqlCore):
    """Part of `SqlExecutionRepository`: the analytics, each one statement on a connection."""

    def outcome_counts(self, *, repo: str | None = None, days_back: int = 90) -> list[OutcomeCount]:
        """See `learning_store.analytics.outcome_counts` (computed in SQL)."""
        with self._connection("count outcomes") as connection:
            return outcome_counts(connection, repo=repo, days_back=days_back)

    def tier_performance(
        self, *, repo: str | None = None, days_back: int = 30
    ) -> list[TierPerformance]:
        """See `learning_store.analytics.tier_performance` (computed in SQL)."""
        with self._connection("compute tier performance") as connection:
            return tier_performance(connection, repo=repo, days_back=days_back)

    def pool_performance(
        self, *, repo: str | None = None, days_back: int = 7
    ) -> list[PoolPerformance]:
        """See `learning_store.analytics.pool_performance` (computed in SQL)."""
        with self._connection("compute pool performance") as connection:
            return pool_performance(connection, repo=repo, days_back=days_back)

    def solution_patterns(
        self,
        *,
        repo: str | None = None,
        min_usage: int = 5,
        limit: int = 10,
        days_back: int = 90,
    ) -> list[SolutionPattern]:
        """See `learning_store.analytics.solution_patterns` (computed in SQL)."""
        with self._connection("find solution patterns") as connection:
            return solution_patterns(
                connection, repo=repo, min_usage=min_usage, limit=limit, days_back=days_back
            )

    def stats(self) -> StoreStats:
        """Counts from SQL; size is the DuckDB file (and WAL) or the PostgreSQL database."""
        with self._connection("compute store statistics") as connection:
            total, oldest, newest, per_repo, without, invalid = store_counts(connection)
            if self.dialect == "postgresql":
                size: int | None = connection.execute(
                    sa.select(sa.func.pg_database_size(sa.func.current_database()))
                ).scalar_one()
            else:
                path = duckdb_path(self._engine.url)
                files = [] if path is None else [path, path.with_name(path.name + ".wal")]
                size = sum(f.stat().st_size for f in files if f.exists()) if path else None
        return StoreStats(total, oldest, newest, per_repo, without, size, invalid)
