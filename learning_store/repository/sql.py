"""`SqlExecutionRepository`: the store on DuckDB (embedded default) or PostgreSQL."""

from __future__ import annotations

import builtins
import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any, Self
from uuid import UUID

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import StaticPool

from learning_store.advice.estimator import Neighbour
from learning_store.advice.recommend import RecommendsTiers
from learning_store.arrow_codec import records_to_arrow
from learning_store.config import LearningConfig
from learning_store.engine import create_engine_for, translated_errors
from learning_store.migrations import ensure_current_schema
from learning_store.models import (
    ExecutionRecord,
)
from learning_store.repository.base import ExecutionFilter
from learning_store.repository.duckdb_bulk import stored_ids
from learning_store.repository.duckdb_export import arrow_batches
from learning_store.repository.duckdb_vectors import bump_generation, micros, table_stamp
from learning_store.repository.index_keeper import (
    IndexKeeper,
    IndexSettings,
    StoreLink,
    positions_before,
    positions_of_ids,
)
from learning_store.repository.pgvector_search import (
    MISSING_WARNING,
    has_vector_index,
)
from learning_store.repository.row_rules import readable
from learning_store.repository.shared_index import release_keeper, shared_keeper
from learning_store.repository.sql_analytics import SqlAnalyticsMethods
from learning_store.repository.sql_rows import clauses, records_from
from learning_store.repository.sql_search import SqlSearchMethods
from learning_store.repository.sql_upkeep import SqlUpkeepMethods
from learning_store.repository.sql_writes import SqlWriteMethods
from learning_store.repository.write_gate import WriteGate, gate_for_file
from learning_store.schema import executions
from learning_store.urls import duckdb_path
from learning_store.vector_index import files as index_files
from learning_store.vector_index.files import TableStamp

log = logging.getLogger(__name__)


class SqlExecutionRepository(
    RecommendsTiers, SqlWriteMethods, SqlSearchMethods, SqlUpkeepMethods, SqlAnalyticsMethods
):
    """Stores executions through SQLAlchemy Core on DuckDB or PostgreSQL.

    Opening checks the schema: a new database is migrated to head, an older one raises
    `SchemaOutOfDateError` with the upgrade command. On DuckDB every operation holds one
    lock, because the single shared connection must not be used by two threads at once.
    """

    def __init__(
        self,
        url_or_engine: str | URL | Engine,
        *,
        config: LearningConfig | None = None,
        batch_size: int | None = None,
        migrate: bool = True,
    ) -> None:
        settings = config or LearningConfig()
        self.batch_size = batch_size or settings.batch_size
        if isinstance(url_or_engine, Engine):
            self._engine = url_or_engine
            self._url: str | URL = url_or_engine.url
        else:
            self._url = url_or_engine
            with translated_errors(self._url, "open the database"):
                self._engine = create_engine_for(url_or_engine, settings)
        self.dialect = self._engine.dialect.name
        single_connection = isinstance(self._engine.pool, StaticPool)
        self._lock = threading.RLock() if single_connection else None
        self.parallel_writes = 1 if single_connection else 2
        """Chunks of one batch written at once (each its own transaction)."""
        self._closed = False
        path = duckdb_path(self._engine.url) if self.dialect == "duckdb" else None
        self._gate: WriteGate | None = None if path is None else gate_for_file(path)
        """DuckDB files only: keeps overlapping writers of this process from colliding."""
        self._probes = settings.ann_probes
        self._keeper: IndexKeeper | None = None
        """DuckDB only: the vector index, shared by every store of this process on a file."""
        self._link: StoreLink | None = None
        with self._exclusively(), self._connection("check the schema") as connection:
            ensure_current_schema(connection, self._url, create=migrate)
            self._pgvector = self.dialect == "postgresql" and has_vector_index(connection)
        if self.dialect == "postgresql" and not self._pgvector:
            log.warning(MISSING_WARNING)
        self._pgvector_ef_search = settings.pgvector_ef_search
        if self.dialect == "duckdb":
            self._attach_index(path, settings)
        if self.parallel_writes > 1:
            self._warm_pool()

    def _attach_index(self, path: Path | None, settings: LearningConfig) -> None:
        """Join the vector index of this DuckDB database (a file's is shared in-process)."""
        if path is None:  # an in-memory database: its own index, its one connection's lock
            lock = self._lock
            assert lock is not None
            self._link = StoreLink(self._engine.connect, lambda: lock, lambda: False, True)
            self._keeper = IndexKeeper(IndexSettings(None, settings.ann_min_rows))
            self._keeper.attach(self._link)
        else:
            gate = self._gate
            assert gate is not None
            self._link = StoreLink(self._engine.connect, gate.exclusive, lambda: gate.busy)
            folder = index_files.folder_for(path)
            self._keeper = shared_keeper(
                path, IndexSettings(folder, settings.ann_min_rows), self._link
            )

    def _reopen_file(self) -> None:
        """DuckDB files: close the pooled connections so the next one reopens the file.

        DuckDB keeps a file open while any connection to it is; if another store of this
        process holds one, this changes nothing. In-memory databases are left alone (closing
        their one connection would drop them).
        """
        if self._gate is None:
            return
        self._engine.dispose()
        if self.parallel_writes > 1:
            self._warm_pool()

    def _warm_pool(self) -> None:
        """Open the connections parallel writes use now, not inside the first batch."""
        with contextlib.ExitStack() as stack:
            for _ in range(self.parallel_writes):
                stack.enter_context(self._engine.connect())

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for migrations and tools; prefer the repository methods)."""
        return self._engine

    # Writes: see `SqlWriteMethods`; deletes ----------------------------------------------

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

    def _count_change(self, connection: Connection, changed: int) -> TableStamp | None:
        """DuckDB: bump the change generation in this transaction; the table's stamp after.

        Called holding the write gate exclusively, so no other write is in flight and the
        stamp is exactly the one the change leaves.
        """
        if self._keeper is None or changed <= 0:
            return None
        bump_generation(connection)
        return table_stamp(connection)

    # Reads ------------------------------------------------------------------------------

    def get(self, task_id: UUID | str) -> ExecutionRecord | None:
        """The record with this task_id, or None."""
        statement = sa.select(executions).where(
            executions.c.task_id == UUID(str(task_id)), readable(self.dialect)
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

    def _stored_among(self, connection: Connection, keys: builtins.list[UUID]) -> set[UUID]:
        if not keys:
            return set()
        if self.dialect == "duckdb":
            return stored_ids(connection, keys)
        found: set[UUID] = set()
        for start in range(0, len(keys), 1000):
            statement = sa.select(executions.c.task_id).where(
                executions.c.task_id.in_(keys[start : start + 1000])
            )
            found.update(connection.execute(statement).scalars())
        return found

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

    def similar_outcomes(
        self,
        embedding: Any,
        *,
        repo: str | None,
        limit: int,
        days_back: int,
        now: datetime,
    ) -> dict[str, builtins.list[Neighbour]]:
        """Each tier's most similar past executions; on DuckDB without building records."""
        if self.dialect == "duckdb":
            found = self._neighbours(embedding, repo, limit, days_back, now)
            if found is not None:
                return found
        return super().similar_outcomes(
            embedding, repo=repo, limit=limit, days_back=days_back, now=now
        )

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
        keys = [UUID(str(key)) for key in task_ids]
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

    def close(self) -> None:
        """Dispose of the engine's connections (idempotent).

        The last store of a DuckDB database in this process first finishes its vector
        index and saves it next to the file, so the next process loads it.
        """
        if self._closed:
            return
        if self._keeper is not None and self._link is not None:
            if self._gate is None:
                self._keeper.detach(self._link)
                self._keeper.close()
            else:
                release_keeper(self._keeper, self._link)
        self._closed = True
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _connection(self, action: str) -> Iterator[Connection]:
        with self._guard(), translated_errors(self._url, action), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _transaction(self, action: str) -> Iterator[Connection]:
        with self._guard(), translated_errors(self._url, action), self._engine.begin() as conn:
            yield conn

    def _claiming(
        self, task_ids: Iterable[UUID | bytes]
    ) -> contextlib.AbstractContextManager[None]:
        """Hold these task_ids in the file's write gate (DuckDB files; a no-op elsewhere)."""
        if self._gate is None:
            return nullcontext()
        keys = {key if isinstance(key, bytes) else key.bytes for key in task_ids}
        return self._gate.claim(keys)

    def _exclusively(self) -> contextlib.AbstractContextManager[None]:
        """Hold the file's whole write gate, for writes whose rows are not known in advance."""
        return nullcontext() if self._gate is None else self._gate.exclusive()

    def _readable(self, where: ExecutionFilter) -> builtins.list[sa.ColumnElement[bool]]:
        """A filter's conditions plus the record rules (see `row_rules`)."""
        return [readable(self.dialect), *clauses(where)]

    def _guard(self) -> threading.RLock | nullcontext[None]:
        if self._closed:
            raise ValueError("this repository is closed; create a new one to keep working")
        return self._lock or nullcontext()
