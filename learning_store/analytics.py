"""Analytics in plain Python: the in-memory store's implementation and the reference.

The SQL stores compute the same numbers in SQL and the tests hold them to these.

Definitions shared by every store: days and hours are UTC; cost is `actual_cost` where
known, else `cost_estimate`; p95 is the continuous percentile (linear interpolation between
the two nearest ranks, as SQL's percentile_cont and numpy's default).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime, timedelta
from statistics import fmean
from typing import TypeVar

from learning_store.models import ExecutionRecord
from learning_store.results import OutcomeCount, PoolPerformance, SolutionPattern, TierPerformance

K = TypeVar("K", bound=Hashable)


def continuous_percentile(values: list[float], fraction: float) -> float:
    """The `fraction` percentile of `values`, interpolated like SQL percentile_cont."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower, upper = math.floor(position), math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def cost_of(record: ExecutionRecord) -> float:
    """What an execution cost: the actual cost when known, else the estimate."""
    return record.cost_estimate if record.actual_cost is None else record.actual_cost


def window_start(days_back: int) -> datetime:
    """The oldest timestamp a `days_back` window includes."""
    return datetime.now(UTC) - timedelta(days=days_back)


def _grouped(
    records: Iterable[ExecutionRecord], key: Callable[[ExecutionRecord], K]
) -> dict[K, list[ExecutionRecord]]:
    groups: dict[K, list[ExecutionRecord]] = defaultdict(list)
    for record in records:
        groups[key(record)].append(record)
    return groups


def _mean_or_none(values: list[float]) -> float | None:
    return fmean(values) if values else None


def acceptance_rate(records: list[ExecutionRecord]) -> float | None:
    """Share accepted among the records with user feedback; None when none has any."""
    answers = [r.user_accepted for r in records if r.user_accepted is not None]
    return sum(answers) / len(answers) if answers else None


def average_rating(records: list[ExecutionRecord]) -> float | None:
    """Mean user rating over the rated records; None when none is rated."""
    return _mean_or_none([r.user_rating for r in records if r.user_rating is not None])


def tier_performance(records: Iterable[ExecutionRecord]) -> list[TierPerformance]:
    """Per repo, model tier, task type and UTC day; newest day first."""
    rows = []
    groups = _grouped(records, lambda r: (r.repo, r.model_tier, r.task_type, r.timestamp.date()))
    for (repo, tier, task_type, day), group in groups.items():
        successful = sum(record.success for record in group)
        durations = [record.duration_seconds for record in group]
        qualities = [r.quality_score for r in group if r.quality_score is not None]
        rows.append(
            TierPerformance(
                repo=repo,
                model_tier=tier,
                task_type=task_type,
                day=day,
                total=len(group),
                successful=successful,
                success_rate=successful / len(group),
                avg_duration=fmean(durations),
                p95_duration=continuous_percentile(durations, 0.95),
                avg_cost=fmean(cost_of(record) for record in group),
                avg_quality=_mean_or_none(qualities),
                acceptance_rate=acceptance_rate(group),
                avg_rating=average_rating(group),
            )
        )
    rows.sort(key=lambda row: (-row.day.toordinal(), row.repo, row.model_tier, row.task_type))
    return rows


def _hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def pool_performance(records: Iterable[ExecutionRecord]) -> list[PoolPerformance]:
    """Per pool type, repo and UTC hour; newest hour first."""
    rows = []
    groups = _grouped(records, lambda r: (r.pool_type, r.repo, _hour_of(r.timestamp)))
    for (pool, repo, hour), group in groups.items():
        successful = sum(record.success for record in group)
        rows.append(
            PoolPerformance(
                pool_type=pool,
                repo=repo,
                hour=hour,
                total=len(group),
                successful=successful,
                success_rate=successful / len(group),
                avg_duration=fmean(record.duration_seconds for record in group),
                avg_cost=fmean(cost_of(record) for record in group),
                acceptance_rate=acceptance_rate(group),
                avg_rating=average_rating(group),
            )
        )
    rows.sort(key=lambda row: (-row.hour.timestamp(), row.pool_type, row.repo))
    return rows


def outcome_counts(records: Iterable[ExecutionRecord]) -> list[OutcomeCount]:
    """Per model tier and task type: executions, successes, and cost/duration/quality sums."""
    rows = []
    groups = _grouped(records, lambda r: (r.model_tier, r.task_type))
    for (tier, task_type), group in groups.items():
        qualities = [r.quality_score for r in group if r.quality_score is not None]
        rows.append(
            OutcomeCount(
                model_tier=tier,
                task_type=task_type,
                executions=len(group),
                successes=sum(record.success for record in group),
                cost_sum=math.fsum(cost_of(record) for record in group),
                duration_sum=math.fsum(record.duration_seconds for record in group),
                quality_sum=math.fsum(qualities),
                rated=len(qualities),
            )
        )
    rows.sort(key=lambda row: (row.model_tier, row.task_type))
    return rows


def solution_patterns(
    records: Iterable[ExecutionRecord], *, min_usage: int, limit: int
) -> list[SolutionPattern]:
    """Per solution summary and repo, used at least `min_usage` times; best success rate first.

    Ties: more uses first, then the most recently seen, then the summary text.
    """
    rows = []
    with_summary = (record for record in records if record.solution_summary is not None)
    for (summary, repo), group in _grouped(
        with_summary, lambda r: (r.solution_summary or "", r.repo)
    ).items():
        if len(group) < min_usage:
            continue
        successes = sum(record.success for record in group)
        qualities = [r.quality_score for r in group if r.quality_score is not None]
        timestamps = [record.timestamp for record in group]
        rows.append(
            SolutionPattern(
                solution_summary=summary,
                repo=repo,
                task_types=sorted({record.task_type for record in group}),
                usage_count=len(group),
                success_count=successes,
                success_rate=successes / len(group),
                avg_quality=_mean_or_none(qualities),
                first_seen=min(timestamps),
                last_seen=max(timestamps),
            )
        )
    rows.sort(
        key=lambda row: (
            -row.success_rate,
            -row.usage_count,
            -row.last_seen.timestamp(),
            row.solution_summary,
            row.repo,
        )
    )
    return rows[:limit]
