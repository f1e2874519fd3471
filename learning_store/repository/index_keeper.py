"""The DuckDB store's in-process vector index, and when to trust, extend or rebuild it."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import Connection

from learning_store.analytics import cost_of
from learning_store.models import ExecutionRecord
from learning_store.repository.sql_similarity import Stamp, load_index, micros, table_stamp
from learning_store.repository.vector_index import RowFacts, VectorIndex
from learning_store.vectors import stack


def facts_of(records: list[ExecutionRecord]) -> RowFacts:
    """What the index keeps beside the vectors of these records."""
    return RowFacts(
        repos=[r.repo for r in records],
        timestamps_us=np.array([micros(r.timestamp) for r in records], dtype=np.int64),
        tiers=[r.model_tier for r in records],
        task_types=[r.task_type for r in records],
        success=[r.success for r in records],
        cost=[cost_of(r) for r in records],
        duration=[r.duration_seconds for r in records],
        quality=[r.quality_score for r in records],
        complexity=[r.complexity_score for r in records],
    )


def facts_of_table(table: pa.Table) -> RowFacts:
    """What the index keeps beside the vectors of rows in the export schema."""

    def column(name: str) -> list[Any]:
        return table.column(name).to_pylist()

    cost = pc.coalesce(table.column("actual_cost"), table.column("cost_estimate"))
    return RowFacts(
        repos=column("repo"),
        timestamps_us=table.column("timestamp").cast(pa.int64()).to_numpy(),
        tiers=column("model_tier"),
        task_types=column("task_type"),
        success=column("success"),
        cost=cost.to_pylist(),
        duration=column("duration_seconds"),
        quality=column("quality_score"),
        complexity=column("complexity_score"),
    )


class IndexKeeper:
    """Loads the index on the first search and keeps it in step with this store's writes.

    A version stamp of the table (row count, newest upload time) tells when another
    connection changed it; the index is then rebuilt. Changes the stamp cannot see
    (deletes, new embeddings) drop the index, so the next search rebuilds it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index: VectorIndex | None = None
        self._stamp: Stamp | None = None

    def current(self, connection: Connection) -> VectorIndex:
        """The index, rebuilt if anything but this store changed the table."""
        with self._lock:
            stamp = table_stamp(connection)
            if self._index is None or stamp != self._stamp:
                self._index, self._stamp = load_index(connection), stamp
            return self._index

    def written(self, records: list[ExecutionRecord], written: int, uploaded_at: datetime) -> None:
        """Add what this store just committed.

        The index holds every stored row that has an embedding, so a record with an
        embedding that the index does not know is one this write stored.
        """
        with self._lock:
            index = self._advanced(written, uploaded_at)
            if index is None:
                return
            new = [r for r in records if r.embedding is not None and r.task_id not in index]
            if new:
                index.add(
                    [r.task_id for r in new], stack([r.embedding for r in new]), facts_of(new)
                )

    def written_arrow(self, table: pa.Table, written: int, uploaded_at: datetime) -> None:
        """Like `written`, for rows written from an Arrow table of the export schema."""
        with self._lock:
            index = self._advanced(written, uploaded_at)
            if index is None:
                return
            ids = table.column("task_id").to_pylist()
            vectors = table.column("embedding").combine_chunks()
            rows = [
                row
                for row, (task_id, present) in enumerate(
                    zip(ids, vectors.is_valid().to_pylist(), strict=True)
                )
                if present and task_id not in index
            ]
            if rows:
                new = table.take(pa.array(rows, pa.int64()))
                matrix = new.column("embedding").combine_chunks().values.to_numpy()
                index.add(
                    [ids[row] for row in rows], matrix.reshape(len(rows), -1), facts_of_table(new)
                )

    def _advanced(self, written: int, uploaded_at: datetime) -> VectorIndex | None:
        """Move the stamp past this store's write; the index to extend, if one is loaded."""
        if self._index is None or self._stamp is None or written == 0:
            return None
        count, newest = self._stamp
        self._stamp = (count + written, max(filter(None, (newest, uploaded_at))))
        return self._index

    def forget(self) -> None:
        """Drop the index after a change its stamp cannot see; the next search rebuilds it."""
        with self._lock:
            self._index = None
