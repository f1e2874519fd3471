"""Analytics on every backend: hand-checked values on a fixed set, and SQL == fake on demo data."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, time, timedelta

import pytest
from factories import row, unit_vector

from learning_store import ExecutionRepository, create_repository
from learning_store.analytics import continuous_percentile
from learning_store.demo_data import generate

DAY = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), time(10, 0), tzinfo=UTC)
OLD = datetime.now(UTC) - timedelta(days=40)


def fixed_rows() -> list[dict]:
    """Alpha: five small/bugfix/fast runs and one large/perf/slow run; beta: two later failures."""
    a = dict(repo="alpha", model_tier="small", task_type="bugfix", pool_type="fast")
    return [
        row(
            1,
            **a,
            timestamp=DAY,
            duration_seconds=10,
            success=True,
            actual_cost=0.1,
            quality_score=80,
            solution_summary="added index",
            embedding=unit_vector(1),
        ),
        row(
            2,
            **a,
            timestamp=DAY + timedelta(minutes=5),
            duration_seconds=20,
            success=True,
            actual_cost=None,
            cost_estimate=0.5,
            solution_summary="added index",
        ),
        row(
            3,
            **a,
            timestamp=DAY + timedelta(minutes=10),
            duration_seconds=30,
            success=False,
            actual_cost=0.3,
            quality_score=60,
            solution_summary="added index",
        ),
        row(
            4,
            **a,
            timestamp=DAY + timedelta(minutes=15),
            duration_seconds=40,
            success=True,
            actual_cost=0.4,
            solution_summary="retry",
        ),
        row(
            5,
            **a,
            timestamp=DAY + timedelta(minutes=20),
            duration_seconds=100,
            success=False,
            actual_cost=0.5,
            solution_summary="retry",
        ),
        row(
            6,
            repo="alpha",
            model_tier="large",
            task_type="perf",
            pool_type="slow",
            timestamp=DAY + timedelta(minutes=30),
            duration_seconds=7,
            success=True,
            actual_cost=2.0,
            solution_summary="added index",
        ),
        row(
            7,
            repo="beta",
            model_tier="small",
            task_type="bugfix",
            pool_type="fast",
            timestamp=DAY + timedelta(hours=2),
            duration_seconds=1,
            success=False,
            actual_cost=None,
            cost_estimate=1.0,
            solution_summary="retry",
        ),
        row(
            8,
            repo="beta",
            model_tier="small",
            task_type="bugfix",
            pool_type="fast",
            timestamp=DAY + timedelta(hours=2, minutes=1),
            duration_seconds=3,
            success=False,
            actual_cost=None,
            cost_estimate=1.0,
            solution_summary="retry",
        ),
        row(9, repo="alpha", timestamp=OLD, duration_seconds=999, success=True),  # outside windows
    ]


@pytest.fixture
def filled(store: ExecutionRepository) -> ExecutionRepository:
    assert store.add_many(fixed_rows()).stored == 9
    return store


def test_tier_performance_hand_checked(filled: ExecutionRepository) -> None:
    rows = filled.tier_performance(days_back=30)
    assert [(r.repo, r.model_tier, r.task_type) for r in rows] == [
        ("alpha", "large", "perf"),
        ("alpha", "small", "bugfix"),
        ("beta", "small", "bugfix"),
    ]
    large, small, beta = rows
    assert all(r.day == DAY.date() for r in rows)
    assert (small.total, small.successful, small.success_rate) == (5, 3, 0.6)
    assert small.avg_duration == pytest.approx(40.0)
    assert small.p95_duration == pytest.approx(88.0)  # 40 + 0.8 * (100 - 40)
    assert small.avg_cost == pytest.approx(0.36)  # actual cost, else the estimate
    assert small.avg_quality == pytest.approx(70.0)  # rows without a score are not counted
    assert (large.total, large.p95_duration, large.avg_cost, large.avg_quality) == (
        1,
        7.0,
        2.0,
        None,
    )
    assert (beta.success_rate, beta.p95_duration, beta.avg_cost) == (0.0, pytest.approx(2.9), 1.0)
    assert filled.tier_performance(repo="beta", days_back=30) == [beta]
    assert len(filled.tier_performance(days_back=60)) == 4  # now the 40-day-old row too


def test_pool_performance_hand_checked(filled: ExecutionRepository) -> None:
    rows = filled.pool_performance(days_back=7)
    assert [(r.pool_type, r.repo, r.hour) for r in rows] == [
        ("fast", "beta", DAY + timedelta(hours=2)),
        ("fast", "alpha", DAY),
        ("slow", "alpha", DAY),
    ]
    beta, fast, slow = rows
    assert (fast.total, fast.successful, fast.success_rate) == (5, 3, 0.6)
    assert (fast.avg_duration, fast.avg_cost) == (pytest.approx(40.0), pytest.approx(0.36))
    assert (beta.total, beta.success_rate, beta.avg_duration) == (2, 0.0, 2.0)
    assert (slow.total, slow.avg_cost) == (1, 2.0)
    assert all(r.hour.tzinfo is not None for r in rows)


def test_solution_patterns_hand_checked(filled: ExecutionRepository) -> None:
    patterns = filled.solution_patterns(min_usage=2)
    assert [(p.repo, p.solution_summary) for p in patterns] == [
        ("alpha", "added index"),
        ("alpha", "retry"),
        ("beta", "retry"),
    ]
    index, retry, beta = patterns
    assert (index.usage_count, index.success_count, index.success_rate) == (4, 3, 0.75)
    assert index.task_types == ["bugfix", "perf"]
    assert index.avg_quality == pytest.approx(70.0)
    assert (index.first_seen, index.last_seen) == (DAY, DAY + timedelta(minutes=30))
    assert (retry.success_rate, retry.avg_quality) == (0.5, None)
    assert (beta.usage_count, beta.success_rate) == (2, 0.0)
    assert [p.solution_summary for p in filled.solution_patterns(min_usage=3)] == ["added index"]
    assert filled.solution_patterns(min_usage=2, limit=1) == [index]
    assert filled.solution_patterns(repo="beta", min_usage=1) == [beta]


def test_stats(filled: ExecutionRepository, backend: str) -> None:
    stats = filled.stats()
    assert stats.total == 9
    assert stats.oldest == OLD.replace(microsecond=0) or abs(stats.oldest - OLD) < timedelta(
        seconds=1
    )
    assert stats.newest == DAY + timedelta(hours=2, minutes=1)
    assert stats.per_repo == {"alpha": 7, "beta": 2}
    assert stats.without_embedding == 8
    if backend not in ("memory", "duckdb-memory"):
        assert stats.size_bytes and stats.size_bytes > 0
    else:
        assert stats.size_bytes is None


def test_empty_store_analytics(store: ExecutionRepository) -> None:
    assert store.tier_performance() == [] and store.pool_performance() == []
    assert store.solution_patterns() == []
    stats = store.stats()
    assert (stats.total, stats.oldest, stats.newest, stats.per_repo) == (0, None, None, {})


def test_continuous_percentile_matches_interpolation() -> None:
    assert continuous_percentile([5.0], 0.95) == 5.0
    assert continuous_percentile([1.0, 3.0], 0.95) == pytest.approx(2.9)
    assert continuous_percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5


def assert_same_rows(expected: list, actual: list) -> None:
    assert len(expected) == len(actual)
    for left, right in zip(expected, actual, strict=True):
        for field in dataclasses.fields(left):
            a, b = getattr(left, field.name), getattr(right, field.name)
            if isinstance(a, float):
                assert b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), field.name
            else:
                assert a == b, (field.name, a, b)


@pytest.mark.parametrize(
    "backend", ["duckdb-file", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_sql_store_equals_the_fake_on_the_demo_data(new_store_url) -> None:
    records = list(generate(3000, days=20, seed=11))
    fake = create_repository("memory://")
    fake.add_many(records)
    with create_repository(new_store_url()) as sql:
        sql.add_many(records)
        assert_same_rows(fake.tier_performance(days_back=30), sql.tier_performance(days_back=30))
        assert_same_rows(fake.pool_performance(days_back=7), sql.pool_performance(days_back=7))
        assert_same_rows(
            fake.solution_patterns(min_usage=5, limit=50),
            sql.solution_patterns(min_usage=5, limit=50),
        )
        assert_same_rows(
            fake.tier_performance(repo="mobile-app", days_back=10),
            sql.tier_performance(repo="mobile-app", days_back=10),
        )
