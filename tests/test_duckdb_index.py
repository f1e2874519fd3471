"""DuckDB's vector index stays in step with the table, survives restarts, and finds the best."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest
import sqlalchemy as sa
from factories import NOW, row, task_uuid, unit_vector

from learning_store import InMemoryExecutionRepository, LearningConfig, create_repository
from learning_store.advice.recommend import similar_outcomes
from learning_store.models import ExecutionRecord
from learning_store.repository.base import SimilarityQuery
from learning_store.repository.duckdb_vectors import indexable_rows
from learning_store.schema import executions
from learning_store.vector_index import files
from learning_store.vector_index import index as index_module
from learning_store.vector_index import selection as selection_module
from learning_store.vector_index.index import exact_scores
from learning_store.vector_index.rows import IndexedRows, inverse_lengths


def ids(matches) -> list:
    return [m.record.task_id for m in matches]


def test_writes_after_a_search_are_found_without_a_reload(tmp_path: Path, monkeypatch) -> None:
    store = create_repository(f"duckdb:///{tmp_path / 'i.db'}")
    store.add_many([row(n, embedding=unit_vector(n)) for n in range(20)])
    assert ids(store.find_similar(unit_vector(3), threshold=0.99)) == [task_uuid(3)]
    loads = []
    import learning_store.repository.index_keeper as keeper_module

    monkeypatch.setattr(
        keeper_module, "indexable_rows", lambda *a: loads.append(1) or indexable_rows(*a)
    )
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
    vectors = np.array([[1.0] * 384, [0.0] * 384, [3e38] * 384], dtype=np.float32)
    query = np.full(384, 1 / np.sqrt(384), dtype=np.float32)
    scores = exact_scores(vectors, inverse_lengths(vectors), query)
    assert scores[0] == pytest.approx(1.0) and scores[1:].tolist() == [0.0, 0.0]


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


def test_writes_after_a_load_grow_the_rows_by_an_eighth_not_double() -> None:
    """Doubling a loaded million-row index stalled the next write for seconds."""
    batch = indexable_batch(16_000)
    rows = IndexedRows()
    rows.append(batch)
    columns, labels = rows.snapshot(len(rows))
    restored = IndexedRows.restored(columns, labels)  # as a load leaves it: no spare room
    restored.append(batch.take(np.arange(1000)))
    grown = restored.columns["timestamps"]
    assert len(grown) == 17_000 + 17_000 // 8
    restored.append(batch.take(np.arange(1000, 2000)))  # fits in that eighth
    assert restored.columns["timestamps"] is grown and len(restored) == 18_000


def indexable_batch(count: int):
    from learning_store.repository.duckdb_vectors import row_batch_of_records

    return row_batch_of_records(
        [
            ExecutionRecord.model_validate(row(n, embedding=unit_vector(n % 50)))
            for n in range(count)
        ]
    )


def clustered_rows(count: int, seed: int = 0) -> np.ndarray:
    """Noisy copies of 50 directions, as unit float32 rows."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, 384))
    picked = centres[rng.integers(0, 50, count)] + rng.normal(scale=0.3, size=(count, 384))
    return (picked / np.linalg.norm(picked, axis=1, keepdims=True)).astype(np.float32)


def ann_store(url: str, **settings):
    return create_repository(url, config=LearningConfig(ann_min_rows=500, **settings))


def test_the_ann_index_finds_nearly_all_of_the_true_best(tmp_path: Path) -> None:
    """Default probes on clustered vectors; the scores returned are always exact."""
    vectors = clustered_rows(4000)
    store = ann_store(f"duckdb:///{tmp_path / 'ann.db'}")
    store.add_many([row(n, embedding=vectors[n]) for n in range(4000)])
    status = store.build_vector_index()
    assert status is not None and status.ann_rows == 4000 and status.pending_rows == 0
    recalls = []
    for query in clustered_rows(30, seed=1):
        found = store.find_similar(query, limit=10, threshold=-1.0)
        exact = store.find_similar(query, limit=10, threshold=-1.0, exact=True)
        assert len(exact) == 10
        for match in found:  # exact scores, whichever rows were found
            assert match.similarity == pytest.approx(
                float(vectors[match.record.task_id.int - 1] @ query), abs=1e-6
            )
        recalls.append(len(set(ids(found)) & set(ids(exact))) / 10)
    assert np.mean(recalls) >= 0.9
    store.close()


def counting_table_reads(monkeypatch) -> list:
    """Record each read of stored vectors by the index: () for all of them, else (newest,)."""
    import learning_store.repository.index_keeper as keeper_module

    reads = []
    monkeypatch.setattr(
        keeper_module, "indexable_rows", lambda *a: reads.append(a[1:]) or indexable_rows(*a)
    )
    return reads


WRITE_AND_CRASH = """
import os, sys
import numpy as np
sys.path.insert(0, {tests!r})
from factories import row
from learning_store import LearningConfig, create_repository
vectors = np.load({vectors!r})
store = create_repository({url!r}, config=LearningConfig(ann_min_rows=500))
store.add_many([row(n, embedding=vectors[n]) for n in range({start}, {stop})])
os._exit(0)  # killed: nothing closed, nothing saved
"""


def test_the_saved_index_is_used_by_the_next_process_and_caught_up(
    tmp_path: Path, monkeypatch
) -> None:
    """Saved by whoever wrote last; a writer that died leaves rows the next one catches up."""
    url = f"duckdb:///{tmp_path / 'saved.db'}"
    folder = tmp_path / "saved.db.vectors"
    vectors = clustered_rows(3500)
    store = ann_store(url)
    store.add_many([row(n, embedding=vectors[n]) for n in range(2000)])
    store.build_vector_index()
    store.close()
    assert files.saved_state(folder).rows == 2000
    plain = create_repository(url)  # it only writes, and keeps the index in step
    plain.add_many([row(n, embedding=vectors[n]) for n in range(2000, 3000)])
    plain.close()
    assert files.saved_state(folder).rows == 3000
    np.save(tmp_path / "vectors.npy", vectors)
    script = WRITE_AND_CRASH.format(
        tests=str(Path(__file__).parent),
        vectors=str(tmp_path / "vectors.npy"),
        url=url,
        start=3000,
        stop=3500,
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    assert files.saved_state(folder).rows == 3000  # the dead writer saved nothing
    reads = counting_table_reads(monkeypatch)
    store = ann_store(url, ann_probes=65536)
    assert ids(store.find_similar(vectors[3200], threshold=0.999)) == [task_uuid(3200)]
    assert ids(store.find_similar(vectors[10], threshold=0.999)) == [task_uuid(10)]
    assert len(reads) == 1 and reads[0] != ()  # only the rows uploaded after the save
    status = store.build_vector_index()
    assert status is not None and (status.rows, status.ann_rows) == (3500, 3500)
    store.delete([task_uuid(10)])
    assert store.find_similar(vectors[10], threshold=0.999) == []
    store.close()
    assert files.saved_state(folder).table.generation == 1  # saved with the delete
    reads.clear()
    store = ann_store(url)
    assert store.find_similar(vectors[10], threshold=0.999) == []
    assert ids(store.find_similar(vectors[11], threshold=0.999)) == [task_uuid(11)]
    assert reads == []  # loaded, deleted row and all, from the saved files
    store.close()


def outcomes_of(store, embedding, *, repo, limit, days_back, now) -> dict:
    """Each tier's neighbours as routing advice reads them from this store."""
    return similar_outcomes(store, SimilarityQuery(embedding, repo, limit, days_back, 0.0), now)


def varied_outcomes(count: int) -> list[dict]:
    """Rows whose outcomes differ: tiers, types, failures, unrated, estimate-only costs."""
    vectors = clustered_rows(count, seed=5)
    return [
        row(
            n,
            embedding=vectors[n],
            timestamp=NOW - timedelta(hours=n % 500, microseconds=n),
            model_tier=("small", "medium", "large")[n % 3],
            task_type=("fix", "docs")[n % 2],
            success=n % 4 != 0,
            quality_score=None if n % 5 == 0 else float(n % 100),
            cost_estimate=n / 7000,
            actual_cost=None if n % 3 == 1 else n / 9000,
            duration_seconds=1 + n % 11,
            complexity_score=n % 101,
        )
        for n in range(count)
    ]


def test_advice_reads_the_tables_outcomes_from_a_written_loaded_and_saved_index(
    tmp_path: Path,
) -> None:
    """Neighbours' outcomes, kept by the index, equal the fake's after each way rows arrive."""
    url = f"duckdb:///{tmp_path / 'advice.db'}"
    rows = varied_outcomes(1500)
    reference = InMemoryExecutionRepository()
    reference.add_many(rows)
    store = ann_store(url)
    assert store.find_similar(rows[0]["embedding"]) == []  # the index is loaded: writes add
    store.add_many([ExecutionRecord.model_validate(values) for values in rows[:300]])
    store.add_many(rows[300:600])  # records and plain rows take different write paths
    store.build_vector_index()
    store.close()  # saved, then restored below
    plain = create_repository(url)
    plain.add_many(rows[600:])  # behind its back: caught up from the table
    plain.close()
    store = ann_store(url, ann_probes=65536)
    for query in clustered_rows(5, seed=6):
        wanted = {"repo": None, "limit": 100, "days_back": 90, "now": NOW}
        ours = outcomes_of(store, query, **wanted)
        expected = outcomes_of(reference, query, **wanted)
        assert sorted(ours) == sorted(expected) == ["large", "medium", "small"]
        for tier, neighbours in expected.items():
            assert len(ours[tier]) == len(neighbours) == 100
            for got, want in zip(ours[tier], neighbours, strict=True):
                assert got.similarity == pytest.approx(want.similarity, abs=1e-6)
                assert got.age_days == pytest.approx(want.age_days, rel=1e-12)
                same = {"similarity": got.similarity, "age_days": got.age_days}
                assert got == dataclasses.replace(want, **same)
    store.close()


def test_building_the_index_also_checkpoints_the_write_ahead_log(tmp_path: Path) -> None:
    """Rows left in DuckDB's WAL are read uncompressed, slowing every search's winner read."""
    store = ann_store(f"duckdb:///{tmp_path / 'wal.db'}")
    store.add_many([row(n, embedding=unit_vector(n)) for n in range(600)])
    wal = tmp_path / "wal.db.wal"
    assert wal.exists() and wal.stat().st_size > 0
    store.build_vector_index()
    assert not wal.exists() or wal.stat().st_size == 0
    store.close()


@pytest.mark.parametrize("where", ["file", "memory"])
def test_building_the_index_reopens_a_file_and_keeps_an_in_memory_database(
    tmp_path: Path, where: str
) -> None:
    """A file is reopened after the build (read faster so); an in-memory database must not be."""
    url = f"duckdb:///{tmp_path / 'reopen.db'}" if where == "file" else "duckdb:///:memory:"
    store = ann_store(url)
    store.add_many([row(n, embedding=unit_vector(n)) for n in range(600)])
    with store.engine.connect() as connection:
        before = connection.connection.driver_connection
    store.build_vector_index()
    try:
        before.execute("SELECT 1")
    except duckdb.ConnectionException:  # closed: the pool opened the file again
        reopened = True
    else:
        reopened = False
    assert reopened == (where == "file")
    assert store.count() == 600
    assert ids(store.find_similar(unit_vector(7), threshold=0.99)) == [task_uuid(7)]
    store.add(row(700, embedding=unit_vector(700)))
    assert ids(store.find_similar(unit_vector(700), threshold=0.99)) == [task_uuid(700)]
    store.close()


def rare_repo_rows(vectors: np.ndarray) -> list[dict]:
    """A row per vector; every 50th (2%) in repo "rare", the rest in "common"."""
    return [
        row(n, embedding=vector, repo="rare" if n % 50 == 0 else "common")
        for n, vector in enumerate(vectors)
    ]


@pytest.mark.parametrize("exact_below", [index_module.EXACT_BELOW, 10])
def test_selective_filters_keep_their_recall(tmp_path: Path, monkeypatch, exact_below) -> None:
    """A repo holding 2% of the rows: scored exactly, or by a scan widened to find its best."""
    monkeypatch.setattr(index_module, "EXACT_BELOW", exact_below)
    vectors = clustered_rows(5000)
    store = ann_store(f"duckdb:///{tmp_path / 'filtered.db'}")
    store.add_many(rare_repo_rows(vectors[:5000]))
    store.build_vector_index()
    for query in clustered_rows(10, seed=2):
        found = store.find_similar(query, repo="rare", limit=10, threshold=-1.0)
        exact = store.find_similar(query, repo="rare", limit=10, threshold=-1.0, exact=True)
        assert ids(found) == ids(exact)
    store.close()


def test_a_time_filter_never_returns_rows_older_than_its_floor(tmp_path: Path, monkeypatch) -> None:
    """The cached bitmaps round the time floor down; the rows in between are dropped."""
    monkeypatch.setattr(selection_module, "FLOOR_STEP_US", 10**16)  # ~300 years: every row
    vectors = clustered_rows(1000)
    store = ann_store(f"duckdb:///{tmp_path / 'floor.db'}")
    old = NOW - timedelta(days=8)
    store.add_many(
        [row(n, embedding=vectors[n], timestamp=old if n % 2 else NOW) for n in range(1000)]
    )
    store.build_vector_index()
    for query in clustered_rows(10, seed=2):
        found = store.find_similar(query, days_back=7, limit=10, threshold=-1.0)
        assert found and all(item.record.timestamp > old for item in found)
    store.close()


def test_a_filter_sees_the_rows_the_ann_index_took_in_after_its_last_search(
    tmp_path: Path,
) -> None:
    """A filter's cached bitmap covers the indexed rows of its time; the index grows past it."""
    vectors = clustered_rows(1001)
    store = ann_store(f"duckdb:///{tmp_path / 'grown.db'}")
    store.add_many(rare_repo_rows(vectors[:1000]))
    store.build_vector_index()
    query = vectors[1000]
    before = ids(store.find_similar(query, repo="rare", limit=3, threshold=-1.0))
    assert task_uuid(1000) not in before
    store.add(row(1000, embedding=query, repo="rare"))
    status = store.build_vector_index()
    assert status is not None and status.ann_rows == 1001 and status.pending_rows == 0
    assert ids(store.find_similar(query, repo="rare", limit=3, threshold=-1.0))[0] == task_uuid(
        1000
    )
    store.close()


def test_two_stores_on_one_file_never_share_the_saved_vectors(tmp_path: Path) -> None:
    """Only the first store to search claims the folder; the other keeps its copy in memory.

    Shared, the second store's catch-up load would cut the first one's appended vectors off
    the file.
    """
    url = f"duckdb:///{tmp_path / 'shared.db'}"
    vectors = clustered_rows(1600)
    first, second = ann_store(url, ann_probes=65536), ann_store(url, ann_probes=65536)
    first.add_many([row(n, embedding=vectors[n]) for n in range(1000)])
    first.build_vector_index()  # saved
    assert ids(second.find_similar(vectors[3], limit=1, threshold=0.999)) == [task_uuid(3)]
    first.add_many([row(n, embedding=vectors[n]) for n in range(1000, 1300)])
    first.build_vector_index()  # appends 300 vectors
    second.find_similar(vectors[3], limit=1, threshold=0.999)  # catches up
    second.add_many([row(n, embedding=vectors[n]) for n in range(1300, 1600)])
    for store in (first, second):
        store.build_vector_index()
        for number in (5, 1200, 1500):
            found = store.find_similar(vectors[number], limit=1, threshold=0.999)
            assert ids(found) == [task_uuid(number)]
            assert found[0].similarity == pytest.approx(1.0, abs=1e-6)
    first.close()
    second.close()
