"""Similarity search for the SQL stores.

DuckDB (one writer process): an in-process `VectorIndex` loaded once through DuckDB's Arrow
export and kept in step with this store's writes. PostgreSQL (many writers, no pgvector
needed): candidates filtered in SQL, vectors streamed in chunks to numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from learning_store.models import EMBEDDING_DIMENSION
from learning_store.repository.duckdb_bulk import compiled
from learning_store.repository.row_rules import readable
from learning_store.repository.vector_index import RowFacts, VectorIndex
from learning_store.schema import executions
from learning_store.similarity import StreamingTopK

SIMILARITY_CHUNK_ROWS = 2_000
"""Vectors scored per chunk when PostgreSQL streams candidates to numpy (~20 MB as the
Python floats the driver returns, 3 MB once converted)."""

Stamp = tuple[int, datetime | None]
"""(row count, newest uploaded_at): changes whenever any connection writes or deletes."""

_INDEXED = sa.select(
    executions.c.task_id,
    executions.c.repo,
    executions.c.timestamp,
    executions.c.embedding,
    executions.c.model_tier,
    executions.c.task_type,
    executions.c.success,
    sa.func.coalesce(executions.c.actual_cost, executions.c.cost_estimate).label("cost"),
    executions.c.duration_seconds,
    executions.c.quality_score,
    executions.c.complexity_score,
).where(executions.c.embedding.is_not(None), readable("duckdb"))
_STAMP = sa.select(sa.func.count(), sa.func.max(executions.c.uploaded_at))


def table_stamp(connection: Connection) -> Stamp:
    """The table's current version stamp."""
    count, newest = connection.exec_driver_sql(compiled(_STAMP, connection.dialect)).one()
    return int(count), newest


_WITHOUT_VECTOR = [column for column in executions.c if column.name != "embedding"]
_WITHOUT_VECTOR_NAMES = [column.name for column in _WITHOUT_VECTOR]
_ROWS_BY_ID = sa.select(*_WITHOUT_VECTOR).where(
    executions.c.task_id.in_(
        sa.select(sa.func.unnest(sa.cast(sa.bindparam("task_ids"), sa.ARRAY(sa.Uuid()))))
    )
)


def rows_without_vector(connection: Connection, task_ids: Sequence[UUID]) -> list[dict[str, Any]]:
    """DuckDB: every column but the embedding (the index holds it) of these task_ids' rows.

    One statement compiled once, run on the driver: a search reads its winners on every
    call, and compiling plus type processing through SQLAlchemy cost ~1 ms of its ~9 ms.
    The driver already returns each value as the model takes it, JSON as parsed objects.
    """
    if not task_ids:
        return []
    sql = compiled(_ROWS_BY_ID, connection.dialect)
    result = connection.exec_driver_sql(sql, ([str(task_id) for task_id in task_ids],))
    return [dict(zip(_WITHOUT_VECTOR_NAMES, values, strict=True)) for values in result]


def load_index(connection: Connection) -> VectorIndex:
    """Every stored embedding, read as one Arrow table (no per-number Python conversion)."""
    raw: Any = connection.connection.driver_connection
    sql = str(_INDEXED.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    table: pa.Table = raw.sql(sql).to_arrow_table()
    index = VectorIndex()
    if table.num_rows:
        vectors = table.column("embedding").combine_chunks().flatten().to_numpy()
        matrix = vectors.reshape(-1, EMBEDDING_DIMENSION).astype(np.float32, copy=False)
        finite = np.isfinite(matrix).all(axis=1)  # NaN written by another tool: not searchable
        if not finite.all():
            table, matrix = table.filter(pa.array(finite)), matrix[finite]
        column = table.column
        facts = RowFacts(
            repos=column("repo").to_pylist(),
            timestamps_us=column("timestamp")
            .cast(pa.timestamp("us", tz="UTC"))
            .cast(pa.int64())
            .to_numpy(),
            tiers=column("model_tier").to_pylist(),
            task_types=column("task_type").to_pylist(),
            success=column("success").to_pylist(),
            cost=column("cost").to_pylist(),
            duration=column("duration_seconds").to_pylist(),
            quality=column("quality_score").to_pylist(),
            complexity=column("complexity_score").to_pylist(),
        )
        index.add([UUID(str(value)) for value in column("task_id").to_pylist()], matrix, facts)
    return index


def micros(moment: datetime) -> int:
    """Microseconds since the epoch (the index's timestamp unit)."""
    return int(moment.astimezone(UTC).timestamp() * 1_000_000)


def streamed_matches(
    connection: Connection,
    query: np.ndarray,
    clauses: Sequence[sa.ColumnElement[bool]],
    limit: int,
    threshold: float,
) -> list[tuple[UUID, float]]:
    """Filter in SQL, stream (task_id, embedding) in chunks, keep the best with numpy."""
    found = _streamed(connection, query, clauses, limit, threshold, lambda _tier: "")
    return found.get("", [])


def streamed_matches_per_tier(
    connection: Connection,
    query: np.ndarray,
    clauses: Sequence[sa.ColumnElement[bool]],
    limit: int,
    threshold: float,
) -> dict[str, list[tuple[UUID, float]]]:
    """Like `streamed_matches`, but the best `limit` of each model tier."""
    return _streamed(connection, query, clauses, limit, threshold, lambda tier: tier)


def _streamed(
    connection: Connection,
    query: np.ndarray,
    clauses: Sequence[sa.ColumnElement[bool]],
    limit: int,
    threshold: float,
    group_of: Callable[[str], str],
) -> dict[str, list[tuple[UUID, float]]]:
    candidates = sa.select(
        executions.c.task_id, executions.c.model_tier, executions.c.embedding
    ).where(
        *clauses,
        executions.c.embedding.is_not(None),
        sa.func.cardinality(executions.c.embedding) == EMBEDDING_DIMENSION,
    )
    best: dict[str, StreamingTopK] = {}
    streamed = connection.execution_options(
        stream_results=True, yield_per=SIMILARITY_CHUNK_ROWS
    ).execute(candidates)
    while chunk := streamed.fetchmany(SIMILARITY_CHUNK_ROWS):
        groups = [group_of(tier) for _, tier, _ in chunk]
        task_ids = [task_id for task_id, _, _ in chunk]
        matrix = np.array([vector for _, _, vector in chunk], dtype=np.float32)
        del chunk  # release the driver's Python floats before the next fetch
        finite = np.isfinite(matrix).all(axis=1)  # NaN written by another tool: not searchable
        for group in set(groups):
            rows = [row for row, name in enumerate(groups) if name == group and finite[row]]
            keeper = best.setdefault(group, StreamingTopK(query, limit, threshold))
            keeper.add([task_ids[row] for row in rows], matrix[rows])
    found = {group: keeper.result() for group, keeper in best.items()}
    return {group: matches for group, matches in found.items() if matches}
