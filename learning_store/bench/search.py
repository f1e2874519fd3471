"""Similarity search and routing advice in `learning-store bench`, against bare numpy."""

from __future__ import annotations

from functools import partial
from statistics import median

import numpy as np

from learning_store.advice import recommend_tier
from learning_store.bench.common import BenchOptions, BenchResult, make_records, scratch, timed
from learning_store.config import LearningConfig
from learning_store.models import EMBEDDING_DIMENSION
from learning_store.repository import create_repository

SIMILARITY_QUERIES = 50
"""Queries timed on each side of similar_vs_numpy (the ratio is of their medians)."""


def measure_similarity(options: BenchOptions, result: BenchResult) -> None:
    """find_similar on a DuckDB store of M rows against a bare numpy matmul top-10.

    Each query runs on both sides in turn, so load on a shared machine hits them alike.
    """
    rows = make_records(options.similar_rows, seed=1)
    rng = np.random.default_rng(2)
    queries = [
        np.asarray(rows[int(i)].embedding) + rng.normal(0, 0.02, EMBEDDING_DIMENSION)
        for i in rng.integers(0, len(rows), SIMILARITY_QUERIES)
    ]
    matrix = np.stack([np.asarray(record.embedding) for record in rows])
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)

    def numpy_top10(query: np.ndarray) -> np.ndarray:
        scores = matrix @ (query / np.linalg.norm(query)).astype(np.float32)
        best = np.argpartition(-scores, 10)[:10]
        return best[np.argsort(-scores[best])]

    ours, bare, advice = [], [], []
    with scratch() as folder:
        url = f"duckdb:///{folder / 'sim.db'}"
        store = create_repository(url, config=LearningConfig(batch_size=1000))
        store.add_many(rows)
        store.close()  # finishes and saves the index, as a process that wrote them would
        # As the next process: open, then search at once (no warm-up; the first search
        # loads the saved index and is reported on its own as well).
        store = create_repository(url, config=LearningConfig(batch_size=1000))
        for query in queries:
            ours.append(timed(partial(store.find_similar, query, limit=10, threshold=-1.0)))
            bare.append(timed(partial(numpy_top10, query)))
            advice.append(timed(partial(recommend_tier, store, query)))
        store.close()
    result.rates.update(
        similar_p50_ms=median(ours) * 1000,
        similar_numpy_p50_ms=median(bare) * 1000,
        similar_first_search_ms=ours[0] * 1000,
    )
    result.ratios.update(
        similar_p50_ms=median(ours) * 1000,
        similar_numpy_p50_ms=median(bare) * 1000,
        similar_vs_numpy=median(ours) / median(bare),
        recommend_p50_ms=median(advice) * 1000,
        recommend_vs_similar=median(advice) / median(ours),
    )
