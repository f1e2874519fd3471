"""The vector index of one store: an ANN index over most rows, exact search over the rest.

Rows [0, len(clusters)) are in the ANN index; the rows after them wait in
`PendingVectors` until the builder moves them in, and are searched exactly meanwhile. A
search asks both parts for candidates and the store rescores the candidates with their
stored vectors, so the index only has to find the right rows, never to score them. Below
`min_ann_rows` there is no ANN index: every row is searched exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import numpy as np

from learning_store.models import EMBEDDING_DIMENSION
from learning_store.similarity import ROUNDING_SLACK, cosine_scores, top_matches
from learning_store.vector_index.clusters import PROBES, TRAINING_PER_LIST, ClusterIndex, lists_for
from learning_store.vector_index.exact_vectors import ExactVectors
from learning_store.vector_index.pending import PendingVectors
from learning_store.vector_index.rows import IndexedRows, Outcomes, RowBatch
from learning_store.vector_index.selection import SearchFilter, Selections

MIN_ANN_ROWS = 20_000
"""Rows below which an ANN index does not pay: an exact scan of 20,000 vectors takes ~1.5 ms."""
CANDIDATES = 40
"""Candidates handed to exact rescoring for a search of up to 10 results."""
EXACT_BELOW = 2_048
"""When at most this many indexed rows pass a search's filters, all of them are scored
exactly (~0.3 ms at a million rows) instead of asking the ANN index."""


@dataclass(frozen=True)
class Ranked:
    """A search's best rows, best first: task_ids, exact scores, stored vectors, outcomes."""

    task_ids: list[UUID]
    scores: list[float]
    vectors: np.ndarray
    outcomes: Outcomes


class VectorIndex:
    """Positions of the rows most similar to a query, from the ANN index and pending rows."""

    def __init__(
        self,
        rows: IndexedRows | None = None,
        clusters: ClusterIndex | None = None,
        exact: ExactVectors | None = None,
        *,
        min_ann_rows: int = MIN_ANN_ROWS,
        probes: int = PROBES,
        dimension: int = EMBEDDING_DIMENSION,
    ) -> None:
        self.rows = rows if rows is not None else IndexedRows()
        self.clusters = clusters
        self.exact = exact if exact is not None else ExactVectors(None, dimension)
        """The stored vectors of the rows in the ANN index, for rescoring."""
        self.min_ann_rows = min_ann_rows
        self.probes = probes
        if clusters is not None:
            clusters.probes = probes
        self._pending = PendingVectors(dimension)
        self._selections = Selections()
        self.dimension = dimension

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ann_rows(self) -> int:
        """How many rows the ANN index holds (the first ones)."""
        return 0 if self.clusters is None else len(self.clusters)

    @property
    def pending_rows(self) -> int:
        """How many rows wait for the ANN index (searched exactly meanwhile)."""
        return len(self._pending)

    def add(self, batch: RowBatch) -> None:
        """Append rows; they are searched exactly until the builder indexes them."""
        if len(batch):
            self.rows.append(batch)
            self._pending.append(batch.vectors)

    def best(
        self, query: np.ndarray, where: SearchFilter, limit: int, threshold: float
    ) -> Ranked | None:
        """The best `limit` rows for this unit query, ranked by their stored vectors.

        Candidates come from `candidates`; scores are exact and ranked by the rule every
        store shares (`top_matches`). None when no row passes the filters and threshold.
        """
        positions = self.candidates(query, where, limit)
        # The cached bitmaps round the time floor down (see `selection`): drop the rows
        # between that and the exact floor.
        positions = positions[self.rows.columns["timestamps"][positions] >= where.since_us]
        vectors = self.vectors(positions)
        task_ids = self.rows.task_ids(positions)
        matches = top_matches(cosine_scores(vectors, query), task_ids, limit, threshold)
        if not matches:
            return None
        rows = np.array([row for row, _ in matches], dtype=np.int64)
        return Ranked(
            task_ids=[task_ids[row] for row in rows.tolist()],
            scores=[score for _, score in matches],
            vectors=vectors[rows],
            outcomes=self.rows.outcomes(positions[rows]),
        )

    def candidates(self, query: np.ndarray, where: SearchFilter, limit: int) -> np.ndarray:
        """Positions of rows that may be among the best `limit` for this unit query.

        Every pending row that could be is included; from the ANN index, its best
        `CANDIDATES` for up to 10 asked for, and twice the limit beyond that (advice asks
        for 100 a tier), which exact rescoring then ranks; or, when the filters keep at
        most `EXACT_BELOW` indexed rows, all of them. Indexed rows up to a minute older
        than `where.since_us` may be among them (see `selection`).
        """
        wanted = max(CANDIDATES, 2 * limit)
        found = []
        if self.ann_rows:
            assert self.clusters is not None
            kept = self._selections.of(self.rows, self.ann_rows, where, EXACT_BELOW)
            if kept is None:
                found.append(self.clusters.search(query, wanted))
            elif kept.positions is not None:
                found.append(kept.positions)  # few rows pass: every one is a candidate
            else:
                found.append(self.clusters.search(query, wanted, kept=(kept.bits, kept.passing)))
        if len(self._pending):
            found.append(self._pending_candidates(query, where, wanted))
        return np.concatenate(found) if found else np.empty(0, dtype=np.int64)

    @property
    def needs_ann(self) -> bool:
        """Whether enough rows wait for an ANN index to be trained (see `training_sample`)."""
        return self.clusters is None and len(self._pending) >= self.min_ann_rows

    def training_sample(self) -> tuple[np.ndarray, int]:
        """Unit vectors to train an ANN index on, and the rows it is expected to hold."""
        expected = len(self._pending)
        return self._pending.peek_unit(lists_for(expected) * TRAINING_PER_LIST), expected

    def adopt(self, clusters: ClusterIndex) -> None:
        """Take a trained, empty ANN index; `grow` then moves the pending rows into it."""
        if self.clusters is None:
            clusters.probes = self.probes
            self.clusters = clusters

    def grow(self, most: int) -> int:
        """Move up to `most` pending rows into the ANN index; how many moved (0: none)."""
        if self.clusters is None:
            return 0
        moving = min(most, len(self._pending))
        if moving:
            self.exact.append(self._pending.peek(moving))
            self.clusters.add(self._pending.peek_unit(moving))
            self._pending.drop(moving)
        return moving

    def vectors(self, positions: np.ndarray) -> np.ndarray:
        """The stored vectors at these positions (a copy), whichever part holds them."""
        positions = np.asarray(positions, dtype=np.int64)
        indexed = positions < self.ann_rows
        found = np.empty((len(positions), self.dimension), dtype=np.float32)
        if indexed.any():
            found[indexed] = self.exact.take(positions[indexed])
        if not indexed.all():
            found[~indexed] = self._pending.take(positions[~indexed] - self.ann_rows)
        return found

    def _pending_candidates(
        self, query: np.ndarray, where: SearchFilter, wanted: int
    ) -> np.ndarray:
        start = self.ann_rows
        scores = self._pending.scores(query)
        keep = self._mask(start, start + len(scores), where)
        if keep is not None:
            scores[~keep] = -np.inf
        if len(scores) > wanted:  # keep every row tied with the last one wanted
            floor = np.partition(scores, len(scores) - wanted)[len(scores) - wanted]
            best = np.flatnonzero(scores >= floor - ROUNDING_SLACK)
        else:
            best = np.arange(len(scores))
        return start + best[np.isfinite(scores[best])]

    def _mask(self, start: int, stop: int, where: SearchFilter) -> np.ndarray | None:
        return self.rows.mask(
            start, stop, repo=where.repo, since_us=where.since_us, tier=where.tier
        )
