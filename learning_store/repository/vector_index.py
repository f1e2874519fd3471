"""An in-process index of stored embeddings, for exact cosine search at numpy speed.

DuckDB allows one writer process, so the store that writes can keep this copy in step with
its own writes; a version stamp (row count, newest upload time) read before each search
catches anything written by another connection, and the index is then rebuilt. Vectors are
kept exactly as stored, in one float32 matrix with each row's 1/norm beside it, so a search
can hand back the winners' embeddings without reading them from the table again; repo and
timestamp filters are masks over the matrix. Beside each vector the index keeps the facts
routing advice reads of a past execution (tier, task type, outcome, cost, duration, quality,
complexity; none changes once written), so a recommendation reads no rows at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import numpy as np

from learning_store.advice.estimator import Neighbour
from learning_store.models import EMBEDDING_DIMENSION
from learning_store.similarity import top_matches

_NO_REPO = -1
LOAD_HEADROOM = 8
"""A loaded index keeps 1/LOAD_HEADROOM spare rows, so writes after a search append."""
_COLUMNS = {  # per-row facts beside each vector, and their types
    "scales": np.float32,  # 1/norm; 0 where there is no norm
    "timestamps": np.int64,  # microseconds since the epoch, UTC
    "repos": np.int32,
    "tiers": np.int32,
    "task_types": np.int32,
    "success": np.bool_,
    "cost": np.float64,
    "duration": np.float64,
    "quality": np.float64,  # NaN where unknown
    "complexity": np.float64,
}


@dataclass(frozen=True)
class RowFacts:
    """What the index keeps beside the vectors of a batch of rows (one entry per row)."""

    repos: Sequence[str]
    timestamps_us: np.ndarray
    tiers: Sequence[str]
    task_types: Sequence[str]
    success: Sequence[bool]
    cost: Sequence[float]
    duration: Sequence[float]
    quality: Sequence[float | None]
    complexity: Sequence[float]


class _Codes:
    """Small integer codes for the labels of one column (repos, tiers, task types)."""

    def __init__(self) -> None:
        self.code: dict[str, int] = {}
        self.label: list[str] = []

    def of(self, labels: Sequence[str]) -> list[int]:
        codes = []
        for label in labels:
            code = self.code.get(label)
            if code is None:
                code = self.code[label] = len(self.label)
                self.label.append(label)
            codes.append(code)
        return codes


class VectorIndex:
    """Task ids, vectors and per-row facts of every stored row that has an embedding."""

    def __init__(self, dimension: int = EMBEDDING_DIMENSION) -> None:
        self._vectors = np.empty((1024, dimension), dtype=np.float32)
        self._columns = {name: np.empty(1024, dtype=kind) for name, kind in _COLUMNS.items()}
        self._unscalable = 0  # rows that are all zero or whose norm overflows float32
        self._task_ids: list[UUID] = []
        self._rows: dict[UUID, int] = {}
        self._repos, self._tiers, self._types = _Codes(), _Codes(), _Codes()

    def __len__(self) -> int:
        return len(self._task_ids)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._rows

    def vector(self, task_id: UUID) -> np.ndarray:
        """The stored embedding of a row (a copy); KeyError if the index does not hold it."""
        return self._vectors[self._rows[task_id]].copy()

    def add(self, task_ids: Sequence[UUID], vectors: np.ndarray, facts: RowFacts) -> None:
        """Append rows; the vectors are copied as they are."""
        start, count = len(self._task_ids), len(task_ids)
        if count == 0:
            return
        self._reserve(start + count)
        rows = slice(start, start + count)
        self._vectors[rows] = vectors
        with np.errstate(over="ignore"):  # an overflowing norm is inf: the row scores 0
            norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))  # no n*d temporary
        scalable = np.isfinite(norms) & (norms > 0)
        scales = self._columns["scales"][rows]
        scales[:] = 0.0
        np.divide(1.0, norms, out=scales, where=scalable)
        self._unscalable += count - int(scalable.sum())
        column = self._columns
        column["timestamps"][rows] = facts.timestamps_us
        column["repos"][rows] = self._repos.of(facts.repos)
        column["tiers"][rows] = self._tiers.of(facts.tiers)
        column["task_types"][rows] = self._types.of(facts.task_types)
        column["success"][rows] = facts.success
        column["cost"][rows] = facts.cost
        column["duration"][rows] = facts.duration
        column["quality"][rows] = [np.nan if q is None else q for q in facts.quality]
        column["complexity"][rows] = facts.complexity
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
        if not self._task_ids:
            return []
        matches = top_matches(self._scores(query, repo, since), self._task_ids, limit, threshold)
        return [(self._task_ids[row], score) for row, score in matches]

    def search_per_tier(
        self,
        query: np.ndarray,
        *,
        repo: str | None,
        since: datetime,
        limit: int,
        threshold: float,
    ) -> dict[str, list[tuple[UUID, float]]]:
        """Like `search`, but the best `limit` rows of each model tier (one scoring pass)."""
        ranked = self._rows_per_tier(query, repo, since, limit, threshold)
        return {
            tier: [(self._task_ids[row], score) for row, score in matches]
            for tier, matches in ranked.items()
        }

    def neighbours_per_tier(
        self,
        query: np.ndarray,
        *,
        repo: str | None,
        since: datetime,
        limit: int,
        threshold: float,
        now: datetime,
    ) -> dict[str, list[Neighbour]]:
        """What routing advice reads of `search_per_tier`'s rows, without reading the table."""
        now_us = int(now.timestamp() * 1_000_000)
        column = self._columns
        found = {}
        for tier, matches in self._rows_per_tier(query, repo, since, limit, threshold).items():
            found[tier] = [
                Neighbour(
                    tier=tier,
                    similarity=score,
                    age_days=max(now_us - int(column["timestamps"][row]), 0) / 86_400_000_000,
                    success=bool(column["success"][row]),
                    cost=float(column["cost"][row]),
                    duration=float(column["duration"][row]),
                    quality=None
                    if np.isnan(column["quality"][row])
                    else float(column["quality"][row]),
                    complexity=float(column["complexity"][row]),
                    task_type=self._types.label[int(column["task_types"][row])],
                    task_id=self._task_ids[row],
                )
                for row, score in matches
            ]
        return found

    def _rows_per_tier(
        self, query: np.ndarray, repo: str | None, since: datetime, limit: int, threshold: float
    ) -> dict[str, list[tuple[int, float]]]:
        if not self._task_ids:
            return {}
        scores = self._scores(query, repo, since)
        tiers = self._columns["tiers"][: len(self._task_ids)]
        found = {}
        for tier, code in self._tiers.code.items():
            matches = top_matches(
                np.where(tiers == code, scores, -np.inf), self._task_ids, limit, threshold
            )
            if matches:
                found[tier] = matches
        return found

    def _scores(self, query: np.ndarray, repo: str | None, since: datetime) -> np.ndarray:
        """Cosine of every row to a unit query; -inf for rows the filters leave out."""
        size = len(self._task_ids)
        scales = self._columns["scales"][:size]
        with np.errstate(over="ignore", invalid="ignore"):  # huge rows: fixed just below
            scores = self._vectors[:size] @ query  # a unit query, so dot / norm is the cosine
            scores *= scales
        if self._unscalable:  # like a unit vector that rounds to zero: similarity 0
            scores[scales == 0] = 0.0
        excluded = self._columns["timestamps"][:size] < int(since.timestamp() * 1_000_000)
        if repo is not None:
            code = self._repos.code.get(repo, _NO_REPO)
            excluded |= self._columns["repos"][:size] != code
        scores[excluded] = -np.inf
        return scores

    def _reserve(self, needed: int) -> None:
        capacity = self._vectors.shape[0]
        if needed <= capacity:
            return
        # Room to grow: doubling copies every vector, so a million-row index growing by
        # one chunk stalled that write for 2.75 s; a first load leaves an eighth spare.
        capacity = max(needed + needed // LOAD_HEADROOM, capacity * 2)
        self._vectors = _grown(self._vectors, capacity)
        self._columns = {name: _grown(array, capacity) for name, array in self._columns.items()}


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    bigger = np.empty((capacity, *array.shape[1:]), dtype=array.dtype)
    bigger[: array.shape[0]] = array
    return bigger
