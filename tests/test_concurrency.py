"""8 threads and 8 asyncio tasks storing overlapping records through one LearningDatabase."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from factories import row

from learning_store import LearningConfig, LearningDatabase, create_repository

PER_WRITER = 1000
STEP = 500  # writer k stores rows k*500 .. k*500+999, so neighbours overlap by half


@pytest.mark.parametrize("backend", ["duckdb-file", "memory"])
async def test_threads_and_tasks_store_every_distinct_record_once(
    backend: str, tmp_path: Path
) -> None:
    url = f"duckdb:///{tmp_path / 'c.db'}" if backend == "duckdb-file" else "memory://"
    repository = create_repository(url)
    db = LearningDatabase(repository=repository, config=LearningConfig(embedding_model="hashing"))
    await db.initialize()
    batches = [[row(k * STEP + n) for n in range(PER_WRITER)] for k in range(16)]
    stored_by_threads: list[int] = []
    errors: list[BaseException] = []

    def thread_writer(batch: list[dict]) -> None:
        try:  # a thread with its own event loop, sharing the one LearningDatabase
            stored_by_threads.append(asyncio.run(db.store_executions_batch(batch)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=thread_writer, args=(batch,)) for batch in batches[:8]]
    for thread in threads:
        thread.start()
    stored_by_tasks = await asyncio.gather(*(db.store_executions_batch(b) for b in batches[8:]))
    for thread in threads:
        await asyncio.to_thread(thread.join)
    assert errors == []
    distinct = 15 * STEP + PER_WRITER
    assert sum(stored_by_threads) + sum(stored_by_tasks) == distinct
    assert repository.count() == distinct
    keys = {record.task_id for record in repository.list(limit=distinct + 10)}
    assert len(keys) == distinct
    await db.close()
    repository.close()
