"""What every part of `SqlExecutionRepository` stands on: the engine, its connections, locks.

The store's methods are grouped by what they do (`sql_writes`, `sql_search`,
`sql_upkeep`, `sql_analytics`, and the reads and deletes in `sql`); each group is a class
built on `SqlCore`, so it sees the connection helpers as its own and never imports the
store it ends up in. Mixins rather than collaborators: every group needs the same
connections, write gate, locks and vector index, which the store owns once.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Self
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import StaticPool

from learning_store.config import LearningConfig
from learning_store.engine import create_engine_for, translated_errors
from learning_store.migrations import ensure_current_schema
from learning_store.repository.base import ExecutionFilter
from learning_store.repository.duckdb_bulk import stored_ids
from learning_store.repository.duckdb_vectors import bump_generation, table_stamp
from learning_store.repository.index_keeper import (
    IndexKeeper,
    IndexSettings,
    StoreLink,
)
from learning_store.repository.pgvector_search import (
    INDEX_MISSING_WARNING,
    MISSING_WARNING,
    has_vector_index,
    pgvector_installed,
)
from learning_store.repository.row_rules import readable
from learning_store.repository.shared_index import release_keeper, shared_keeper
from learning_store.repository.sql_rows import clauses
from learning_store.repository.write_gate import WriteGate, gate_for_file
from learning_store.schema import executions
from learning_store.urls import duckdb_path
from learning_store.vector_index import files as index_files
from learning_store.vector_index.files import TableStamp

log = logging.getLogger(__name__)


class SqlCore:
    """Opens the database (checking its schema) and hands out connections and gates.

    On DuckDB every operation of an in-memory database holds one lock, because its single
    shared connection must not be used by two threads at once.
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
            installed = (
                not self._pgvector
                and self.dialect == "postgresql"
                and pgvector_installed(connection)
            )
        if self.dialect == "postgresql" and not self._pgvector:
            log.warning(INDEX_MISSING_WARNING if installed else MISSING_WARNING)
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
