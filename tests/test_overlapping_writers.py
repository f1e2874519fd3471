"""Writers racing on randomly overlapping task_ids: no error, every distinct id stored once.

Each writer stores batches of 100 rows whose task_ids are drawn at random from one shared
pool of 3,000, so batches of different writers overlap often and at unpredictable moments.
Before the per-file write gate, 4 threads failed most runs and 8 threads every run with
"Duplicate key ... violates primary key constraint".
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from factories import record, row

from learning_store import (
    ExecutionRecord,
    LearningConfig,
    LearningDatabase,
    RoutingTelemetry,
    create_repository,
)
from learning_store.files.formats import FileFormat
from learning_store.files.ingest import ingest_file
from learning_store.repository.base import ExecutionRepository
from learning_store.telemetry.spool import Spool

POOL = 3_000
BATCH = 100
BATCHES_PER_WRITER = 6


def race(
    stores: list[ExecutionRepository], writers: int, seed: int, write: Callable | None = None
) -> tuple[list[int], set[int], list[BaseException]]:
    """Run `writers` threads; writer k uses stores[k % len(stores)]. Returns counts, ids, errors."""
    rng = random.Random(seed)
    plans = [
        [rng.sample(range(POOL), BATCH) for _ in range(BATCHES_PER_WRITER)] for _ in range(writers)
    ]
    stored: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def work(k: int) -> None:
        store = stores[k % len(stores)]
        try:
            start.wait()
            for numbers in plans[k]:
                if write is None:
                    stored.append(store.add_many([row(n) for n in numbers]).stored)
                else:
                    stored.append(write(store, numbers))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    distinct = {n for plan in plans for numbers in plan for n in numbers}
    return stored, distinct, errors


def assert_each_id_once(store: ExecutionRepository, stored: list[int], distinct: set[int]) -> None:
    assert sum(stored) == len(distinct)
    assert store.count() == len(distinct)
    keys = [record.task_id for record in store.list(limit=POOL + 1)]
    assert len(keys) == len(set(keys)) == len(distinct)


@pytest.mark.parametrize("writers", [2, 4, 8, 16])
@pytest.mark.parametrize("sharing", ["shared", "separate"])
def test_overlapping_add_many_on_a_duckdb_file(writers: int, sharing: str, tmp_path: Path) -> None:
    for seed in range(3):
        url = f"duckdb:///{tmp_path / f'race{seed}.db'}"
        stores = [create_repository(url) for _ in range(1 if sharing == "shared" else 4)]
        try:
            stored, distinct, errors = race(stores, writers, seed)
            assert errors == []
            assert_each_id_once(stores[0], stored, distinct)
        finally:
            for store in stores:
                store.close()


def test_single_adds_race_with_batches(tmp_path: Path) -> None:
    """`add` (the small-chunk path) racing `add_many` on the same ids."""
    url = f"duckdb:///{tmp_path / 'race.db'}"
    store = create_repository(url)

    def write(target: ExecutionRepository, numbers: list[int]) -> int:
        if numbers[0] % 2:
            return target.add_many([row(n) for n in numbers]).stored
        return sum(target.add(row(n)) for n in numbers[:20])

    try:
        stored, _, errors = race([store], 8, seed=11, write=write)
        assert errors == []
        assert sum(stored) == store.count()
    finally:
        store.close()


def test_overlapping_writers_on_every_backend(store: ExecutionRepository) -> None:
    """The same property on the fake, DuckDB in memory and PostgreSQL (threads)."""
    stored, distinct, errors = race([store], 8, seed=5)
    assert errors == []
    assert_each_id_once(store, stored, distinct)


def test_learning_database_single_and_batch_stores(tmp_path: Path) -> None:
    """`store_execution` and `store_executions_batch` from threads with their own loops."""
    repository = create_repository(f"duckdb:///{tmp_path / 'race.db'}")
    db = LearningDatabase(repository=repository, config=LearningConfig(embedding_model="hashing"))
    asyncio.run(db.initialize())

    def write(_: ExecutionRepository, numbers: list[int]) -> int:
        if numbers[0] % 2:
            return asyncio.run(db.store_executions_batch([row(n) for n in numbers]))

        async def singles() -> int:
            return sum([await db.store_execution(row(n)) for n in numbers[:20]])

        return asyncio.run(singles())

    try:
        stored, _, errors = race([repository], 8, seed=3, write=write)
        assert errors == []
        assert sum(stored) == repository.count()
    finally:
        repository.close()


async def test_telemetry_flushes_race_spool_replay(tmp_path: Path) -> None:
    """Eight telemetry buffers flush overlapping records while they replay a spool of them."""
    repository = create_repository(f"duckdb:///{tmp_path / 'race.db'}")
    db = LearningDatabase(repository=repository, config=LearningConfig(embedding_model="hashing"))
    await db.initialize()
    rng = random.Random(9)
    spool_dir = tmp_path / "spool"
    for _ in range(4):
        Spool(spool_dir).write(record(n) for n in rng.sample(range(POOL), BATCH))
    spooled = {int(r.task_id) - 1 for p in Spool(spool_dir).pending_files() for r in _read(p)}
    buffers = [RoutingTelemetry(db, batch_size=100, spool_dir=spool_dir) for _ in range(8)]
    plans = [rng.sample(range(POOL), 500) for _ in buffers]

    async def run(telemetry: RoutingTelemetry, numbers: list[int]) -> None:
        await telemetry.initialize()
        for k, n in enumerate(numbers):
            await telemetry.record(record(n))
            if k % 100 == 99:
                await asyncio.sleep(0.001)  # let the other buffers' flushes overlap this one's
        await telemetry.shutdown()

    await asyncio.gather(*(run(t, plan) for t, plan in zip(buffers, plans, strict=True)))
    distinct = spooled | {n for plan in plans for n in plan}
    stats = [t.stats for t in buffers]
    assert sum(s.dropped + s.spooled + s.rejected + s.failed_flushes for s in stats) == 0
    assert sum(s.stored for s in stats) == repository.count() == len(distinct)
    assert Spool(spool_dir).pending_files() == []
    repository.close()


async def test_concurrent_ingests_of_overlapping_files(tmp_path: Path) -> None:
    repository = create_repository(f"duckdb:///{tmp_path / 'race.db'}")
    db = LearningDatabase(repository=repository, config=LearningConfig(embedding_model="hashing"))
    await db.initialize()
    rng = random.Random(4)
    files = []
    for k in range(4):
        path = tmp_path / f"part{k}.jsonl"
        numbers = rng.sample(range(POOL), 600)
        path.write_text("".join(json.dumps(row(n), default=str) + "\n" for n in numbers))
        files.append((path, numbers))
    summaries = await asyncio.gather(
        *(ingest_file(db, path, FileFormat.JSONL, batch_size=100) for path, _ in files)
    )
    distinct = {n for _, numbers in files for n in numbers}
    assert sum(s.stored for s in summaries) == repository.count() == len(distinct)
    assert sum(s.rejected for s in summaries) == 0
    repository.close()


def _read(path: Path) -> list[ExecutionRecord]:
    return [ExecutionRecord.model_validate_json(line) for line in path.read_text().splitlines()]
