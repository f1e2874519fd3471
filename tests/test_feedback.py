"""User feedback after the fact: repository contract, analytics, telemetry and the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import UUID

import pytest
from factories import record, row, stored_view, task_uuid
from typer.testing import CliRunner

from learning_store import (
    ExecutionRepository,
    Feedback,
    InMemoryExecutionRepository,
    LearningConfig,
    LearningDatabase,
    RoutingTelemetry,
    create_repository,
)
from learning_store.analytics import pool_performance, tier_performance
from learning_store.cli import app

HASHING = LearningConfig(embedding_model="hashing")


def test_feedback_updates_only_the_two_columns_and_is_idempotent(
    store: ExecutionRepository,
) -> None:
    store.add_many([row(1), row(2)])
    before = stored_view(store.get(task_uuid(1)))
    assert store.record_feedback(task_uuid(1), accepted=False, rating=2) is True
    assert store.record_feedback(task_uuid(1), accepted=False, rating=2) is True
    after = store.get(task_uuid(1))
    assert (after.user_accepted, after.user_rating) == (False, 2)
    assert {**stored_view(after), "user_accepted": None, "user_rating": None} == before
    assert store.record_feedback(str(task_uuid(1)), rating=5) is True  # accepted stays
    assert (store.get(task_uuid(1)).user_accepted, store.get(task_uuid(1)).user_rating) == (
        False,
        5,
    )
    assert store.get(task_uuid(2)).user_rating is None


def test_feedback_validates_and_reports_unknown_tasks(store: ExecutionRepository) -> None:
    store.add(row(1))
    with pytest.raises(ValueError, match="rating"):
        store.record_feedback(task_uuid(1), rating=6)
    with pytest.raises(ValueError, match="accepted"):
        store.record_feedback(task_uuid(1))
    assert store.get(task_uuid(1)).user_rating is None
    assert store.record_feedback(task_uuid(99), accepted=True) is False


def test_feedback_in_batches(store: ExecutionRepository) -> None:
    store.add_many([row(n) for n in range(3)])
    result = store.record_feedback_many(
        [
            {"task_id": str(task_uuid(0)), "accepted": True},
            Feedback(task_id=task_uuid(1), rating=4),
            {"task_id": str(task_uuid(0)), "rating": 3},  # merged with the first
            {"task_id": str(task_uuid(2)), "rating": 0},  # out of range
            {"task_id": str(task_uuid(42)), "accepted": False},  # not stored
        ]
    )
    assert result.updated == 2
    assert result.unknown == [task_uuid(42)]
    assert [(r.index, r.task_id) for r in result.rejected] == [(3, task_uuid(2))]
    assert "rating" in result.rejected[0].reason
    first = store.get(task_uuid(0))
    assert (first.user_accepted, first.user_rating) == (True, 3)
    assert store.get(task_uuid(1)).user_rating == 4
    assert store.get(task_uuid(2)).user_rating is None


def test_analytics_report_acceptance_and_rating(store: ExecutionRepository) -> None:
    store.add_many(
        [
            row(0, user_accepted=True, user_rating=5),
            row(1, user_accepted=False, user_rating=2),
            row(2, user_accepted=True),
            row(3),
            row(4, model_tier="large"),
        ]
    )
    records = store.list(limit=10)
    tiers = store.tier_performance(days_back=30)
    assert tiers == tier_performance(records)  # the fake's reference definition
    assert store.pool_performance(days_back=7) == pool_performance(records)
    medium = next(t for t in tiers if t.model_tier == "medium" and t.total > 1)
    assert medium.acceptance_rate == pytest.approx(2 / 3)
    assert medium.avg_rating == pytest.approx(3.5)
    large = next(t for t in tiers if t.model_tier == "large")
    assert (large.acceptance_rate, large.avg_rating) == (None, None)


async def test_feedback_through_learning_database() -> None:
    repository = InMemoryExecutionRepository()
    async with LearningDatabase(repository=repository, config=HASHING) as db:
        await db.store_execution(row(1))
        assert await db.record_feedback(task_uuid(1), accepted=True, rating=4)
        assert not await db.record_feedback(task_uuid(2), accepted=True)
        result = await db.record_feedback_many([{"task_id": str(task_uuid(1)), "rating": 1}])
        assert result.updated == 1
    assert repository.get(task_uuid(1)).user_rating == 1


async def test_telemetry_never_loses_feedback_that_beats_its_record(tmp_path: Path) -> None:
    repository = create_repository(f"duckdb:///{tmp_path / 'f.db'}")
    db = LearningDatabase(repository=repository, config=HASHING)
    telemetry = RoutingTelemetry(db, batch_size=1000, flush_interval=60, spool_dir=tmp_path / "s")
    await telemetry.initialize()
    # 1. before the record exists at all (waits, applied when it is recorded)
    await telemetry.record_feedback(task_uuid(1), accepted=True)
    await telemetry.record(record(1))
    # 2. while the record is buffered (applied in the buffer)
    await telemetry.record(record(2))
    await telemetry.record_feedback(task_uuid(2), rating=3)
    # 3. decision recorded, outcome not yet: feedback waits for the join
    await telemetry.record_routing_decision(
        task_uuid(3), "refactor", "text", "repo", "small", "pool", 0.5
    )
    await telemetry.record_feedback(task_uuid(3), accepted=False, rating=1)
    await telemetry.record_outcome(task_uuid(3), True, 1.0)
    # 4. racing the write of its record
    await telemetry.record(record(4))
    flushing = asyncio.create_task(telemetry.flush())
    await asyncio.sleep(0)
    await telemetry.record_feedback(task_uuid(4), rating=5)
    await flushing
    # 5. after the record was written
    await telemetry.record_feedback(task_uuid(1), rating=2)
    await telemetry.shutdown()
    got = {n: repository.get(task_uuid(n)) for n in (1, 2, 3, 4)}
    assert (got[1].user_accepted, got[1].user_rating) == (True, 2)
    assert got[2].user_rating == 3
    assert (got[3].user_accepted, got[3].user_rating) == (False, 1)
    assert got[4].user_rating == 5
    assert telemetry.stats.feedback_waiting == 0
    assert telemetry.stats.balanced
    repository.close()


def test_feedback_command(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'cli.db'}"
    with create_repository(url) as store:
        store.add(row(1))
    runner = CliRunner()
    done = runner.invoke(
        app, ["feedback", str(task_uuid(1)), "--rejected", "--rating", "2", "--url", url]
    )
    assert done.exit_code == 0, done.output
    assert "rejected" in done.output
    bad = runner.invoke(app, ["feedback", str(task_uuid(1)), "--rating", "9", "--url", url])
    assert bad.exit_code == 1 and "rating" in bad.output
    unknown = runner.invoke(app, ["feedback", str(UUID(int=77)), "--accepted", "--url", url])
    assert unknown.exit_code == 1 and "No execution" in unknown.output
    with create_repository(url) as store:
        stored = store.get(task_uuid(1))
    assert (stored.user_accepted, stored.user_rating) == (False, 2)


class Gated(LearningDatabase):
    """A real LearningDatabase whose batch store and feedback writes wait for a signal."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.store_may_run = asyncio.Event()
        self.feedback_may_return = asyncio.Event()

    async def store_batch(self, records):
        await self.store_may_run.wait()
        return await super().store_batch(records)

    async def record_feedback_many(self, items):
        result = await super().record_feedback_many(items)  # runs before the insert commits
        await self.feedback_may_return.wait()
        return result


async def test_feedback_that_misses_a_record_being_written_is_not_stranded(tmp_path: Path) -> None:
    repository = create_repository(f"duckdb:///{tmp_path / 'race.db'}")
    db = Gated(repository=repository, config=HASHING)
    telemetry = RoutingTelemetry(db, auto_flush=False, spool_dir=tmp_path / "s")
    await telemetry.initialize()
    await telemetry.record(record(1))
    flushing = asyncio.create_task(telemetry.flush())  # takes the record, waits to store it
    await asyncio.sleep(0)
    feedback = asyncio.create_task(telemetry.record_feedback(task_uuid(1), rating=4))
    await asyncio.sleep(0.05)  # the feedback found no stored row and waits to return
    db.store_may_run.set()  # the record is stored; the flush looks for waiting feedback
    await asyncio.sleep(0.05)
    db.feedback_may_return.set()
    await asyncio.gather(flushing, feedback)
    assert repository.get(task_uuid(1)).user_rating == 4
    assert telemetry.stats.feedback_waiting == 0
    await telemetry.shutdown()
    repository.close()
