"""The write path of `SqlExecutionRepository`: validated chunks into one transaction each.

On DuckDB a chunk is written from an Arrow table (built from records, or validated as Arrow
by `learning_store.bulk` with no record built). On PostgreSQL a chunk of 8 rows or more is
streamed by binary COPY (from its records, or straight from validated Arrow) and inserted
with `ON CONFLICT DO NOTHING` (see `postgres_copy`); smaller ones take Core `insert()`.
A DuckDB file's write gate is claimed for the chunk's task_ids, and held until the vector
index took in the rows the chunk stored (which the write found out inside its transaction,
so the index never asks the pool for a connection).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import numpy as np
import pyarrow as pa
from sqlalchemy.dialects import postgresql

from learning_store.arrow_codec import records_to_arrow
from learning_store.bulk.validate import ArrowInput, ValidBatch
from learning_store.engine import translated_errors
from learning_store.models import ExecutionRecord
from learning_store.repository.base import RecordInput
from learning_store.repository.batching import (
    Chunk,
    ValidatedChunk,
    arrow_chunks,
    records_of,
    to_record,
    upload_time,
    valid_count,
    validated_chunks,
    write_in_chunks,
)
from learning_store.repository.duckdb_bulk import ARROW_THRESHOLD, insert_from_arrow
from learning_store.repository.duckdb_vectors import (
    row_batch_of_records,
    row_batch_of_table,
    stored_at,
)
from learning_store.repository.sql_core import SqlCore
from learning_store.repository.sql_rows import row_values
from learning_store.results import BatchResult
from learning_store.schema import executions
from learning_store.vector_index.rows import RowBatch

COPY_THRESHOLD = 8
"""PostgreSQL chunks of fewer rows take a plain INSERT: staging costs more than it saves."""
_INSERT_NEW = (
    postgresql.insert(executions)
    .on_conflict_do_nothing(index_elements=["task_id"])
    .returning(executions.c.task_id)
)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Unique rows ready to write, with their upload time: records, an Arrow table, or both.

    On DuckDB the Arrow table is what is written; `records` is None when the rows came
    validated as Arrow (no record was ever built).
    """

    records: builtins.list[ExecutionRecord] | None
    uploaded_at: datetime
    arrow: pa.Table | None

    def task_ids(self) -> builtins.list[UUID] | builtins.list[bytes]:
        """The rows' task_ids (for claiming them in the write gate); from Arrow, as bytes."""
        if self.records is not None:
            return [record.task_id for record in self.records]
        assert self.arrow is not None
        return self.arrow.column("task_id").combine_chunks().storage.to_pylist()


class SqlWriteMethods(SqlCore):
    """Part of `SqlExecutionRepository`: add, add_many and add_arrow."""

    def add(self, record: RecordInput) -> bool:
        """Store one record; False when its task_id is already stored."""
        return self._insert_new(self._prepare(ValidatedChunk([to_record(record)]))) == 1

    def add_many(self, records: Iterable[RecordInput]) -> BatchResult:
        """Validate and store rows chunk by chunk; see `ExecutionRepository.add_many`.

        On DuckDB, chunks of plain dicts are validated column by column into Arrow (see
        `learning_store.bulk`), and on a DuckDB file two chunks are written at once, each
        in its own transaction, while the next is validated.
        """
        chunks = validated_chunks(records, self.batch_size, bulk=self.dialect == "duckdb")
        return self._write_chunks(chunks)

    def add_arrow(self, batches: Iterable[ArrowInput]) -> BatchResult:
        """Validate and store rows given as Arrow; see `ExecutionRepository.add_arrow`."""
        return self._write_chunks(arrow_chunks(batches, self.batch_size))

    def _write_chunks(self, chunks: Iterable[Chunk]) -> BatchResult:
        return write_in_chunks(
            chunks, self._insert_new, prepare=self._prepare, parallel=self.parallel_writes
        )

    def _prepare(self, chunk: Chunk) -> _Chunk:
        """Stamp the upload time and have the Arrow table ready where the write takes one."""
        uploaded_at = upload_time()
        arrow_sized = valid_count(chunk) >= ARROW_THRESHOLD
        if isinstance(chunk, ValidBatch) and arrow_sized:
            return _Chunk(None, uploaded_at, chunk.stamped(uploaded_at))
        records = records_of(chunk)
        arrow = None
        if self.dialect == "duckdb" and arrow_sized:
            arrow = records_to_arrow(records, uploaded_at)
        return _Chunk(records, uploaded_at, arrow)

    def _insert_new(self, chunk: _Chunk) -> int:
        """Write a chunk's records not yet stored in one transaction; return how many.

        On DuckDB the vector index takes in the stored rows before the gate is released.
        """
        claimed = self._claiming(chunk.task_ids())
        with self._guard(), claimed, translated_errors(self._url, "store executions"):
            written, new_ids = self._write(chunk)
            if self._keeper is not None:
                self._keeper.inserted(
                    lambda: _stored_rows(chunk, new_ids), written, chunk.uploaded_at
                )
        return written

    def _copy(self, chunk: _Chunk) -> int:
        """PostgreSQL: store a chunk's new rows by binary COPY (see `postgres_copy`)."""
        from learning_store.repository import postgres_copy  # psycopg: the postgres extra

        if chunk.arrow is not None:
            rows = postgres_copy.rows_of_table(chunk.arrow)
        else:
            assert chunk.records is not None
            rows = (postgres_copy.row_of(dict(r), chunk.uploaded_at) for r in chunk.records)
        with self._engine.begin() as connection:
            return len(postgres_copy.copy_new_rows(connection, rows))

    def _write(self, chunk: _Chunk) -> tuple[int, set[bytes] | None]:
        """Store a chunk's new rows: how many, and (when not all) their ids, 16 bytes each."""
        if chunk.arrow is not None and self.dialect == "duckdb":
            with self._engine.connect() as connection:
                return insert_from_arrow(connection, chunk.arrow, stored_at, chunk.uploaded_at)
        if chunk.arrow is not None or len(chunk.records or ()) >= COPY_THRESHOLD:
            return self._copy(chunk), None
        # Ascending task_id order: concurrent writers then take row locks in one order,
        # so overlapping batches on PostgreSQL wait for each other instead of deadlocking.
        assert chunk.records is not None
        ordered = sorted(chunk.records, key=lambda record: record.task_id.int)
        rows = [row_values(record, chunk.uploaded_at) for record in ordered]
        with self._engine.begin() as connection:
            stored = [key.bytes for key in connection.execute(_INSERT_NEW, rows).scalars()]
        return len(stored), None if len(stored) == len(rows) else set(stored)


def _stored_rows(chunk: _Chunk, new_ids: set[bytes] | None) -> RowBatch:
    """What the vector index keeps of the rows a chunk's write stored (not its repeats)."""
    if chunk.records is None:
        assert chunk.arrow is not None
        batch = row_batch_of_table(chunk.arrow)
    else:
        batch = row_batch_of_records(chunk.records)
    if new_ids is None or len(batch) == 0:
        return batch
    keep = [row for row, raw in enumerate(batch.ids) if raw.tobytes() in new_ids]
    return batch.take(np.array(keep, dtype=np.int64))
