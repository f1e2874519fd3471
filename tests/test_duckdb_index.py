"""DuckDB's in-process vector index stays in step with the table, and racing writers are safe."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from factories import NOW, row, task_uuid, unit_vector

from learning_store import create_repository
from learning_store.repository.sql_similarity import load_index
from learning_store.repository.vector_index import RowFacts, VectorIndex
from learning_store.schema import executions


def ids(matches) -> list:
    return [m.record.task_id for m in matches]


def test_writes_after_a_search_are_found_without_a_reload(tmp_path: Path, monkeypatch) -> None:
    store = create_repository(f"duckdb:///{tmp_path / 'i.db'}")
    store.add_many([row(n, embedding=unit_vector(n)) for n in range(20)])
    assert ids(store.find_similar(unit_vector(3), threshold=0.99)) == [task_uuid(3)]
    loads = []
    import learning_store.repository.index_keeper as sql_module

    monkeypatch.setattr(sql_module, "load_index", lambda c: loads.append(1) or load_index(c))
    store.add_many([row(100 + n, embedding=unit_vector(100 + n)) for n in range(10)])  # Arrow path
    store.add(row(200, embedding=unit_vector(200)))  # single-row path
    store.add(row(201))  # no embedding
    assert ids(store.find_similar(unit_vector(105), threshold=0.99)) == [task_uuid(105)]
    assert ids(store.find_similar(unit_vector(200), threshold=0.99)) == [task_uuid(200)]
    assert loads == []  # kept in step, not reloaded
    store.close()


def test_deletes_and_other_connections_trigger_a_rebuild(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'j.db'}"
    store = create_repository(url)
    store.add_many(
        [row(n, embedding=unit_vector(n), timestamp=NOW - timedelta(days=n)) for n in range(10)]
    )
    assert ids(store.find_similar(unit_vector(8), threshold=0.99)) == [task_uuid(8)]
    store.delete_older_than(NOW - timedelta(days=7, hours=12))
    assert store.find_similar(unit_vector(8), threshold=0.99) == []
    other = create_repository(url)  # a second store on the same file, in this process
    other.add(row(50, embedding=unit_vector(50)))
    assert ids(store.find_similar(unit_vector(50), threshold=0.99)) == [task_uuid(50)]
    other.close()
    store.close()


def test_rows_deleted_or_written_behind_the_store_back_are_never_served(tmp_path: Path) -> None:
    """Another store deletes a row the index still holds; raw SQL adds one it never saw."""
    url = f"duckdb:///{tmp_path / 'behind.db'}"
    store = create_repository(url)
    store.add_many([row(n, embedding=unit_vector(n)) for n in range(10)])
    assert ids(store.find_similar(unit_vector(4), threshold=0.99)) == [task_uuid(4)]
    other = create_repository(url)
    assert other.delete([task_uuid(4)]) == 1
    assert store.find_similar(unit_vector(4), threshold=0.99) == []
    with store.engine.begin() as connection:  # not through any repository
        connection.execute(
            sa.update(executions)
            .where(executions.c.task_id == task_uuid(5))
            .values(embedding=unit_vector(77), uploaded_at=NOW + timedelta(days=1))
        )
    assert ids(store.find_similar(unit_vector(77), threshold=0.99)) == [task_uuid(5)]
    assert store.find_similar(unit_vector(5), threshold=0.99) == []
    other.close()
    store.close()


def test_vectors_without_a_direction_score_zero_never_nan() -> None:
    """Zero, and so large that the dot product overflows float32: like the other backends."""
    index = VectorIndex()
    vectors = np.array([[1.0] * 384, [0.0] * 384, [3e38] * 384], dtype=np.float32)
    facts = RowFacts(
        repos=["r"] * 3,
        timestamps_us=np.zeros(3, np.int64),
        tiers=["t"] * 3,
        task_types=["k"] * 3,
        success=[True] * 3,
        cost=[0.0] * 3,
        duration=[1.0] * 3,
        quality=[None] * 3,
        complexity=[50.0] * 3,
    )
    index.add([task_uuid(n) for n in range(3)], vectors, facts)
    query = np.full(384, 1 / np.sqrt(384), dtype=np.float32)
    found = index.search(query, repo=None, since=NOW - timedelta(days=1e5), limit=5, threshold=-1)
    assert [task_id for task_id, _ in found] == [task_uuid(0), task_uuid(2), task_uuid(1)]
    assert found[0][1] == pytest.approx(1.0) and [score for _, score in found[1:]] == [0.0, 0.0]
    assert np.array_equal(index.vector(task_uuid(2)), vectors[2])  # kept exactly as stored


def test_index_filters_by_repo_and_age(tmp_path: Path) -> None:
    store = create_repository(f"duckdb:///{tmp_path / 'k.db'}")
    vector = unit_vector(1)
    store.add_many(
        [
            row(1, repo="a", embedding=vector),
            row(2, repo="b", embedding=vector),
            row(3, repo="a", embedding=vector, timestamp=NOW - timedelta(days=100)),
        ]
    )
    assert ids(store.find_similar(vector, repo="a")) == [task_uuid(1)]
    assert ids(store.find_similar(vector, repo="nope")) == []
    assert ids(store.find_similar(vector, days_back=365)) == [
        task_uuid(3),
        task_uuid(2),
        task_uuid(1),
    ]
    store.close()


def test_two_stores_racing_on_one_file_store_each_row_once(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'race.db'}"
    stores = [create_repository(url) for _ in range(2)]
    rows = [row(n, embedding=unit_vector(n % 7)) for n in range(3000)]
    results = []

    def write(store, part) -> None:
        results.append(store.add_many(part))

    threads = [
        threading.Thread(target=write, args=(store, rows[k * 500 :] + rows[: k * 500]))
        for k, store in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.stored for r in results) == 3000
    assert sum(r.duplicates for r in results) == 3000
    assert stores[0].count() == 3000
    vector = np.asarray(unit_vector(3))
    assert len(stores[1].find_similar(vector, limit=1000, threshold=0.99)) == len(range(3, 3000, 7))
    for store in stores:
        store.close()


def facts_for(count: int) -> RowFacts:
    return RowFacts(
        repos=["r"] * count,
        timestamps_us=np.zeros(count, np.int64),
        tiers=["t"] * count,
        task_types=["k"] * count,
        success=[True] * count,
        cost=[0.0] * count,
        duration=[1.0] * count,
        quality=[None] * count,
        complexity=[50.0] * count,
    )


def test_writes_after_a_load_append_without_copying_the_vectors() -> None:
    """Doubling a loaded million-row index stalled the next write for 2.75 s."""
    index = VectorIndex()
    loaded = 16_000
    index.add(
        [task_uuid(n) for n in range(loaded)], np.ones((loaded, 384), np.float32), facts_for(loaded)
    )
    matrix = index._vectors
    for chunk in range(2):  # two more write chunks, 2,000 rows in all (1/8 of the load)
        ids = [task_uuid(loaded + chunk * 1000 + n) for n in range(1000)]
        index.add(ids, np.ones((1000, 384), np.float32), facts_for(1000))
    assert index._vectors is matrix
    assert len(index) == loaded + 2000
