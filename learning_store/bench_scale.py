"""`learning-store bench --scale N`: similarity search on a store of N rows, side by side.

Not part of CI: a million rows take minutes to build. For each dataset (clustered
embeddings that look like real ones, and random unit vectors, the hard case) and each
store, one run reports: p50/p95 search latency with and without filters, recall@10 against
exact search over the same vectors, the first search in a fresh process, the time and
memory the index takes once loaded from its saved copy, its build time, insert throughput
while it is maintained and the time the index then takes to catch up, and the recall a
slower setting (more ANN probes, a wider pgvector search) buys. Searches are timed once
the index holds every row, each series after a few untimed warm-up searches. The rows
are written as Arrow batches (`add_arrow`), so building them costs the engine's time, not
a Python object per row.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from learning_store.bulk.columns import vector_array
from learning_store.config import LearningConfig
from learning_store.models import EMBEDDING_DIMENSION
from learning_store.repository import ExecutionRepository, create_repository
from learning_store.repository.pgvector_search import DROP_INDEX_SQL

QUERIES = 100
"""Queries timed per measurement (each with and without a filter)."""
WARMUP_QUERIES = 10
"""Untimed searches before each timed series (other queries than the timed ones)."""
SEARCH_BUDGET_S = 60.0
MIN_QUERIES = 5
"""A measurement stops after SEARCH_BUDGET_S once it has MIN_QUERIES queries."""
EVERYTHING = 100 * 365
"""days_back that keeps every row (find_similar's default keeps 90 days)."""
REPOS = 20
"""Repositories the rows are spread over: a repo filter keeps 1/20 of them."""
DAYS = 180
"""Days the timestamps span: `days_back=7` keeps ~4% of the rows."""
NOISE = 0.025
"""Per-dimension noise around a cluster centre (cosine to the centre ~0.86)."""
WRITE_BATCH = 50_000
"""Rows per Arrow batch while building the store."""
EXACT_QUERIES = 10
"""`exact=True` searches timed (each reads every vector: seconds at a million rows)."""
SURER = LearningConfig(ann_probes=256, pgvector_ef_search=400)
"""The setting that trades speed for recall, timed beside the defaults."""
TAIL_SHARE = 0.02
"""Share of the rows inserted after the index is loaded, to time inserts that maintain it."""
CLUSTER_TEXTS = [
    f"{verb} the {thing} in the {area} service"
    for verb in ("fix", "refactor", "document", "speed up", "test", "migrate", "review", "upgrade")
    for thing in (
        "login flow",
        "orders query",
        "payment retry",
        "cache layer",
        "search index",
        "rate limiter",
        "email sender",
        "report export",
        "image resizer",
        "audit log",
    )
    for area in ("billing", "auth", "catalog", "shipping", "analytics", "gateway")
]
"""Varied task texts whose model embeddings are the cluster centres (480 of them)."""


@dataclass(frozen=True)
class Queries:
    """The queries one dataset is searched with."""

    timed: np.ndarray
    warmup: np.ndarray
    """Run before each timed series, untimed (see `_time_searches`)."""


@dataclass
class ScaleResult:
    """One store on one dataset."""

    store: str
    dataset: str
    rows: int
    numbers: dict[str, float] = field(default_factory=dict)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, as float32."""
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def clustered(centres: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Noisy copies of the centres: what real embeddings of recurring tasks look like."""
    rng = np.random.default_rng(seed)
    picked = centres[rng.integers(0, len(centres), count)]
    return unit_rows(picked + rng.normal(scale=NOISE, size=picked.shape))


def random_vectors(count: int, seed: int) -> np.ndarray:
    """Uniform random directions: no structure for an index to exploit."""
    return unit_rows(np.random.default_rng(seed).normal(size=(count, EMBEDDING_DIMENSION)))


def cluster_centres(use_model: bool) -> np.ndarray:
    """Embeddings of `CLUSTER_TEXTS`: the real model's, or the hashing embedder's without it."""
    from learning_store.embeddings import HashingEmbedder, SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder("all-MiniLM-L6-v2") if use_model else HashingEmbedder()
    return unit_rows(np.asarray(embedder.embed(CLUSTER_TEXTS), dtype=np.float32))


def rows_batch(vectors: np.ndarray, start: int, now: datetime) -> pa.RecordBatch:
    """Rows for these vectors (row numbers from `start`): repos and times vary by row."""
    count = len(vectors)
    numbers = np.arange(start, start + count)
    ages_us = (numbers * 7_919 % (DAYS * 86_400)) * 1_000_000
    stamp = int(now.timestamp() * 1_000_000) - ages_us
    return pa.RecordBatch.from_pydict(
        {
            "task_id": _row_ids(numbers),
            "timestamp": pa.array(stamp, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "task_type": pa.array(np.array(["refactor", "bugfix", "docs"])[numbers % 3]),
            "task_description": pa.array([f"scale row {n}" for n in numbers]),
            "repo": pa.array([f"repo-{n % REPOS}" for n in numbers]),
            "model_tier": pa.array(np.array(["small", "medium", "large"])[numbers % 3]),
            "pool_type": pa.repeat("cloud", count),
            "routing_confidence": pa.repeat(0.8, count),
            "success": pa.array(numbers % 5 != 0),
            "duration_seconds": pa.array((numbers % 50 + 10).astype(np.float64)),
            "embedding": vector_array(vectors, np.ones(count, dtype=bool)),
        }
    )


def _row_ids(numbers: np.ndarray) -> pa.Array:
    """task_id of row n is the UUID whose integer is n + 1, so a result names its row."""
    raw = np.zeros((len(numbers), 16), dtype=np.uint8)
    raw[:, 8:] = (numbers + 1).astype(">u8").view(np.uint8).reshape(-1, 8)
    storage = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(numbers), [None, pa.py_buffer(raw.tobytes())]
    )
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)


def batches_of(vectors: np.ndarray, start: int, now: datetime) -> Iterator[pa.RecordBatch]:
    """The vectors as row batches of `WRITE_BATCH`."""
    for offset in range(0, len(vectors), WRITE_BATCH):
        yield rows_batch(vectors[offset : offset + WRITE_BATCH], start + offset, now)


def exact_top10(matrix: np.ndarray, queries: np.ndarray, keep: np.ndarray | None) -> list[set[int]]:
    """Each query's exact 10 best row numbers (within `keep`): the ground truth for recall.

    One matrix product for every query, not one pass over the matrix per query.
    """
    scores = matrix @ np.asarray(queries, dtype=np.float32).T
    if keep is not None:
        scores[~keep] = -np.inf
    best = np.argpartition(-scores, 10, axis=0)[:10]
    return [
        {int(row) for row in best[:, column] if np.isfinite(scores[row, column])}
        for column in range(scores.shape[1])
    ]


def rss_mb() -> float:
    """This process's resident memory, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


def measure_store(
    url: str,
    store_name: str,
    dataset: str,
    vectors: np.ndarray,
    queries: Queries,
    progress: Callable[[str], None],
) -> ScaleResult:
    """Build the store at `url`, then time and score its searches."""
    rows = len(vectors)
    result = ScaleResult(store_name, dataset, rows)
    numbers = result.numbers
    now = datetime.now(UTC)
    tail = max(1, int(rows * TAIL_SHARE))
    body = rows - tail
    store = create_repository(url, config=LearningConfig(batch_size=1000))
    try:
        if store_name == "postgresql":  # built after the rows, as one CREATE INDEX
            with store.engine.begin() as connection:
                connection.execute(sa.text(DROP_INDEX_SQL))
        progress(f"{store_name}/{dataset}: writing {body:,} rows")
        started = time.perf_counter()
        store.add_arrow(batches_of(vectors[:body], 0, now))
        numbers["build_rows_per_s"] = body / (time.perf_counter() - started)

        progress(f"{store_name}/{dataset}: building the vector index")
        numbers["index_build_s"] = _seconds(store.build_vector_index)

        started = time.perf_counter()
        store.add_arrow(batches_of(vectors[body:], body, now))
        numbers["insert_with_index_rows_per_s"] = tail / (time.perf_counter() - started)
        # DuckDB searches those rows exactly until the background builder has indexed them;
        # the searches below time the steady state, after they are in.
        progress(f"{store_name}/{dataset}: the index catching up with the inserted rows")
        numbers["catch_up_s"] = _seconds(store.build_vector_index)

        progress(f"{store_name}/{dataset}: the exact answers, for recall")
        searches = _filtered_searches(vectors, queries.timed, now)
        for name, (arguments, truths) in searches.items():
            progress(f"{store_name}/{dataset}: {QUERIES} searches, {name}")
            _time_searches(store, queries, arguments, truths, name, numbers)
    finally:
        store.close()  # saves the index: the next store loads it
    progress(f"{store_name}/{dataset}: the slower, surer setting, and exact searches")
    everything, truths = searches["unfiltered"]
    surer = create_repository(url, config=SURER)
    try:
        _time_searches(surer, queries, everything, truths, "surer", numbers)
        _time_searches(
            surer,
            Queries(queries.timed[:EXACT_QUERIES], queries.warmup[:0]),
            {**everything, "exact": True},
            truths[:EXACT_QUERIES],
            "exact",
            numbers,
            least=1,  # on PostgreSQL every vector streams to Python: ~a minute at a million rows
        )
    finally:
        surer.close()
    progress(f"{store_name}/{dataset}: first search in a fresh process")
    seconds, memory = first_search_in_new_process(url, queries.timed[1])
    numbers["first_search_fresh_process_s"] = seconds
    numbers["index_memory_mb"] = memory
    return result


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
    queries: Queries,
    arguments: dict[str, Any],
    truths: list[set[int]],
    name: str,
    numbers: dict[str, float],
    least: int = MIN_QUERIES,
) -> None:
    """p50/p95 latency and recall@10 of `find_similar` with these filter arguments.

    The warm-up queries run first, untimed: the first search after another kind of work
    (the exact answers are a matrix product over every vector) pays for caches and thread
    pools that the steady state does not. Stops once SEARCH_BUDGET_S have passed and
    `least` queries are timed.
    """
    for query in queries.warmup:
        store.find_similar(query, limit=10, threshold=-1.0, **arguments)
    latencies, recalls = [], []
    deadline = time.perf_counter() + SEARCH_BUDGET_S
    for query, truth in zip(queries.timed, truths, strict=True):
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
    numbers[f"{name}_recall_at_10"] = float(np.mean(recalls))


def first_search_in_new_process(url: str, query: np.ndarray) -> tuple[float, float]:
    """Seconds to the first result in a new process, and the MB that first search added.

    The megabytes are the index as a new process loads it from its saved copy.
    """
    program = (
        "import json, sys, time\n"
        "started = time.perf_counter()\n"
        "from learning_store import create_repository\n"
        "from learning_store.bench_scale import rss_mb\n"
        "store = create_repository(sys.argv[1])\n"
        "before = rss_mb()\n"
        "store.find_similar(json.loads(sys.argv[2]), threshold=-1.0, days_back=36500)\n"
        "print(time.perf_counter() - started, rss_mb() - before)\n"
        "store.close()\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", program, url, json.dumps(query.tolist())],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, memory = finished.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(memory)


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
        "clustered": (
            clustered(centres, rows, 1),
            Queries(clustered(centres, QUERIES, 2), clustered(centres, WARMUP_QUERIES, 3)),
        ),
        "random": (
            random_vectors(rows, 1),
            Queries(random_vectors(QUERIES, 2), random_vectors(WARMUP_QUERIES, 3)),
        ),
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
