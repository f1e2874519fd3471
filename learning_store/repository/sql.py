"""`SqlExecutionRepository`: the store on DuckDB (embedded default) or PostgreSQL."""

from __future__ import annotations

import builtins
import contextlib
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from uuid import UUID

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
    SimilarExecution,
)
from learning_store.repository.base import ExecutionFilter
from learning_store.repository.duckdb_bulk import stored_ids
from learning_store.repository.duckdb_export import arrow_batches
from learning_store.repository.index_keeper import IndexKeeper
from learning_store.repository.row_rules import readable
from learning_store.repository.sql_analytics import SqlAnalyticsMethods
from learning_store.repository.sql_rows import clauses, records_from
from learning_store.repository.sql_similarity import (
    rows_without_vector,
    streamed_matches,
    streamed_matches_per_tier,
)
from learning_store.repository.sql_upkeep import SqlUpkeepMethods
from learning_store.repository.sql_writes import SqlWriteMethods
from learning_store.repository.write_gate import WriteGate, gate_for_file
from learning_store.schema import executions
from learning_store.similarity import query_vector
from learning_store.urls import duckdb_path


class SqlExecutionRepository(
    RecommendsTiers, SqlWriteMethods, SqlUpkeepMethods, SqlAnalyticsMethods
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
        self._index = IndexKeeper()  # DuckDB only: loaded on the first search
        path = duckdb_path(self._engine.url) if self.dialect == "duckdb" else None
        self._gate: WriteGate | None = None if path is None else gate_for_file(path)
        """DuckDB files only: keeps overlapping writers of this process from colliding."""
        with self._exclusively(), self._connection("check the schema") as connection:
            ensure_current_schema(connection, self._url, create=migrate)
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
        with self._exclusively(), self._transaction("delete old executions") as connection:
            self._index.forget()
            statement = sa.delete(executions).where(*clauses(where))
            return connection.execute(statement).rowcount

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

    def find_similar(
        self,
        embedding: Any,
        *,
        repo: str | None = None,
        limit: int = 10,
        days_back: int = 90,
        threshold: float = 0.7,
    ) -> builtins.list[SimilarExecution]:
        """Exact cosine search: an in-process index on DuckDB, streamed numpy on PostgreSQL."""
        return self._search(embedding, repo, limit, days_back, threshold, per_tier=False).get(
            "", []
        )

    def find_similar_per_tier(
        self,
        embedding: Any,
        *,
        repo: str | None = None,
        limit: int = 10,
        days_back: int = 90,
        threshold: float = 0.7,
    ) -> dict[str, builtins.list[SimilarExecution]]:
        """The best `limit` of each model tier: one scoring pass, one read of the winners."""
        return self._search(embedding, repo, limit, days_back, threshold, per_tier=True)

    def _search(
        self,
        embedding: Any,
        repo: str | None,
        limit: int,
        days_back: int,
        threshold: float,
        *,
        per_tier: bool,
    ) -> dict[str, builtins.list[SimilarExecution]]:
        """Matches grouped by model tier, or all under "" (one read of every winner)."""
        query = query_vector(embedding)
        if limit <= 0:
            return {}
        since = datetime.now(UTC) - timedelta(days=days_back)
        with self._connection("search similar executions") as connection:
            if self.dialect == "duckdb":
                index = self._index.current(connection)
                search = index.search_per_tier if per_tier else index.search
                found = search(query, repo=repo, since=since, limit=limit, threshold=threshold)
                ranked = found if per_tier else {"": found}
                chosen = [task_id for matches in ranked.values() for task_id, _ in matches]
                rows = rows_without_vector(connection, chosen)
                for row in rows:  # the index holds each embedding exactly as stored
                    row["embedding"] = index.vector(row["task_id"])
            else:
                where = self._readable(ExecutionFilter(repo=repo, since=since))
                if per_tier:
                    ranked = streamed_matches_per_tier(connection, query, where, limit, threshold)
                else:
                    ranked = {"": streamed_matches(connection, query, where, limit, threshold)}
                chosen = [task_id for matches in ranked.values() for task_id, _ in matches]
                statement = sa.select(executions).where(executions.c.task_id.in_(chosen))
                rows = connection.execute(statement).mappings().all() if chosen else []
        records = {record.task_id: record for record in records_from(rows)}
        # A row deleted by another connection between the search and the read is left out.
        return {
            group: [
                SimilarExecution(records[key], score) for key, score in matches if key in records
            ]
            for group, matches in ranked.items()
        }

    def similar_outcomes(
        self,
        embedding: Any,
        *,
        repo: str | None,
        limit: int,
        days_back: int,
        now: datetime,
    ) -> dict[str, builtins.list[Neighbour]]:
        """On DuckDB, straight from the in-process index, which keeps what advice reads."""
        if self.dialect != "duckdb":
            return super().similar_outcomes(
                embedding, repo=repo, limit=limit, days_back=days_back, now=now
            )
        query = query_vector(embedding)
        with self._connection("search similar executions") as connection:
            index = self._index.current(connection)
        return index.neighbours_per_tier(
            query,
            repo=repo,
            since=now - timedelta(days=days_back),
            limit=limit,
            threshold=0.0,
            now=now,
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
        with self._exclusively(), self._transaction("delete executions") as connection:
            self._index.forget()
            for start in range(0, len(keys), 1000):
                statement = sa.delete(executions).where(
                    executions.c.task_id.in_(keys[start : start + 1000])
                )
                deleted += connection.execute(statement).rowcount
        return deleted

    # Lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Dispose of the engine's connections (idempotent)."""
        if not self._closed:
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
