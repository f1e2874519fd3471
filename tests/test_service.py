"""LearningDatabase: the seed example, batching, embeddings, concurrency, a responsive loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from uuid import uuid4

import numpy as np
import pytest
from factories import row, task_uuid, unit_vector
from pydantic import ValidationError

from learning_store import (
    EmbeddingsUnavailableError,
    ExecutionRecord,
    HashingEmbedder,
    InMemoryExecutionRepository,
    LearningConfig,
    LearningDatabase,
    NotInitializedError,
    create_repository,
)

HASHING = LearningConfig(embedding_model="hashing")


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def embed(self, texts):
        self.calls.append(len(texts))
        return super().embed(texts)


@pytest.mark.model
async def test_the_seed_usage_example_runs_unchanged() -> None:
    """The example from the system this replaces; only the import line differs."""
    # Initialize database
    db = LearningDatabase(database_path="data/learning.db")
    await db.initialize()

    # Collect executions
    executions = []
    for i in range(100):
        execution = ExecutionRecord(
            task_id=uuid4(),
            task_type="refactor",
            task_description=f"Optimize query {i}",
            repo="mahavishnu",
            file_count=1,
            estimated_tokens=1000,
            model_tier="medium",
            pool_type="mahavishnu",
            routing_confidence=0.85,
            complexity_score=65,
            success=True,
            duration_seconds=45.2,
            cost_estimate=0.003,
            actual_cost=0.0032,
        )
        executions.append(execution)

    # Batch insert (5-20x faster)
    count = await db.store_executions_batch(executions)
    print(f"Stored {count} executions in batch")

    await db.close()

    assert count == 100
    assert Path("data/learning.db").is_file()
    with create_repository("duckdb:///data/learning.db") as store:
        assert store.count(repo="mahavishnu") == 100
        assert all(r.embedding is not None for r in store.list(limit=100))


async def test_using_it_before_initialize_says_what_to_do() -> None:
    db = LearningDatabase(repository=InMemoryExecutionRepository(), config=HASHING)
    with pytest.raises(NotInitializedError, match=r"await db\.initialize\(\)"):
        await db.store_execution(row(1))


async def test_store_execution_embeds_and_reports_duplicates() -> None:
    repository = InMemoryExecutionRepository()
    async with LearningDatabase(repository=repository, config=HASHING) as db:
        assert await db.store_execution(row(1)) is True
        assert await db.store_execution(row(1)) is False
        with pytest.raises(ValidationError, match="routing_confidence"):
            await db.store_execution(row(2, routing_confidence=3))
    stored = repository.get(task_uuid(1))
    expected = HashingEmbedder().embed([stored.embedding_text()])[0]
    np.testing.assert_allclose(stored.embedding, expected, atol=1e-7)


async def test_batch_embeds_with_one_call_and_keeps_precomputed_vectors() -> None:
    embedder = CountingEmbedder()
    repository = InMemoryExecutionRepository()
    precomputed = unit_vector(42)
    rows = [row(n) for n in range(500)]
    rows[7] = row(7, embedding=precomputed)
    async with LearningDatabase(repository=repository, embedder=embedder) as db:
        assert await db.store_executions_batch(rows) == 500
    assert embedder.calls == [499]
    assert repository.get(task_uuid(7)).embedding == precomputed


async def test_bad_rows_and_wrong_length_embeddings_are_rejected_by_index() -> None:
    repository = InMemoryExecutionRepository()
    rows = [row(0), row(1, embedding=[0.5] * 12), row(2, repo=""), row(0), row(4)]
    async with LearningDatabase(repository=repository, config=HASHING) as db:
        result = await db.store_batch(rows)
        assert await db.store_executions_batch(rows) == 0
    assert (result.stored, result.duplicates) == (2, 1)
    assert [(r.index, r.task_id) for r in result.rejected] == [(1, task_uuid(1)), (2, task_uuid(2))]
    assert "embedding" in result.rejected[0].reason and "384" in result.rejected[0].reason


async def test_large_input_is_windowed_and_indexes_stay_global() -> None:
    embedder = CountingEmbedder()
    rows = [row(n) for n in range(2_500)]
    rows[2_100] = row(2_100, success="perhaps")
    async with LearningDatabase(repository=InMemoryExecutionRepository(), embedder=embedder) as db:
        result = await db.store_batch(iter(rows))
    assert result.stored == 2_499 and [r.index for r in result.rejected] == [2_100]
    assert embedder.calls == [1000, 1000, 499]


async def test_embeddings_disabled_stores_null_and_search_explains() -> None:
    repository = InMemoryExecutionRepository()
    config = LearningConfig(embeddings_enabled=False)
    async with LearningDatabase(repository=repository, config=config) as db:
        assert db.embedder is None
        assert await db.store_executions_batch([row(1)]) == 1
        with pytest.raises(EmbeddingsUnavailableError, match="LEARNING_STORE_EMBEDDINGS_ENABLED"):
            await db.find_similar_executions("anything")
    assert repository.get(task_uuid(1)).embedding is None


async def test_find_similar_returns_the_nearest_typed_and_as_documented_dicts() -> None:
    async with LearningDatabase(repository=InMemoryExecutionRepository(), config=HASHING) as db:
        await db.store_executions_batch(
            [
                row(1, task_description="add an index to the slow orders query"),
                row(2, task_description="paint the login button blue"),
            ]
        )
        found = await db.find_similar("slow orders query index", threshold=0.1)
        documented = await db.find_similar_executions("slow orders query index", threshold=0.1)
    assert [m.record.task_id for m in found] == [task_uuid(1)]
    assert documented == [found[0].to_dict()]
    assert documented[0]["task_id"] == str(task_uuid(1))
    assert documented[0]["similarity"] == found[0].similarity


async def test_database_path_builds_duckdb_and_close_releases_it(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "learning.db"
    async with LearningDatabase(database_path=path, config=HASHING) as db:
        await db.store_execution(row(1))
        assert "duckdb" in repr(db)
    with create_repository(f"duckdb:///{path}") as store:  # released by close()
        assert store.count() == 1


async def test_injected_repository_is_left_open() -> None:
    repository = InMemoryExecutionRepository()
    async with LearningDatabase(repository=repository, config=HASHING) as db:
        await db.store_execution(row(1))
    assert repository.count() == 1


@pytest.mark.parametrize("backend", ["memory://", "duckdb-file"])
async def test_eight_concurrent_batches_store_each_record_once(
    backend: str, tmp_path: Path
) -> None:
    url = f"duckdb:///{tmp_path / 'c.db'}" if backend == "duckdb-file" else backend
    repository = create_repository(url)
    async with LearningDatabase(repository=repository, config=HASHING) as db:
        batches = [[row(n) for n in range(k * 150, k * 150 + 300)] for k in range(8)]
        stored = await asyncio.gather(*(db.store_executions_batch(b) for b in batches))
    distinct = 7 * 150 + 300
    assert sum(stored) == distinct
    assert repository.count() == distinct
    repository.close()


async def test_event_loop_keeps_ticking_during_a_large_batch(tmp_path: Path) -> None:
    """Storing runs off the loop: a blocked loop would show one gap as long as the store.

    The batch is large (60,000 rows, ~2.5 s) so that a stall outside our code (a garbage
    collection in a big test process, a busy host) stays well below a quarter of it.
    """
    ticks: list[float] = []
    stop = asyncio.Event()

    async def heartbeat() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    repository = create_repository(f"duckdb:///{tmp_path / 'h.db'}")
    async with LearningDatabase(repository=repository, config=HASHING) as db:
        beat = asyncio.create_task(heartbeat())
        await asyncio.sleep(0.02)
        rows = [row(n) for n in range(60_000)]  # built before timing: the test's own work
        started = time.perf_counter()
        assert await db.store_executions_batch(rows) == 60_000
        elapsed = time.perf_counter() - started
        stop.set()
        await beat
    repository.close()
    during = [t for t in ticks if started <= t <= started + elapsed]
    gaps = np.diff([started, *during, started + elapsed])
    assert len(during) >= 10  # the loop ran many times while the batch was stored
    assert gaps.max() < elapsed / 4  # and was never blocked for a large part of it


async def test_analytics_through_the_service() -> None:
    repository = InMemoryExecutionRepository()
    rows = [
        row(n, solution_summary="added index", success=n % 4 != 0, duration_seconds=n + 1.0)
        for n in range(8)
    ]
    async with LearningDatabase(repository=repository, config=HASHING) as db:
        await db.store_executions_batch(rows)
        assert await db.tier_performance() == repository.tier_performance(days_back=30)
        assert await db.pool_performance(repo="mahavishnu") == repository.pool_performance(
            repo="mahavishnu"
        )
        patterns = await db.solution_patterns(min_usage=5)
        assert [(p.usage_count, p.success_count) for p in patterns] == [(8, 6)]
        stats = await db.get_stats()
        assert (stats.total, stats.without_embedding) == (8, 0)
