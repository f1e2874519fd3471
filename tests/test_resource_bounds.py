"""Memory stays bounded: a million-row generator, and similarity search on a growing table."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from factories import row

from learning_store import EMBEDDING_DIMENSION, LearningConfig, create_repository

MILLION = textwrap.dedent(
    """
    import sys, tracemalloc, uuid
    from learning_store import LearningConfig, create_repository
    store = create_repository({url!r}, config=LearningConfig(batch_size=1000))
    base = {{"task_type": "t", "task_description": "d", "repo": "r", "model_tier": "small",
             "pool_type": "p", "routing_confidence": 0.5, "success": True, "duration_seconds": 1.0}}
    def rows(count):
        for number in range(count):
            yield {{**base, "task_id": uuid.UUID(int=number + 1)}}
    tracemalloc.start()
    start, _ = tracemalloc.get_traced_memory()
    result = store.add_many(rows(1_000_000))
    _, peak = tracemalloc.get_traced_memory()
    print(result.stored, store.count(), peak - start)
    """
)


@pytest.mark.slow
def test_a_million_row_generator_is_written_with_bounded_memory(tmp_path: Path) -> None:
    """Python heap growth (tracemalloc, in a fresh process) stays far below 300 MB.

    DuckDB's own page cache and indexes hold the data natively; that is the database's
    memory, not add_many's, and it is not counted here.
    """
    script = MILLION.format(url=f"duckdb:///{tmp_path / 'million.db'}")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    stored, count, peak_growth = map(int, done.stdout.split())
    assert stored == count == 1_000_000
    assert peak_growth < 300 * 2**20, f"peak Python memory growth {peak_growth / 2**20:.0f} MB"


def vectors(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, EMBEDDING_DIMENSION)).astype(np.float32)


def fill(store, count: int, offset: int = 0) -> None:
    matrix = vectors(count, offset)
    store.add_many(row(offset + n, embedding=matrix[n]) for n in range(count))


def traced_peak(work) -> int:
    tracemalloc.start()
    start, _ = tracemalloc.get_traced_memory()
    try:
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start


def test_duckdb_search_memory_is_the_vectors_and_no_more(tmp_path: Path) -> None:
    store = create_repository(
        f"duckdb:///{tmp_path / 's.db'}",
        config=LearningConfig(batch_size=1000, ann_min_rows=1_000_000),  # all searched exactly
    )
    fill(store, 20_000)
    query = vectors(1, 99)[0]
    vector_bytes = 20_000 * EMBEDDING_DIMENSION * 4
    first = traced_peak(lambda: store.find_similar(query, threshold=-1.0))  # loads the index
    # The vectors with their spare rows (so writes after a search append instead of copying
    # every vector: 2.75 s at a million rows), plus ~700 bytes a row of ids and facts:
    # never a second copy of the vectors.
    assert first < (1 + 1 / 8) * vector_bytes + 20_000 * 700
    later = traced_peak(lambda: store.find_similar(query, threshold=-1.0))
    assert later < 0.05 * vector_bytes  # a search allocates scores, not another copy
    fill(store, 20_000, offset=20_000)  # the table doubles; the index grows with the vectors
    again = traced_peak(lambda: store.find_similar(query, threshold=-1.0))
    assert again < 0.05 * 2 * vector_bytes
    store.close()


@pytest.mark.postgres
def test_postgresql_search_memory_does_not_grow_with_the_table(postgres_server) -> None:
    store = create_repository(postgres_server.create_database("memory_bound"))
    query = vectors(1, 99)[0]
    fill(store, 5_000)
    small = traced_peak(lambda: store.find_similar(query, threshold=-1.0))
    fill(store, 10_000, offset=5_000)
    large = traced_peak(lambda: store.find_similar(query, threshold=-1.0))
    assert large < 1.3 * small  # three times the rows, about the same memory: fixed-size chunks
    store.close()


def test_parquet_ingest_reads_a_bounded_window_of_a_big_row_group(tmp_path: Path) -> None:
    """pyarrow's defaults read a whole file ahead (1,085 MB for a 1.1 GB file); ours do not."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from learning_store.files.readers import read_batches

    rows = 60_000  # one row group of ~95 MB of float32 vectors
    matrix = vectors(rows, 1)
    table = pa.table(
        {
            "task_id": pa.array([str(n) for n in range(rows)]),
            "embedding": pa.FixedSizeListArray.from_arrays(
                pa.array(matrix.reshape(-1)), EMBEDDING_DIMENSION
            ),
        }
    )
    path = tmp_path / "one-group.parquet"
    pq.write_table(table, path, row_group_size=rows, compression="zstd")
    del table, matrix
    start = pa.total_allocated_bytes()
    peak = seen = 0
    for batch in read_batches(path, 1_000):
        seen += batch.num_rows
        peak = max(peak, pa.total_allocated_bytes() - start)
    assert seen == rows
    assert peak < 40 * 2**20, f"{peak / 2**20:.0f} MB of Arrow memory held at once"
