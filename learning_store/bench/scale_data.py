"""The data of `bench --scale N`: vectors that look like real embeddings, and their rows.

Clustered vectors are noisy copies of the real model's embeddings of 480 task texts;
random unit vectors are the hard case for every index. Rows spread over 20 repos and 180
days, so a repo filter keeps 1/20 of them and `days_back=7` ~4%.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from learning_store.bulk.columns import vector_array
from learning_store.models import EMBEDDING_DIMENSION

REPOS = 20
"""Repositories the rows are spread over: a repo filter keeps 1/20 of them."""
DAYS = 180
"""Days the timestamps span: `days_back=7` keeps ~4% of the rows."""
NOISE = 0.025
"""Per-dimension noise around a cluster centre (cosine to the centre ~0.86)."""
WRITE_BATCH = 50_000
"""Rows per Arrow batch while building the store."""
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


def clustered_like(vectors: np.ndarray, count: int, seed: int = 4) -> np.ndarray:
    """Queries near stored rows (a stored vector plus noise), as a router's would be."""
    rng = np.random.default_rng(seed)
    picked = vectors[rng.integers(0, len(vectors), count)]
    return unit_rows(picked + rng.normal(scale=NOISE, size=picked.shape))
