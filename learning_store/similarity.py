"""Exact cosine similarity with numpy: shared by the in-memory store and the SQL stores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

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
    return unit_rows(vector[np.newaxis, :])[0]


def cosine_scores(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of `matrix` (n x d) to a unit-length `query`."""
    if matrix.shape[0] == 0:
        return np.empty(0, dtype=np.float32)
    return unit_rows(matrix.astype(np.float32, copy=False)) @ query


SCORE_DECIMALS = 6
"""Scores are ranked and thresholded at this precision on every backend, so float noise
between numpy and SQL never reorders results; ties go to the larger task_id."""


ROUNDING_SLACK = 1e-6
"""More than rounding to SCORE_DECIMALS can move a score (5e-7), float32 error included."""


def top_matches(
    scores: np.ndarray, task_ids: Sequence[UUID], limit: int, threshold: float
) -> list[tuple[int, float]]:
    """(row, score) pairs ranked like the SQL stores rank them, at most `limit` of them.

    Rank: score rounded to SCORE_DECIMALS descending, then task_id descending; rows whose
    rounded score is below `threshold` are left out. Only rows within ROUNDING_SLACK of
    the limit-th best raw score can make the cut, so only those are rounded and sorted.
    """
    if limit <= 0 or scores.size == 0:
        return []
    floor = threshold
    if scores.size > limit:
        floor = max(floor, float(np.partition(scores, scores.size - limit)[scores.size - limit]))
    candidates = np.flatnonzero(scores >= floor - ROUNDING_SLACK)
    rounded = np.round(scores[candidates].astype(np.float64), SCORE_DECIMALS)
    eligible = rounded >= threshold
    candidates, rounded = candidates[eligible], rounded[eligible]
    if candidates.size > limit:  # keep everything tied with the limit-th best, then sort
        kept = rounded >= -np.partition(-rounded, limit - 1)[limit - 1]
        candidates, rounded = candidates[kept], rounded[kept]
    order = np.argsort(-rounded, kind="stable")
    ranked, rounded = candidates[order], rounded[order]
    if (rounded[1:] == rounded[:-1]).any():  # ties: the larger task_id first (rare, slower)
        keys = [(-score, -task_ids[row].int) for row, score in zip(ranked, rounded, strict=True)]
        ranked = ranked[sorted(range(len(keys)), key=keys.__getitem__)]
    return [(row, float(scores[row])) for row in ranked[:limit].tolist()]


def ranking_key(score: float, task_id: UUID) -> tuple[float, int]:
    """Sort key for the shared ranking rule (ascending sort puts the best first)."""
    return (-float(np.round(np.float64(score), SCORE_DECIMALS)), -task_id.int)


class StreamingTopK:
    """Exact top-k over vectors that arrive in chunks, so memory holds one chunk at a time."""

    def __init__(self, query: np.ndarray, limit: int, threshold: float) -> None:
        self.query, self.limit, self.threshold = query, limit, threshold
        self._best: list[tuple[UUID, float]] = []

    def add(self, task_ids: Sequence[UUID], matrix: np.ndarray) -> None:
        """Score one chunk of (task_id, vector) rows and keep the best seen so far."""
        matches = top_matches(
            cosine_scores(matrix, self.query), task_ids, self.limit, self.threshold
        )
        merged = self._best + [(task_ids[row], score) for row, score in matches]
        merged.sort(key=lambda item: ranking_key(item[1], item[0]))
        self._best = merged[: self.limit]

    def result(self) -> list[tuple[UUID, float]]:
        """(task_id, score) pairs, best first."""
        return list(self._best)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; rows with no direction become zero (similarity 0).

    A row has no direction when it is all zero or so long that its norm overflows float32.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # an overflowing norm is inf: row 0
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
