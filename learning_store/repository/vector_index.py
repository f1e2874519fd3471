"""An in-process index of stored embeddings, for exact cosine search at numpy speed.

DuckDB allows one writer process, so the store that writes can keep this copy in step with
its own writes; a version stamp (row count, newest upload time) read before each search
catches anything written by another connection, and the index is then rebuilt. Vectors are
kept exactly as stored, in one float32 matrix with each row's 1/norm beside it, so a search
can hand back the winners' embeddings without reading them from the table again; repo and
timestamp filters are masks over the matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import numpy as np

from learning_store.models import EMBEDDING_DIMENSION
from learning_store.similarity import top_matches

_NO_REPO = -1


class VectorIndex:
    """Task ids, repos, timestamps and vectors of every stored row that has an embedding."""

    def __init__(self, dimension: int = EMBEDDING_DIMENSION) -> None:
        self._vectors = np.empty((1024, dimension), dtype=np.float32)
        self._scales = np.empty(1024, dtype=np.float32)  # 1/norm; 0 where there is no norm
        self._unscalable = 0  # rows that are all zero or whose norm overflows float32
        self._timestamps = np.empty(1024, dtype=np.int64)  # microseconds since the epoch, UTC
        self._repos = np.empty(1024, dtype=np.int32)
        self._task_ids: list[UUID] = []
        self._rows: dict[UUID, int] = {}
        self._repo_codes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._task_ids)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._rows

    def vector(self, task_id: UUID) -> np.ndarray:
        """The stored embedding of a row (a copy); KeyError if the index does not hold it."""
        return self._vectors[self._rows[task_id]].copy()

    def add(
        self,
        task_ids: Sequence[UUID],
        repos: Sequence[str],
        timestamps_us: np.ndarray,
        vectors: np.ndarray,
    ) -> None:
        """Append rows; the vectors are copied as they are."""
        start, count = len(self._task_ids), len(task_ids)
        if count == 0:
            return
        self._reserve(start + count)
        self._vectors[start : start + count] = vectors
        with np.errstate(over="ignore"):  # an overflowing norm is inf: the row scores 0
            norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))  # no n*d temporary
        scalable = np.isfinite(norms) & (norms > 0)
        scales = self._scales[start : start + count]
        scales[:] = 0.0
        np.divide(1.0, norms, out=scales, where=scalable)
        self._unscalable += count - int(scalable.sum())
        self._timestamps[start : start + count] = timestamps_us
        codes = [self._repo_codes.setdefault(repo, len(self._repo_codes)) for repo in repos]
        self._repos[start : start + count] = codes
        self._task_ids.extend(task_ids)
        self._rows.update(zip(task_ids, range(start, start + count), strict=True))

    def search(
        self,
        query: np.ndarray,
        *,
        repo: str | None,
        since: datetime,
        limit: int,
        threshold: float,
    ) -> list[tuple[UUID, float]]:
        """(task_id, cosine similarity) of the best rows, ranked by the shared rule."""
        size = len(self._task_ids)
        if size == 0:
            return []
        with np.errstate(over="ignore", invalid="ignore"):  # huge rows: fixed just below
            scores = self._vectors[:size] @ query  # a unit query, so dot / norm is the cosine
            scores *= self._scales[:size]
        if self._unscalable:  # like a unit vector that rounds to zero: similarity 0
            scores[self._scales[:size] == 0] = 0.0
        excluded = self._timestamps[:size] < int(since.timestamp() * 1_000_000)
        if repo is not None:
            excluded |= self._repos[:size] != self._repo_codes.get(repo, _NO_REPO)
        scores[excluded] = -np.inf
        matches = top_matches(scores, self._task_ids, limit, threshold)
        return [(self._task_ids[row], score) for row, score in matches]

    def _reserve(self, needed: int) -> None:
        capacity = self._vectors.shape[0]
        if needed <= capacity:
            return
        capacity = max(needed, capacity * 2)  # a first load is sized exactly
        self._vectors = _grown(self._vectors, capacity)
        self._scales = _grown(self._scales, capacity)
        self._timestamps = _grown(self._timestamps, capacity)
        self._repos = _grown(self._repos, capacity)


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    bigger = np.empty((capacity, *array.shape[1:]), dtype=array.dtype)
    bigger[: array.shape[0]] = array
    return bigger
