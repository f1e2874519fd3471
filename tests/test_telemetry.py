"""RoutingTelemetry: batching, backpressure, retries, spooling, shutdown, join, invariant."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from factories import row, task_uuid

from learning_store import (
    ExecutionRecord,
    LearningConfig,
    LearningDatabase,
    StorageError,
    TelemetryClosedError,
    create_repository,
)
from learning_store.telemetry import RoutingTelemetry

HASHING = LearningConfig(embedding_model="hashing")


class FaultyRepository:
    """A real store behind a switch: fails, hangs or slows down writes on demand."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.failures_left = 0
        self.always_fail = False
        self.delay = 0.0
        self.hang = threading.Event()
        self.hang.set()  # set = not hanging
        self.calls = 0

    def add_many(self, records):
        self.calls += 1
        self.hang.wait(timeout=30)
        if self.delay:
            time.sleep(self.delay)
        if self.always_fail or self.failures_left > 0:
            self.failures_left -= 1
            raise StorageError("database unavailable (injected)")
        return self.inner.add_many(records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def duckdb_store(tmp_path: Path):
    repository = create_repository(f"duckdb:///{tmp_path / 'telemetry.db'}")
    yield repository
    repository.close()


async def eventually(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def telemetry_for(repository, tmp_path: Path, **options) -> RoutingTelemetry:
    db = LearningDatabase(repository=repository, config=HASHING)
    options.setdefault("spool_dir", tmp_path / "spool")
    return RoutingTelemetry(db, **options)


async def test_ten_thousand_records_then_shutdown_stores_each_once(duckdb_store, tmp_path) -> None:
    telemetry = telemetry_for(duckdb_store, tmp_path, batch_size=500, flush_interval=0.2)
    await telemetry.initialize()
    for n in range(10_000):
        assert await telemetry.record(row(n)) is True
    await telemetry.shutdown()
    stats = telemetry.stats
    assert (stats.recorded, stats.stored, stats.duplicates, stats.pending) == (10_000, 10_000, 0, 0)
    assert stats.balanced
    assert duckdb_store.count() == 10_000
    assert {r.task_id for r in duckdb_store.list(limit=10_000)} == {
        task_uuid(n) for n in range(10_000)
    }


async def test_reaching_batch_size_flushes_in_the_background(duckdb_store, tmp_path) -> None:
    async with telemetry_for(
        duckdb_store, tmp_path, batch_size=50, flush_interval=3600
    ) as telemetry:
        for n in range(49):
            await telemetry.record(row(n))
        await asyncio.sleep(0.2)
        assert duckdb_store.count() == 0  # below the size trigger, the interval is an hour
        await telemetry.record(row(49))
        await eventually(lambda: telemetry.stats.stored == 50)
        assert telemetry.stats.flushes >= 1 and duckdb_store.count() == 50


async def test_the_interval_flushes_without_an_explicit_call(duckdb_store, tmp_path) -> None:
    async with telemetry_for(
        duckdb_store, tmp_path, batch_size=1000, flush_interval=0.05
    ) as telemetry:
        for n in range(3):
            await telemetry.record(row(n))
        await eventually(lambda: telemetry.stats.stored == 3)
        assert duckdb_store.count() == 3


async def test_explicit_flushes_never_write_a_record_twice(duckdb_store, tmp_path) -> None:
    async with telemetry_for(duckdb_store, tmp_path, auto_flush=False, batch_size=40) as telemetry:
        for n in range(500):
            await telemetry.record(row(n))
        results = await asyncio.gather(
            telemetry.flush(), telemetry.flush_batch(), telemetry.flush()
        )
        assert sum(results) == 500
        assert telemetry.stats.duplicates == 0 and telemetry.stats.stored == 500
    assert duckdb_store.count() == 500


async def test_a_store_that_fails_for_a_while_loses_nothing(duckdb_store, tmp_path) -> None:
    faulty = FaultyRepository(duckdb_store)
    faulty.failures_left = 3
    telemetry = telemetry_for(
        faulty, tmp_path, batch_size=100, flush_interval=0.02, max_retries=10, retry_backoff=0.01
    )
    await telemetry.initialize()
    for n in range(500):
        await telemetry.record(row(n))
        assert telemetry.stats.balanced
    await eventually(lambda: telemetry.stats.stored == 500)
    await telemetry.shutdown()
    stats = telemetry.stats
    assert stats.failed_flushes == 3
    assert (stats.stored, stats.duplicates, stats.spooled, stats.dropped) == (500, 0, 0, 0)
    assert duckdb_store.count() == 500 and stats.balanced


async def test_database_down_past_retries_spools_then_replays_once(duckdb_store, tmp_path) -> None:
    faulty = FaultyRepository(duckdb_store)
    faulty.always_fail = True
    telemetry = telemetry_for(
        faulty,
        tmp_path,
        batch_size=50,
        flush_interval=0.02,
        max_retries=2,
        retry_backoff=0.01,
        shutdown_timeout=2,
    )
    await telemetry.initialize()
    for n in range(120):
        await telemetry.record(row(n))
    await eventually(lambda: telemetry.stats.spooled == 120)
    await telemetry.shutdown()
    assert telemetry.stats.balanced and telemetry.stats.stored == 0
    spool_files = sorted((tmp_path / "spool").glob("*.jsonl"))
    assert spool_files and duckdb_store.count() == 0
    lines = sum(len(path.read_text().splitlines()) for path in spool_files)
    assert lines == 120
    backup = tmp_path / "backup"
    shutil.copytree(tmp_path / "spool", backup)

    revived = telemetry_for(duckdb_store, tmp_path)  # the database is back
    await revived.initialize()
    assert (revived.stats.replayed, revived.stats.stored) == (120, 120)
    assert revived.stats.balanced
    await revived.shutdown()
    assert duckdb_store.count() == 120
    assert not list((tmp_path / "spool").glob("*.jsonl*"))

    shutil.rmtree(tmp_path / "spool")  # a crash after writing but before deleting the files
    shutil.copytree(backup, tmp_path / "spool")
    again = telemetry_for(duckdb_store, tmp_path)
    await again.initialize()
    assert (again.stats.replayed, again.stats.stored, again.stats.duplicates) == (120, 0, 120)
    await again.shutdown()
    assert duckdb_store.count() == 120


async def test_own_spool_is_replayed_when_the_database_recovers(duckdb_store, tmp_path) -> None:
    faulty = FaultyRepository(duckdb_store)
    faulty.always_fail = True
    telemetry = telemetry_for(
        faulty, tmp_path, batch_size=10, flush_interval=0.02, max_retries=1, retry_backoff=0.01
    )
    await telemetry.initialize()
    for n in range(30):
        await telemetry.record(row(n))
    await eventually(lambda: telemetry.stats.spooled == 30)
    faulty.always_fail = False
    await telemetry.record(row(30))
    await eventually(lambda: telemetry.stats.stored == 31)
    assert telemetry.stats.spooled == 0 and telemetry.stats.replayed == 0
    await telemetry.shutdown()
    assert duckdb_store.count() == 31 and telemetry.stats.balanced


async def test_slow_store_small_buffer_backpressure_then_counted_drops(
    duckdb_store, tmp_path, caplog
) -> None:
    faulty = FaultyRepository(duckdb_store)
    faulty.delay = 0.05
    telemetry = telemetry_for(
        faulty, tmp_path, batch_size=10, flush_interval=0.01, max_pending=30, enqueue_timeout=0.02
    )
    await telemetry.initialize()
    accepted = 0
    for n in range(400):
        accepted += await telemetry.record(row(n))
        stats = telemetry.stats
        assert stats.pending <= 30 and stats.balanced
    await telemetry.shutdown()
    stats = telemetry.stats
    assert stats.dropped > 0 and accepted > 30  # waited for room before dropping
    assert stats.recorded == 400 and accepted + stats.dropped == 400
    assert stats.stored == accepted == duckdb_store.count()
    assert stats.balanced
    assert f"{stats.dropped} dropped so far" in caplog.text


async def test_shutdown_with_a_hanging_store_returns_in_time_and_spools(
    duckdb_store, tmp_path
) -> None:
    faulty = FaultyRepository(duckdb_store)
    telemetry = telemetry_for(
        faulty, tmp_path, batch_size=5, flush_interval=0.01, shutdown_timeout=0.5
    )
    await telemetry.initialize()
    faulty.hang.clear()  # every write now blocks
    for n in range(20):
        await telemetry.record(row(n))
    await eventually(lambda: faulty.calls >= 1)
    started = time.monotonic()
    await telemetry.shutdown()
    elapsed = time.monotonic() - started
    faulty.hang.set()
    assert elapsed < 0.5 + 2.0  # the timeout, plus writing the spool file
    stats = telemetry.stats
    assert stats.spooled == 20 and stats.pending == 0 and stats.balanced
    await telemetry.shutdown()  # idempotent
    with pytest.raises(TelemetryClosedError):
        await telemetry.record(row(99))


async def test_decisions_and_outcomes_join_in_either_order(duckdb_store, tmp_path) -> None:
    async with telemetry_for(duckdb_store, tmp_path, auto_flush=False) as telemetry:
        await telemetry.record_routing_decision(
            task_uuid(1),
            "bugfix",
            "Fix the login redirect",
            "web",
            "small",
            "fast",
            0.9,
            complexity_score=20,
            cost_estimate=0.01,
            metadata={"router": "v2"},
        )
        assert telemetry.stats.awaiting_outcome == 1 and telemetry.stats.recorded == 0
        await telemetry.record_outcome(
            task_uuid(1), True, 12.5, actual_cost=0.012, quality_score=91, metadata={"attempts": 1}
        )
        await telemetry.record_outcome(
            task_uuid(2), False, 3.0, error_type="timeout", error_message="model timed out"
        )
        assert telemetry.stats.awaiting_decision == 1
        await telemetry.record_routing_decision(
            str(task_uuid(2)), "refactor", "Split the billing module", "web", "large", "deep", 0.6
        )
        assert telemetry.stats.recorded == 2
        assert await telemetry.flush() == 2
    first, second = duckdb_store.get(task_uuid(1)), duckdb_store.get(task_uuid(2))
    assert (first.success, first.duration_seconds, first.actual_cost, first.model_tier) == (
        True,
        12.5,
        0.012,
        "small",
    )
    assert first.metadata == {"router": "v2", "attempts": 1} and first.embedding is not None
    assert (second.error_type.value, second.pool_type, second.success) == ("timeout", "deep", False)


async def test_orphaned_halves_expire_and_are_counted(duckdb_store, tmp_path, caplog) -> None:
    async with telemetry_for(
        duckdb_store, tmp_path, pending_ttl=0.05, flush_interval=0.02
    ) as telemetry:
        await telemetry.record_routing_decision(task_uuid(1), "t", "d", "r", "small", "p", 0.5)
        await telemetry.record_outcome(task_uuid(2), True, 1.0)
        await eventually(lambda: telemetry.stats.orphaned_decisions == 1)
        stats = telemetry.stats
        assert (stats.orphaned_outcomes, stats.awaiting_outcome, stats.awaiting_decision) == (
            1,
            0,
            0,
        )
        await telemetry.record_outcome(
            task_uuid(1), True, 1.0
        )  # too late: kept as an orphan outcome
        assert telemetry.stats.recorded == 0
    assert "no outcome expired" in caplog.text


async def test_a_bad_decision_fails_fast_with_the_field_named(duckdb_store, tmp_path) -> None:
    async with telemetry_for(duckdb_store, tmp_path) as telemetry:
        with pytest.raises(ValueError, match="routing_confidence"):
            await telemetry.record_routing_decision(task_uuid(1), "t", "d", "r", "small", "p", 7.0)
        assert telemetry.stats.awaiting_outcome == 0


async def test_record_requires_initialize(duckdb_store, tmp_path) -> None:
    telemetry = telemetry_for(duckdb_store, tmp_path)
    with pytest.raises(Exception, match="initialize"):
        await telemetry.record(row(1))


async def test_defaults_come_from_the_config(duckdb_store, tmp_path) -> None:
    config = LearningConfig(
        embedding_model="hashing",
        batch_size=7,
        flush_interval_seconds=9,
        telemetry_max_pending=70,
        telemetry_spool_dir=tmp_path / "s",
    )
    telemetry = RoutingTelemetry(LearningDatabase(repository=duckdb_store, config=config))
    assert (telemetry.batch_size, telemetry.flush_interval, telemetry.max_pending) == (7, 9, 70)
    assert telemetry.spool.directory == tmp_path / "s"
    with pytest.raises(ValueError, match="LEARNING_STORE_BATCH_SIZE"):
        RoutingTelemetry(LearningDatabase(repository=duckdb_store, config=config), batch_size=0)


async def test_the_invariant_holds_through_a_mixed_run(duckdb_store, tmp_path) -> None:
    faulty = FaultyRepository(duckdb_store)
    faulty.failures_left = 2
    telemetry = telemetry_for(
        faulty,
        tmp_path,
        batch_size=20,
        flush_interval=0.01,
        max_pending=60,
        enqueue_timeout=0.001,
        max_retries=1,
        retry_backoff=0.01,
    )
    await telemetry.initialize()
    for n in range(600):
        await telemetry.record(row(n % 450))  # 150 repeats become duplicates
        assert telemetry.stats.balanced, telemetry.stats
        if n % 97 == 0:
            await asyncio.sleep(0.01)
    await telemetry.shutdown()
    stats = telemetry.stats
    assert stats.balanced and stats.pending == 0
    assert stats.stored + stats.duplicates + stats.dropped + stats.spooled == 600
    assert duckdb_store.count() == stats.stored


def test_telemetry_is_exported() -> None:
    import learning_store

    assert learning_store.RoutingTelemetry is RoutingTelemetry
    assert isinstance(ExecutionRecord, type)
