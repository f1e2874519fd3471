"""`SqlExecutionRepository`: the store on DuckDB (embedded default) or PostgreSQL."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from learning_store.arrow_codec import records_to_arrow
from learning_store.models import ExecutionRecord, task_uuid
from learning_store.repository.base import ExecutionFilter, ExecutionRepository
from learning_store.repository.duckdb_export import arrow_batches
from learning_store.repository.duckdb_vectors import micros
from learning_store.repository.index_keeper import (
    positions_before,
    positions_of_ids,
)
from learning_store.repository.row_rules import readable
from learning_store.repository.sql_analytics import SqlAnalyticsMethods
from learning_store.repository.sql_rows import clauses, records_from
from learning_store.repository.sql_search import SqlSearchMethods
from learning_store.repository.sql_upkeep import SqlUpkeepMethods
from learning_store.repository.sql_writes import SqlWriteMethods
from learning_store.schema import executions

log = logging.getLogger(__name__)


class SqlExecutionRepository(
    SqlWriteMethods, SqlSearchMethods, SqlUpkeepMethods, SqlAnalyticsMethods, ExecutionRepository
):
    """Stores executions through SQLAlchemy Core on DuckDB or PostgreSQL.

    Opening checks the schema: a new database is migrated to head, an older one raises
    `SchemaOutOfDateError` with the upgrade command. On DuckDB every operation holds one
    lock, because the single shared connection must not be used by two threads at once.
    """

    def delete_older_than(self, cutoff: datetime) -> int:
        """Delete records with timestamp before `cutoff`; return how many."""
        where = ExecutionFilter(until=cutoff)
        assert where.until is not None
        selector = positions_before(micros(where.until))
        with self._exclusively(), self._guard():
            with self._transaction("delete old executions") as connection:
                deleted = connection.execute(sa.delete(executions).where(*clauses(where))).rowcount
                stamp = self._count_change(connection, deleted)
            if stamp is not None and self._keeper is not None:
                self._keeper.removed(selector, stamp)
            return deleted

    def get(self, task_id: UUID | str) -> ExecutionRecord | None:
        """The record with this task_id, or None."""
        statement = sa.select(executions).where(
            executions.c.task_id == task_uuid(task_id), readable(self.dialect)
        )
        with self._connection("read an execution") as connection:
            rows = connection.execute(statement).mappings().all()
        return next(iter(records_from(rows)), None)

    def existing_ids(self, task_ids: Iterable[UUID]) -> set[UUID]:
        """Which of these task_ids are already stored (on PostgreSQL, 1,000 per query)."""
        keys = builtins.list(task_ids)
        if not keys:
            return set()
        with self._connection("look up task ids") as connection:
            return self._stored_among(connection, keys)

    def list(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        **filters: Any,
    ) -> builtins.list[ExecutionRecord]:
        """Records matching every filter, newest first (ties broken by task_id, descending)."""
        statement = (
            sa.select(executions)
            .where(*self._readable(ExecutionFilter(**filters)))
            .order_by(executions.c.timestamp.desc(), executions.c.task_id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._connection("list executions") as connection:
            rows = connection.execute(statement).mappings().all()
        return records_from(rows)

    def count(self, **filters: Any) -> int:
        """Number of records matching every filter."""
        statement = (
            sa.select(sa.func.count())
            .select_from(executions)
            .where(*self._readable(ExecutionFilter(**filters)))
        )
        with self._connection("count executions") as connection:
            return int(connection.execute(statement).scalar_one())

    def iter_chunks(
        self,
        *,
        chunk_size: int = 1000,
        **filters: Any,
    ) -> Iterator[builtins.list[ExecutionRecord]]:
        """Matching records, oldest first (ties by task_id), streamed `chunk_size` at a time."""
        statement = (
            sa.select(executions)
            .where(*self._readable(ExecutionFilter(**filters)))
            .order_by(executions.c.timestamp, executions.c.task_id)
        )
        with self._connection("read executions") as connection:
            streamed = connection.execution_options(
                stream_results=True, yield_per=chunk_size
            ).execute(statement)
            for chunk in streamed.mappings().partitions():
                yield records_from(chunk)

    def iter_arrow(self, *, batch_rows: int = 65_536, **filters: Any) -> Iterator[pa.RecordBatch]:
        """What `iter_chunks` gives, as Arrow batches of the export schema.

        On DuckDB the engine produces them (no Python object per row); on PostgreSQL they
        are built from the records.
        """
        where = self._readable(ExecutionFilter(**filters))
        with self._connection("read executions") as connection:
            if self.dialect == "duckdb":
                yield from arrow_batches(connection, where, batch_rows)
                return
        for chunk in self.iter_chunks(chunk_size=batch_rows, **filters):
            yield from records_to_arrow(chunk).to_batches()

    def delete(self, task_ids: Iterable[UUID]) -> int:
        """Delete these task_ids in one transaction; return how many existed."""
        keys = [task_uuid(key) for key in task_ids]
        deleted = 0
        raw = np.frombuffer(b"".join(key.bytes for key in keys), dtype=np.uint8).reshape(-1, 16)
        with self._exclusively(), self._guard():
            with self._transaction("delete executions") as connection:
                for start in range(0, len(keys), 1000):
                    statement = sa.delete(executions).where(
                        executions.c.task_id.in_(keys[start : start + 1000])
                    )
                    deleted += connection.execute(statement).rowcount
                stamp = self._count_change(connection, deleted)
            if stamp is not None and self._keeper is not None:
                self._keeper.removed(positions_of_ids(raw), stamp)
        return deleted

    # Lifecycle --------------------------------------------------------------------------
