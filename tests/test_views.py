"""The documented views on DuckDB and PostgreSQL, and the migration that adds them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import SQL_BACKENDS
from factories import NOW, record, row, stored_view

from learning_store import create_repository, migrations
from learning_store.engine import create_engine_for
from learning_store.schema import executions
from learning_store.views import VIEW_COLUMNS


@pytest.fixture(params=SQL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def rows_of(store: Any, view: str) -> list[dict[str, Any]]:
    with store.engine.connect() as connection:
        result = connection.execute(sa.select(sa.table(view, *map(sa.column, VIEW_COLUMNS[view]))))
        return [dict(item) for item in result.mappings()]


def comparable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        value = value.isoformat()
    if isinstance(value, str) and value[10:11] == "T":
        return value[:19]  # the view's naive UTC hour and the typed aware one
    if isinstance(value, float):
        return round(value, 9)
    return value


def test_views_agree_with_the_typed_analytics(store: Any) -> None:
    store.add_many(
        [
            row(
                n,
                success=n % 3 != 0,
                model_tier=("small", "large")[n % 2],
                quality_score=n % 90,
                duration_seconds=float(n),
                solution_summary=f"fix {n % 2}",
                user_accepted=(None, True, False)[n % 3],
                user_rating=(None, 4)[n % 2],
                timestamp=NOW - timedelta(minutes=37 * n),
            )
            for n in range(40)
        ]
        + [row(99, timestamp=NOW - timedelta(days=45), solution_summary="fix 0")]  # outside 30 days
    )
    typed = {
        "tier_performance_mv": [r.to_dict() for r in store.tier_performance(days_back=30)],
        "pool_performance_mv": [r.to_dict() for r in store.pool_performance(days_back=7)],
        "solution_patterns_mv": [r.to_dict() for r in store.solution_patterns(days_back=90)],
    }
    for view, expected in typed.items():
        key = {
            "tier_performance_mv": ("repo", "model_tier", "task_type", "date"),
            "pool_performance_mv": ("pool_type", "repo", "hour"),
            "solution_patterns_mv": ("solution_summary", "repo"),
        }[view]

        def ordered(items: list[dict[str, Any]], key=key) -> list[dict[str, Any]]:
            cleaned = [{k: comparable(v) for k, v in item.items()} for item in items]
            return sorted(cleaned, key=lambda item: tuple(str(item[k]) for k in key))

        actual = rows_of(store, view)
        assert len(actual) == len(expected) > 0, view
        assert ordered(actual) == ordered(expected), view


@pytest.mark.parametrize(
    "backend", ["duckdb-file", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_migration_0002_keeps_every_stored_row_both_ways(new_store_url) -> None:
    url = new_store_url()
    given = [record(n, error_type="timeout", user_rating=3, metadata={"n": n}) for n in range(5)]
    engine = create_engine_for(url)
    with engine.connect() as connection:
        migrations.upgrade(connection, "0001")
        rows = [{**item.model_dump(), "uploaded_at": NOW} for item in given]
        connection.execute(sa.insert(executions), rows)
        connection.commit()
        migrations.upgrade(connection)
        assert set(VIEW_COLUMNS) <= set(sa.inspect(connection).get_view_names())
    with create_repository(url) as store:
        assert sorted(map(stored_view, store.list(limit=10)), key=str) == sorted(
            map(stored_view, given), key=str
        )
    with engine.connect() as connection:
        migrations.downgrade(connection, "0001")
        assert not set(VIEW_COLUMNS) & set(sa.inspect(connection).get_view_names())
        assert connection.execute(sa.select(sa.func.count()).select_from(executions)).scalar() == 5
        migrations.upgrade(connection)
    engine.dispose()
    with create_repository(url) as store:
        assert sorted(map(stored_view, store.list(limit=10)), key=str) == sorted(
            map(stored_view, given), key=str
        )
