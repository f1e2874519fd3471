"""The original system's documented API, used as its users' code uses it.

Each example reads results with the documented keys, dumps them with json.dumps and catches
RuntimeError, on the DuckDB default (a file), ":memory:" and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from factories import row

from learning_store import (
    ExecutionRecord,
    LearningConfig,
    LearningDatabase,
    LearningStoreError,
    create_repository,
)

SIMILAR_KEYS = [
    "task_id",
    "timestamp",
    "task_type",
    "repo",
    "model_tier",
    "pool_type",
    "success",
    "duration_seconds",
    "quality_score",
    "task_description",
    "solution_summary",
    "similarity",
]
TIER_KEYS = {
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
}
POOL_KEYS = {
    "pool_type",
    "repo",
    "hour",
    "total_tasks",
    "successful_tasks",
    "avg_duration",
    "avg_cost",
    "success_rate",
}
PATTERN_KEYS = {
    "solution_summary",
    "repo",
    "task_types",
    "usage_count",
    "success_count",
    "avg_quality",
    "first_seen",
    "last_seen",
    "success_rate",
}


@pytest.fixture(
    params=["duckdb-file", "duckdb-memory", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def open_database(request, tmp_path: Path):
    """Build a LearningDatabase the documented way for each backend."""

    def make() -> LearningDatabase:
        if request.param == "duckdb-file":
            path = str(tmp_path / "data" / "learning.db")
            return LearningDatabase(database_path=path, embedding_model="hashing", pool_size=4)
        if request.param == "duckdb-memory":
            return LearningDatabase(":memory:", embedding_model="hashing", pool_size=4)
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(f"original_api_{uuid4().hex[:8]}")
        config = LearningConfig(database_url=url)
        return LearningDatabase(embedding_model="hashing", pool_size=4, config=config)

    return make


def seed_example(i: int, **overrides: Any) -> ExecutionRecord:
    """The seed's example record, as its users build it."""
    values: dict[str, Any] = {
        "task_id": uuid4(),
        "task_type": "refactor",
        "task_description": f"Optimize query {i}",
        "repo": "mahavishnu",
        "file_count": 1,
        "estimated_tokens": 1000,
        "model_tier": "medium",
        "pool_type": "mahavishnu",
        "routing_confidence": 0.85,
        "complexity_score": 65,
        "success": True,
        "duration_seconds": 45.2,
        "cost_estimate": 0.003,
        "actual_cost": 0.0032,
        "solution_summary": "added an index",
        "quality_score": 80,
    }
    values.update(overrides)
    return ExecutionRecord(**values)


async def test_the_documented_calls_with_documented_keys(open_database) -> None:
    db = open_database()
    try:
        await db.store_execution(seed_example(0))
        raise AssertionError("store_execution before initialize must raise")
    except RuntimeError as error:  # what the original's users catch
        assert "initialize" in str(error)
    async with db:
        await db.initialize()  # a second initialize inside the block is harmless
        assert db.config.embedding_model == "hashing"
        assert db.config.pool_size == 4
        assert await db.store_execution(seed_example(0)) is True
        stored = await db.store_executions_batch([seed_example(i) for i in range(1, 100)])
        assert stored == 99

        found = await db.find_similar_executions(
            "Optimize query 7", repo="mahavishnu", limit=5, days_back=90, threshold=0.3
        )
        assert found and list(found[0]) == SIMILAR_KEYS
        assert found[0]["similarity"] >= 0.3
        assert found[0]["task_description"].startswith("Optimize query")
        json.dumps(found)

        tiers = await db.get_tier_performance(repo=None, days_back=30)
        assert set(tiers[0]) >= TIER_KEYS
        assert tiers[0]["total_executions"] == 100 and tiers[0]["successful_count"] == 100
        assert tiers[0]["avg_quality"] == pytest.approx(80)
        pools = await db.get_pool_performance(repo="mahavishnu", days_back=7)
        assert set(pools[0]) >= POOL_KEYS and pools[0]["success_rate"] == 1.0
        patterns = await db.get_solution_patterns(repo=None, min_usage=5, limit=10)
        assert set(patterns[0]) >= PATTERN_KEYS
        assert patterns[0]["solution_summary"] == "added an index"
        assert patterns[0]["usage_count"] == 100
        json.dumps({"tiers": tiers, "pools": pools, "patterns": patterns})


async def test_solution_patterns_cover_the_last_90_days_only(open_database) -> None:
    async with open_database() as db:
        old = datetime.now(UTC) - timedelta(days=120)
        await db.store_executions_batch(
            [seed_example(i, timestamp=old, solution_summary="old fix") for i in range(6)]
            + [seed_example(i, solution_summary="new fix") for i in range(6)]
        )
        patterns = await db.get_solution_patterns(min_usage=5)
        assert [p["solution_summary"] for p in patterns] == ["new fix"]


async def test_cleanup_old_executions_returns_the_documented_counts(
    open_database, tmp_path: Path
) -> None:
    async with open_database() as db:
        old = datetime.now(UTC) - timedelta(days=200)
        await db.store_executions_batch(
            [seed_example(i, timestamp=old - timedelta(days=i)) for i in range(5)]
            + [seed_example(i) for i in range(3)]
        )
        archived = await db.cleanup_old_executions(days_to_keep=150, archive_path=tmp_path / "a")
        assert archived == {"archived_count": 5, "deleted_count": 5, "days_cleaned": 150}
        assert list((tmp_path / "a").rglob("*.parquet"))
        assert await db.cleanup_old_executions(days_to_keep=90) == {
            "deleted_count": 0,
            "days_cleaned": 90,
        }
        assert (await db.get_stats()).total == 3


async def test_initialize_failure_is_a_runtime_error(tmp_path: Path) -> None:
    folder = tmp_path / "taken"
    folder.write_text("a file where the database folder should be")
    db = LearningDatabase(str(folder / "learning.db"), embedding_model="hashing")
    with pytest.raises(RuntimeError) as caught:
        await db.initialize()
    assert isinstance(caught.value, LearningStoreError)


async def test_an_unknown_embedding_model_fails_initialize_or_first_use_as_runtime_error() -> None:
    db = LearningDatabase(":memory:", embedding_model="no-such-model-anywhere")
    with pytest.raises(RuntimeError):
        await db.initialize()
        await db.store_execution(seed_example(0))


async def test_typed_and_documented_results_agree(tmp_path: Path) -> None:
    async with LearningDatabase(":memory:", embedding_model="hashing") as db:
        await db.store_executions_batch([row(n, solution_summary="s") for n in range(6)])
        assert [r.to_dict() for r in await db.tier_performance()] == (
            await db.get_tier_performance()
        )
        assert [r.to_dict() for r in await db.pool_performance()] == (
            await db.get_pool_performance()
        )
        assert [r.to_dict() for r in await db.solution_patterns()] == (
            await db.get_solution_patterns()
        )
        typed = await db.find_similar("Optimize query 3", threshold=0.2)
        assert [m.to_dict() for m in typed] == await db.find_similar_executions(
            "Optimize query 3", threshold=0.2
        )


def test_the_embedded_default_file_is_the_documented_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert LearningDatabase().config.database_url == "duckdb:///data/learning.db"
    with create_repository() as store:
        assert store.count() == 0
    assert (tmp_path / "data" / "learning.db").exists()
