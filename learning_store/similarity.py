"""Exact cosine similarity with numpy: shared by the in-memory store and the SQL stores."""

from __future__ import annotations

from typing import Any

import numpy as np

from learning_store.models import EMBEDDING_DIMENSION


def query_vector(embedding: Any) -> np.ndarray:
    """A query embedding as a unit-length float32 vector; ValueError names what is wrong."""
    vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if vector.shape[0] != EMBEDDING_DIMENSION:
        raise ValueError(
            f"embedding: a query must have {EMBEDDING_DIMENSION} numbers, got {vector.shape[0]}"
        )
    if not np.isfinite(vector).all():
        raise ValueError("embedding: a query must contain only finite numbers")
    return _unit(vector[np.newaxis, :])[0]


def cosine_scores(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of `matrix` (n x d) to a unit-length `query`."""
    if matrix.shape[0] == 0:
        return np.empty(0, dtype=np.float32)
    return _unit(matrix.astype(np.float32, copy=False)) @ query


def top_matches(scores: np.ndarray, limit: int, threshold: float) -> list[tuple[int, float]]:
    """(row, score) pairs with score >= threshold, best first, at most `limit` of them."""
    if limit <= 0 or scores.size == 0:
        return []
    eligible = np.flatnonzero(scores >= threshold)
    if eligible.size > limit:
        eligible = eligible[np.argpartition(-scores[eligible], limit - 1)[:limit]]
    order = eligible[np.argsort(-scores[eligible], kind="stable")]
    return [(int(row), float(scores[row])) for row in order]


def _unit(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero (similarity 0 to everything)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
