"""A live service's load: searches, advice, writes, feedback and deletes all at once.

Eight threads search (two of them ask for routing advice's neighbours), two write
overlapping batches, one records feedback and one deletes rows and prunes old ones, for
about 20 seconds, on a DuckDB file whose ANN index is active and on PostgreSQL with
pgvector. Nothing may fail, no call may take over 3 s, every acknowledged row must be
there, no search may return a row deleted before it began, and once the load stops the
index must answer as an exact scan does.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from factories import row, task_uuid

from learning_store import LearningConfig, create_repository
from learning_store.advice.recommend import similar_outcomes
from learning_store.repository.base import SimilarityQuery

SOAK_SECONDS = 20.0
SLOWEST_CALL_S = 3.0
SEARCHERS = 8
PRELOADED = 6_000
"""Rows stored before the load starts: writers add to them, the deleter removes some."""
OLD = 600
"""Preloaded rows older than the prune cutoff (pruned in slices as the load runs)."""
WRITTEN = range(100_000, 103_000)
"""Task numbers the two writers draw their overlapping batches from."""


CENTRES = np.random.default_rng(10).normal(size=(40, 384))
"""Rows and queries alike are noisy copies of these: queries look like the stored tasks."""


def clustered(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = CENTRES[rng.integers(0, 40, count)] + rng.normal(scale=0.35, size=(count, 384))
    return (picked / np.linalg.norm(picked, axis=1, keepdims=True)).astype(np.float32)


VECTORS = clustered(PRELOADED + len(WRITTEN), seed=11)
NOW = datetime.now(UTC)


def vector_of(number: int) -> np.ndarray:
    return VECTORS[number if number < PRELOADED else PRELOADED + number - WRITTEN.start]


def preloaded_row(number: int) -> dict[str, Any]:
    age = timedelta(days=40 + number % 5) if number < OLD else timedelta(minutes=number)
    return row(
        number,
        embedding=vector_of(number),
        timestamp=NOW - age,
        model_tier=("small", "medium", "large")[number % 3],
        repo=f"repo-{number % 4}",
    )


def written_row(number: int) -> dict[str, Any]:
    """A row the writers store: recent, so pruning never takes it."""
    age = timedelta(seconds=number - WRITTEN.start)
    return row(number, embedding=vector_of(number), timestamp=NOW - age, repo=f"repo-{number % 4}")


class Load:
    """What the threads share: errors, slow calls, and the rows deleted so far."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.slowest = 0.0
        self.deleted: set[Any] = set()
        self.acknowledged: set[Any] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.calls = 0

    def deleted_now(self) -> set[Any]:
        with self.lock:
            return set(self.deleted)

    def timed(self, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return call()
        except Exception as error:  # every failure is a finding, reported at the end
            with self.lock:
                self.errors.append(f"{type(error).__name__}: {error}"[:500])
            return None
        finally:
            with self.lock:
                self.slowest = max(self.slowest, time.perf_counter() - started)
                self.calls += 1

    def forever(self, step: Callable[[random.Random], None], seed: int) -> threading.Thread:
        rng = random.Random(seed)

        def run() -> None:
            while not self.stop.is_set():
                step(rng)

        return threading.Thread(target=run, daemon=True)


def run_soak(store: Any) -> Load:
    """Put the whole load on `store` for SOAK_SECONDS; what happened."""
    load = Load()
    queries = clustered(200, seed=12)

    def search(rng: random.Random) -> None:
        deleted_before = load.deleted_now()  # a search may not return any of these
        repo = rng.choice([None, None, "repo-1"])
        found = load.timed(
            lambda: store.find_similar(
                queries[rng.randrange(200)], repo=repo, limit=10, threshold=-1.0, days_back=365
            )
        )
        for match in found or []:
            if match.record.task_id in deleted_before:
                load.errors.append(f"search returned deleted row {match.record.task_id}")

    def advise(rng: random.Random) -> None:
        deleted_before = load.deleted_now()
        found = load.timed(
            lambda: similar_outcomes(
                store, SimilarityQuery(queries[rng.randrange(200)], None, 100, 365, 0.0), NOW
            )
        )
        for neighbours in (found or {}).values():
            for neighbour in neighbours:
                if neighbour.task_id in deleted_before:
                    load.errors.append(f"advice used deleted row {neighbour.task_id}")

    def write(rng: random.Random) -> None:
        numbers = rng.sample(WRITTEN, 50)  # overlaps the other writer and earlier batches
        batch = [written_row(n) for n in numbers]
        result = load.timed(lambda: store.add_many(batch))
        if result is not None:
            if result.rejected:
                load.errors.append(f"rejected: {result.rejected[:2]}")
            with load.lock:
                load.acknowledged.update(task_uuid(n) for n in numbers)

    def feedback(rng: random.Random) -> None:
        items = [
            {"task_id": task_uuid(rng.randrange(OLD, PRELOADED)), "rating": rng.randint(1, 5)}
            for _ in range(20)
        ]
        load.timed(lambda: store.record_feedback_many(items))
        time.sleep(0.05)

    deletable = list(range(OLD, PRELOADED))
    random.Random(13).shuffle(deletable)
    prune_days = iter(range(44, 39, -1))

    def delete(rng: random.Random) -> None:
        if rng.random() < 0.2 and (days := next(prune_days, None)) is not None:
            cutoff = NOW - timedelta(days=days)
            if load.timed(lambda: store.delete_older_than(cutoff)) is not None:
                with load.lock:
                    load.deleted.update(task_uuid(n) for n in range(OLD) if n % 5 > days - 40)
        else:
            chosen = [deletable.pop() for _ in range(30)]
            if load.timed(lambda: store.delete([task_uuid(n) for n in chosen])) is not None:
                with load.lock:
                    load.deleted.update(task_uuid(n) for n in chosen)
        time.sleep(0.5)

    threads = [load.forever(search, seed) for seed in range(SEARCHERS - 2)]
    threads += [load.forever(advise, 100 + seed) for seed in range(2)]
    threads += [load.forever(write, 200 + seed) for seed in range(2)]
    threads += [load.forever(feedback, 300), load.forever(delete, 400)]
    for thread in threads:
        thread.start()
    time.sleep(SOAK_SECONDS)
    load.stop.set()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a thread of the load hung"
    return load


def same_answers(found: list, exact: list) -> bool:
    """The same rows in the same order, with the same scores (float32 sums may differ)."""
    return [m.record.task_id for m in found] == [m.record.task_id for m in exact] and all(
        a.similarity == pytest.approx(b.similarity, abs=1e-5)
        for a, b in zip(found, exact, strict=True)
    )


def check_afterwards(store: Any, load: Load) -> None:
    """Every acknowledged row is there, deleted rows are not, searches equal exact ones."""
    assert load.errors == [], load.errors[:5]
    assert load.slowest <= SLOWEST_CALL_S, f"a call took {load.slowest:.1f} s"
    assert store.existing_ids(load.acknowledged) == load.acknowledged
    assert store.existing_ids(load.deleted) == set()
    for query_number, query in enumerate(clustered(15, seed=14)):
        for repo in (None, "repo-2"):
            arguments = {"repo": repo, "limit": 10, "threshold": -1.0, "days_back": 365}
            found = store.find_similar(query, **arguments)
            exact = store.find_similar(query, exact=True, **arguments)
            assert same_answers(found, exact), (query_number, repo)


def soak(url: str) -> None:
    config = LearningConfig(ann_min_rows=500, ann_probes=65536, pgvector_ef_search=1000)
    store = create_repository(url, config=config)
    try:
        store.add_many([preloaded_row(n) for n in range(PRELOADED)])
        store.find_similar(VECTORS[0])  # the index is active before the load starts
        load = run_soak(store)
        check_afterwards(store, load)
        assert load.calls > 200, "the load hardly ran"
        assert len(load.deleted) > 100, f"only {len(load.deleted)} rows were deleted"
    finally:
        store.close()
    reopened = create_repository(url, config=config)  # and after a restart
    try:
        check_afterwards(reopened, load)
    finally:
        reopened.close()


@pytest.mark.slow
def test_a_duckdb_file_under_a_live_load(tmp_path: Path) -> None:
    soak(f"duckdb:///{tmp_path / 'live.db'}")


@pytest.mark.slow
@pytest.mark.postgres
def test_postgresql_with_pgvector_under_a_live_load(pgvector_server) -> None:
    soak(pgvector_server.create_database("learning_store_live_load"))
