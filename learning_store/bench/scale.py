"""`learning-store bench --scale N`: similarity search on a store of N rows, side by side.

Not part of CI: a million rows take minutes to build. For each dataset (clustered
embeddings that look like real ones, and random unit vectors, the hard case) and each
store, one run follows a user's path: another process writes the rows (as Arrow batches,
`add_arrow`) and closes, which finishes and saves the index; a fresh process times its
first searches; then p50/p95 search latency with and without filters, and while 1,000
rows a second are written, with recall@10 against an exact scan of the same vectors; the
recall a slower setting (more ANN probes, a wider pgvector search) buys; and on DuckDB the
searches during a rebuild of the index, in turns with a bare numpy scan. No search is
warmed up or left out.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import sqlalchemy as sa

from learning_store.bench.scale_data import (
    DAYS,
    REPOS,
    batches_of,
    cluster_centres,
    clustered,
    clustered_like,
    exact_top10,
    random_vectors,
    rows_batch,
    rss_mb,
)
from learning_store.config import LearningConfig
from learning_store.repository import ExecutionRepository, create_repository
from learning_store.repository.pgvector_search import DROP_INDEX_SQL

QUERIES = 100
"""Queries timed per measurement (each with and without a filter)."""
SEARCH_BUDGET_S = 60.0
MIN_QUERIES = 5
"""A measurement stops after SEARCH_BUDGET_S once it has MIN_QUERIES queries."""
EVERYTHING = 100 * 365
"""days_back that keeps every row (find_similar's default keeps 90 days)."""
EXACT_QUERIES = 10
"""`exact=True` searches timed (each reads every vector: seconds at a million rows)."""
SURER = LearningConfig(ann_probes=256, pgvector_ef_search=400)
"""The setting that trades speed for recall, timed beside the defaults."""


@dataclass(frozen=True)
class Queries:
    """The queries one dataset is searched with."""

    timed: np.ndarray


@dataclass
class ScaleResult:
    """One store on one dataset."""

    store: str
    dataset: str
    rows: int
    numbers: dict[str, float] = field(default_factory=dict)


def measure_store(
    url: str,
    store_name: str,
    dataset: str,
    vectors: np.ndarray,
    queries: Queries,
    progress: Callable[[str], None],
) -> ScaleResult:
    """The user's path on the store at `url`: filled by one process, searched by others.

    Nothing is warmed up before a timed search: a fresh process's first searches are
    reported as they come, and every series starts cold from whatever ran before it.
    """
    rows = len(vectors)
    result = ScaleResult(store_name, dataset, rows)
    numbers = result.numbers
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="learning-store-scale-vectors-") as folder:
        saved = Path(folder) / "vectors.npy"
        np.save(saved, vectors)
        if store_name == "postgresql":  # bulk-loaded without it, then one CREATE INDEX
            _drop_pgvector_index(url)
        progress(f"{store_name}/{dataset}: another process writes {rows:,} rows and closes")
        filled = _child("fill", url, str(saved), now.isoformat())
        numbers["build_rows_per_s"] = rows / filled["write_s"]
        numbers["index_ready_after_fill_s"] = filled["close_s"]
        if store_name == "postgresql":
            progress(f"{store_name}/{dataset}: building the pgvector HNSW index")
            numbers["index_build_s"] = _seconds(lambda: _build_index(url))
        progress(f"{store_name}/{dataset}: the exact answers, for recall")
        searches = _filtered_searches(vectors, queries.timed, now)
        everything, truths = searches["unfiltered"]
        progress(f"{store_name}/{dataset}: a fresh process's first {FRESH_SEARCHES} searches")
        fresh = _child("fresh", url, str(saved), json.dumps(FRESH_SEARCHES))
        numbers["fresh_first_search_s"] = fresh["first_s"]
        numbers[f"fresh_first_{FRESH_SEARCHES}_p50_ms"] = fresh["p50_ms"]
        numbers["fresh_recall_at_10"] = fresh["recall"]
        numbers["fresh_rss_mb"] = fresh["rss_mb"]
    store = create_repository(url, config=LearningConfig(batch_size=1000))
    try:
        for name, (arguments, answers) in searches.items():  # `truths` stays unfiltered's
            progress(f"{store_name}/{dataset}: {QUERIES} searches, {name}")
            _time_searches(store, queries.timed, arguments, answers, name, numbers)
        progress(f"{store_name}/{dataset}: searches while 1,000 rows/s are written")
        _time_under_writes(store, vectors, queries.timed, everything, truths, numbers, now)
    finally:
        store.close()
    progress(f"{store_name}/{dataset}: the slower, surer setting, and exact searches")
    surer = create_repository(url, config=SURER)
    try:
        _time_searches(surer, queries.timed, everything, truths, "surer", numbers)
        _time_searches(
            surer,
            queries.timed[:EXACT_QUERIES],
            {**everything, "exact": True},
            truths[:EXACT_QUERIES],
            "exact",
            numbers,
            least=1,  # on PostgreSQL every vector streams to Python: ~a minute at a million rows
        )
    finally:
        surer.close()
    if store_name == "duckdb":
        progress(f"{store_name}/{dataset}: searches during a rebuild, against numpy")
        _time_during_rebuild(url, vectors, queries.timed, numbers)
    return result


FRESH_SEARCHES = 20
"""Searches a fresh process times from its first one (no warm-up)."""
WRITES_PER_S = 1_000
"""Rows a second written while searches are timed (`_time_under_writes`)."""


def _child(command: str, url: str, *arguments: str) -> dict[str, float]:
    """Run one of `_child_main`'s commands in a new process; the numbers it printed."""
    finished = subprocess.run(
        [sys.executable, "-m", "learning_store.bench.scale", command, url, *arguments],
        capture_output=True,
        text=True,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"bench child '{command}' failed: {finished.stderr[-2000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def _child_main(command: str, url: str, saved: str, argument: str) -> dict[str, float]:
    """A new process's side: `fill` the store, or time a `fresh` process's first searches."""
    vectors = np.load(saved, mmap_mode="r")
    if command == "fill":
        store = create_repository(url, config=LearningConfig(batch_size=1000))
        started = time.perf_counter()
        store.add_arrow(batches_of(np.asarray(vectors), 0, datetime.fromisoformat(argument)))
        written = time.perf_counter()
        store.close()  # the index is finished and saved here: the next process loads it
        return {"write_s": written - started, "close_s": time.perf_counter() - written}
    count = json.loads(argument)
    queries = clustered_like(np.asarray(vectors), count)
    store = create_repository(url)
    latencies, recalls = [], []
    for query in queries:
        started = time.perf_counter()
        found = store.find_similar(query, limit=10, threshold=-1.0, days_back=EVERYTHING)
        latencies.append(time.perf_counter() - started)
        truth = set(np.argpartition(-(vectors @ query), 10)[:10].tolist())
        recalls.append(len({m.record.task_id.int - 1 for m in found} & truth) / 10)
    rss = rss_mb()
    store.close()
    return {
        "first_s": latencies[0],
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "recall": float(np.mean(recalls)),
        "rss_mb": rss,
    }


def _time_under_writes(
    store: ExecutionRepository,
    vectors: np.ndarray,
    queries: np.ndarray,
    arguments: dict[str, Any],
    truths: list[set[int]],
    numbers: dict[str, float],
    now: datetime,
) -> None:
    """Search p50/p99 while another thread writes WRITES_PER_S rows a second (new rows)."""
    stop = threading.Event()
    written = [0]
    fresh_vectors = clustered_like(vectors, len(vectors) // 10 or 1, seed=9)

    def write() -> None:
        start = len(vectors)
        step = WRITES_PER_S // 10
        while not stop.is_set() and written[0] + step <= len(fresh_vectors):
            began = time.perf_counter()
            chunk = fresh_vectors[written[0] : written[0] + step]
            store.add_arrow([rows_batch(chunk, start + written[0], now)])
            written[0] += step
            stop.wait(max(0.0, 0.1 - (time.perf_counter() - began)))

    writer = threading.Thread(target=write, daemon=True)
    started = time.perf_counter()
    writer.start()
    try:
        _time_searches(store, queries, arguments, truths, "while_writing", numbers, p99=True)
    finally:
        stop.set()
        writer.join()
    numbers["while_writing_rows_per_s"] = written[0] / (time.perf_counter() - started)
    del numbers["while_writing_recall_at_10"]  # new rows move the truth: not comparable
    start = len(vectors)  # the next phases' truths are the fill's rows: remove the new ones
    store.delete(UUID(int=start + n + 1) for n in range(written[0]))


def _time_during_rebuild(
    url: str, vectors: np.ndarray, queries: np.ndarray, numbers: dict[str, float]
) -> None:
    """`index build` (a rebuild from the table) while searches run, in turns with numpy.

    The first search waits for the rebuild to read the table (reported on its own); the
    ones after it scan every vector exactly until the ANN index is ready again, and are
    compared with a bare numpy scan of the same vectors, run in turns with them.
    """
    store = create_repository(url)
    try:
        store.find_similar(queries[0], limit=10, threshold=-1.0, days_back=EVERYTHING)
        done = threading.Event()
        rebuild_started = time.perf_counter()

        def rebuild() -> None:
            try:
                store.build_vector_index(rebuild=True)  # type: ignore[attr-defined]
            finally:
                done.set()

        builder = threading.Thread(target=rebuild, daemon=True)
        builder.start()
        ours, bare = [], []
        turn = 0
        while not done.is_set():
            query = queries[turn % len(queries)]
            turn += 1
            search = partial(store.find_similar, query, limit=10, threshold=-1.0)
            ours.append(_seconds(partial(search, days_back=EVERYTHING)))
            bare.append(_seconds(partial(_numpy_top10, vectors, query)))
        builder.join()
        numbers["rebuild_s"] = time.perf_counter() - rebuild_started
    finally:
        store.close()
    numbers["rebuild_first_search_s"] = ours[0]
    later, numpy_times = ours[1:] or ours, bare[1:] or bare
    numbers["during_rebuild_searches"] = len(later)
    numbers["during_rebuild_p50_ms"] = float(np.percentile(later, 50) * 1000)
    numbers["during_rebuild_numpy_p50_ms"] = float(np.percentile(numpy_times, 50) * 1000)
    numbers["during_rebuild_vs_numpy"] = float(
        np.percentile(later, 50) / np.percentile(numpy_times, 50)
    )


def _numpy_top10(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The exact top 10 by bare numpy: the yardstick of a scan."""
    return np.argpartition(-(vectors @ query), 10)[:10]


def _drop_pgvector_index(url: str) -> None:
    store = create_repository(url)
    try:
        with store.engine.begin() as connection:  # type: ignore[attr-defined]
            connection.execute(sa.text(DROP_INDEX_SQL))
    finally:
        store.close()


def _build_index(url: str) -> None:
    store = create_repository(url)
    try:
        store.build_vector_index()  # type: ignore[attr-defined]
    finally:
        store.close()


def _filtered_searches(
    vectors: np.ndarray, queries: np.ndarray, now: datetime
) -> dict[str, tuple[dict[str, Any], list[set[int]]]]:
    """Each timed filter's `find_similar` arguments, and each query's exact answer under it.

    The rows a filter keeps follow `rows_batch`: repo by row number, age from `now`.
    """
    rows = len(vectors)
    repos = np.array([f"repo-{n % REPOS}" for n in range(rows)])
    ages_s = np.arange(rows) * 7_919 % (DAYS * 86_400) + (time.time() - now.timestamp())
    filters: dict[str, tuple[dict[str, Any], np.ndarray | None]] = {
        "unfiltered": ({"days_back": EVERYTHING}, None),
        "repo": ({"repo": "repo-3", "days_back": EVERYTHING}, repos == "repo-3"),
        "last_7_days": ({"days_back": 7}, ages_s < 7 * 86_400),
    }
    return {
        name: (arguments, exact_top10(vectors, queries, keep))
        for name, (arguments, keep) in filters.items()
    }


def _seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _time_searches(
    store: ExecutionRepository,
    queries: np.ndarray,
    arguments: dict[str, Any],
    truths: list[set[int]],
    name: str,
    numbers: dict[str, float],
    least: int = MIN_QUERIES,
    p99: bool = False,
) -> None:
    """p50/p95 (and p99) latency and recall@10 of `find_similar` with these arguments.

    No warm-up: the first query of a series is timed like the others. Stops once
    SEARCH_BUDGET_S have passed and `least` queries are timed.
    """
    latencies, recalls = [], []
    deadline = time.perf_counter() + SEARCH_BUDGET_S
    for query, truth in zip(queries, truths, strict=True):
        started = time.perf_counter()
        found = store.find_similar(query, limit=10, threshold=-1.0, **arguments)
        latencies.append(time.perf_counter() - started)
        got = {item.record.task_id.int - 1 for item in found}
        recalls.append(len(got & truth) / len(truth) if truth else 1.0)
        if time.perf_counter() > deadline and len(latencies) >= least:
            break  # a slow store (PostgreSQL streaming every vector) gets fewer queries
    numbers[f"{name}_queries"] = len(latencies)
    numbers[f"{name}_p50_ms"] = float(np.percentile(latencies, 50) * 1000)
    numbers[f"{name}_p95_ms"] = float(np.percentile(latencies, 95) * 1000)
    if p99:
        numbers[f"{name}_p99_ms"] = float(np.percentile(latencies, 99) * 1000)
    numbers[f"{name}_recall_at_10"] = float(np.mean(recalls))


def run_scale_benchmark(
    rows: int,
    *,
    postgres_url: str | None = None,
    use_model: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> list[ScaleResult]:
    """Every store on both datasets.

    PostgreSQL is measured only when a URL is given; its table is emptied first, so give it
    a database of its own.
    """
    progress("cluster centres from the embedding model")
    centres = cluster_centres(use_model)
    datasets = {
        "clustered": (clustered(centres, rows, 1), Queries(clustered(centres, QUERIES, 2))),
        "random": (random_vectors(rows, 1), Queries(random_vectors(QUERIES, 2))),
    }
    results = []
    for dataset, (vectors, queries) in datasets.items():
        with tempfile.TemporaryDirectory(prefix="learning-store-scale-") as folder:
            url = f"duckdb:///{Path(folder) / 'scale.db'}"
            results.append(measure_store(url, "duckdb", dataset, vectors, queries, progress))
        if postgres_url is not None:
            _empty(postgres_url)
            results.append(
                measure_store(postgres_url, "postgresql", dataset, vectors, queries, progress)
            )
    return results


def _empty(url: str) -> None:
    store = create_repository(url)
    try:
        store.delete_older_than(datetime.now(UTC).replace(year=9999))
    finally:
        store.close()


if __name__ == "__main__":  # the other processes of `measure_store` (see `_child`)
    print(json.dumps(_child_main(*sys.argv[1:5])))
