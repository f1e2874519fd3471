"""The vector index of one database: an ANN index over most rows, exact search over the rest.

Every row has a position; `rows` keeps its id, filter columns and outcome, `vectors` its
stored vector. Positions [0, len(clusters)) are in the ANN index; the rows after them are
pending until the builder moves them in, and are scanned exactly meanwhile (one matrix
product, as fast as bare numpy). A search asks both parts for candidates and rescores the
candidates with their stored vectors, so the index only has to find the right rows, never
to score them. Deleted rows stay in place, marked dead, and are never returned. Below
`min_ann_rows` there is no ANN index: every row is scanned exactly.

Nothing here locks: the keeper (`repository.index_keeper`) holds a lock around every call
except those documented as safe beside searches.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import numpy as np

from learning_store.models import EMBEDDING_DIMENSION
from learning_store.similarity import ROUNDING_SLACK, cosine_scores, top_matches, unit_rows
from learning_store.vector_index.clusters import PROBES, ClusterIndex, lists_for, training_per_list
from learning_store.vector_index.exact_vectors import ExactVectors
from learning_store.vector_index.rows import IndexedRows, Outcomes, RowBatch
from learning_store.vector_index.selection import SearchFilter, Selections

MIN_ANN_ROWS = 20_000
"""Rows below which an ANN index does not pay: an exact scan of 20,000 vectors takes ~1.5 ms."""
CANDIDATES = 40
"""Candidates handed to exact rescoring for a search of up to 10 results."""
EXACT_BELOW = 2_048
"""When at most this many indexed rows pass a search's filters, all of them are scored
exactly instead of asking the ANN index."""


@dataclass(frozen=True)
class Ranked:
    """A search's best rows, best first: task_ids, exact scores, stored vectors, outcomes."""

    task_ids: list[UUID]
    scores: list[float]
    vectors: np.ndarray
    outcomes: Outcomes


@dataclass(frozen=True)
class PendingBlock:
    """Pending rows read for the builder: where they start, and as unit vectors."""

    start: int
    units: np.ndarray


class VectorIndex:
    """Positions of the rows most similar to a query, from the ANN index and pending rows."""

    def __init__(
        self,
        rows: IndexedRows | None = None,
        clusters: ClusterIndex | None = None,
        vectors: ExactVectors | None = None,
        *,
        min_ann_rows: int = MIN_ANN_ROWS,
        dimension: int = EMBEDDING_DIMENSION,
    ) -> None:
        self.rows = rows if rows is not None else IndexedRows()
        self.clusters = clusters
        self.vectors = vectors if vectors is not None else ExactVectors(None, dimension)
        """The stored vector of every row, by position."""
        self.min_ann_rows = min_ann_rows
        self.dimension = dimension
        self.trained_for = len(self.rows) if clusters is not None else 0
        """How many rows the ANN index's lists were sized for (0: no ANN index)."""
        self._selections = Selections()

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ann_rows(self) -> int:
        """How many rows the ANN index holds (the first ones)."""
        return 0 if self.clusters is None else len(self.clusters)

    @property
    def pending_rows(self) -> int:
        """How many rows wait for the ANN index (scanned exactly meanwhile)."""
        return len(self.rows) - self.ann_rows

    @property
    def live_rows(self) -> int:
        """How many rows a search can return (not deleted since they were indexed)."""
        return len(self.rows) - self.rows.dead

    def add(self, batch: RowBatch) -> None:
        """Append rows; they are scanned exactly until the builder indexes them."""
        if len(batch):
            self.vectors.append(batch.vectors)
            self.rows.append(batch)

    def kill(self, positions: np.ndarray) -> int:
        """Never return these rows again (deleted, or superseded); how many were alive."""
        killed = self.rows.kill(positions)
        if killed:
            self._selections.clear()
        return killed

    def best(
        self,
        query: np.ndarray,
        where: SearchFilter,
        limit: int,
        threshold: float,
        probes: int = PROBES,
    ) -> Ranked | None:
        """The best `limit` rows for this unit query, ranked by their stored vectors.

        Candidates come from `candidates`; scores are exact and ranked by the rule every
        store shares (`top_matches`). None when no row passes the filters and threshold.
        """
        positions = self.candidates(query, where, limit, probes)
        # The cached bitmaps round the time floor down (see `selection`): drop the rows
        # between that and the exact floor.
        positions = positions[self.rows.columns["timestamps"][positions] >= where.since_us]
        vectors = self.vectors.take(positions)
        task_ids = self.rows.task_ids(positions)
        matches = top_matches(cosine_scores(vectors, query), task_ids, limit, threshold)
        if not matches:
            return None
        chosen = np.array([row for row, _ in matches], dtype=np.int64)
        return Ranked(
            task_ids=[task_ids[row] for row in chosen.tolist()],
            scores=[score for _, score in matches],
            vectors=vectors[chosen],
            outcomes=self.rows.outcomes(positions[chosen]),
        )

    def candidates(
        self, query: np.ndarray, where: SearchFilter, limit: int, probes: int = PROBES
    ) -> np.ndarray:
        """Positions of live rows that may be among the best `limit` for this unit query.

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
                found.append(self.clusters.search(query, wanted, probes=probes))
            elif kept.positions is not None:
                found.append(kept.positions)  # few rows pass: every one is a candidate
            else:
                bitmap = (kept.bits, kept.passing)
                found.append(self.clusters.search(query, wanted, probes=probes, kept=bitmap))
        if self.pending_rows:
            found.append(self._pending_candidates(query, where, wanted))
        return np.concatenate(found) if found else np.empty(0, dtype=np.int64)

    # Building the ANN index (see `repository.index_keeper`) ---------------------------

    @property
    def needs_ann(self) -> bool:
        """Whether enough rows wait for an ANN index to be trained (see `training_sample`)."""
        return self.clusters is None and self.live_rows >= self.min_ann_rows

    def training_sample(self) -> tuple[np.ndarray, int]:
        """Unit vectors to train an ANN index on (spread over every row), and the row count.

        Safe beside searches: it reads rows that never change.
        """
        size = len(self.rows)
        lists = lists_for(size)
        wanted = min(size, lists * training_per_list(lists))
        positions = np.linspace(0, size - 1, num=wanted).astype(np.int64)
        return unit_rows(self.vectors.take(positions)), size

    def install(self, clusters: ClusterIndex, *, trained_for: int) -> None:
        """Use a newly trained ANN index that holds the first `len(clusters)` rows.

        Rows after those are pending for it (they are scanned exactly until filed).
        """
        self.clusters = clusters
        self.trained_for = trained_for
        self._selections.clear()

    def pending_block(self, most: int) -> PendingBlock | None:
        """Up to `most` pending rows, as unit vectors (safe beside searches)."""
        if self.clusters is None or not self.pending_rows:
            return None
        start = self.ann_rows
        stop = min(len(self.rows), start + most)
        return PendingBlock(start, unit_rows(np.array(self.vectors.block(start, stop))))

    def take_in(self, block: PendingBlock, lists: np.ndarray) -> int:
        """File a pending block whose lists were assigned; rows moved (0 if it is stale)."""
        if self.clusters is None or block.start != self.ann_rows:
            return 0
        self.clusters.add_assigned(block.units, lists)
        self._selections.clear()
        return len(block.units)

    def grow(self, most: int) -> int:
        """Move up to `most` pending rows into the ANN index at once; how many moved."""
        block = self.pending_block(most)
        if block is None:
            return 0
        assert self.clusters is not None
        return self.take_in(block, self.clusters.assign(block.units))

    # Exact scans ----------------------------------------------------------------------

    def _pending_candidates(
        self, query: np.ndarray, where: SearchFilter, wanted: int
    ) -> np.ndarray:
        start, stop = self.ann_rows, len(self.rows)
        scores = exact_scores(
            self.vectors.block(start, stop), self.rows.columns["scale"][start:stop], query
        )
        keep = self.rows.mask(
            start, stop, repo=where.repo, since_us=where.since_us, tier=where.tier
        )
        if keep is not None:
            scores[~keep] = -np.inf
        if len(scores) > wanted:  # keep every row tied with the last one wanted
            floor = np.partition(scores, len(scores) - wanted)[len(scores) - wanted]
            best = np.flatnonzero(scores >= floor - ROUNDING_SLACK)
        else:
            best = np.arange(len(scores))
        return start + best[np.isfinite(scores[best])]


def exact_scores(vectors: np.ndarray, scale: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine of each stored vector to a unit query, given each one's inverse length.

    One matrix product: a vector with no direction (scale 0) scores 0, never NaN.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        dots = vectors @ query
        return np.where(scale > 0, dots * scale, np.float32(0)).astype(np.float32, copy=False)
