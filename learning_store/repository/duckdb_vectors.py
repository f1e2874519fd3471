"""What the DuckDB store reads for its vector index: stamps, indexable rows, candidates.

Everything here goes through DuckDB's Arrow export or one precompiled statement on the
driver, because a search runs these on every call and a load reads every stored vector.

The table's version stamp is its row count, its newest upload, and a change generation kept
in `learning_store_settings`, which every change the count and uploads cannot reveal
(deletes, new embeddings) bumps in its own transaction. A saved or loaded index records
the stamp it reflects; a different stamp means catch up or rebuild, never a stale answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from learning_store.models import EMBEDDING_DIMENSION, ExecutionRecord
from learning_store.repository.duckdb_bulk import compiled
from learning_store.repository.duckdb_export import UUID_BYTES
from learning_store.repository.row_rules import readable
from learning_store.schema import executions, store_settings
from learning_store.similarity import StreamingTopK
from learning_store.vector_index.files import TableStamp
from learning_store.vector_index.rows import RowBatch
from learning_store.vectors import stack

EXACT_BATCH_ROWS = 65_536
"""Rows per Arrow batch when an exact search reads every candidate vector."""
GENERATION_SETTING = "data_generation"
"""The `learning_store_settings` row counting changes that a row count cannot reveal."""

_GENERATION = (
    sa.select(store_settings.c.value)
    .where(store_settings.c.name == GENERATION_SETTING)
    .scalar_subquery()
)
_STAMP = sa.select(sa.func.count(), sa.func.max(executions.c.uploaded_at), _GENERATION).select_from(
    executions
)
_BUMP = (
    postgresql.insert(store_settings)
    .values(name=GENERATION_SETTING, value="1")
    .on_conflict_do_update(
        index_elements=["name"],
        set_={"value": sa.cast(sa.cast(store_settings.c.value, sa.BigInteger) + 1, sa.String)},
    )
)
_NEWEST = sa.bindparam("newest", type_=sa.DateTime(timezone=True))
_INDEXED_COLUMNS = (
    UUID_BYTES.label("task_id"),
    executions.c.timestamp,
    executions.c.repo,
    executions.c.model_tier,
    executions.c.task_type,
    executions.c.success,
    sa.func.coalesce(executions.c.actual_cost, executions.c.cost_estimate).label("cost"),
    executions.c.duration_seconds,
    executions.c.quality_score,
    executions.c.complexity_score,
    executions.c.embedding,
)
"""What the index keeps of a row (see `RowBatch`), named as `row_batch_of_table` reads it."""
_INDEXED = sa.select(*_INDEXED_COLUMNS).where(
    executions.c.embedding.is_not(None), readable("duckdb")
)
_WITHOUT_VECTOR = [column for column in executions.c if column.name != "embedding"]
_IN_IDS = executions.c.task_id.in_(
    sa.select(sa.func.unnest(sa.cast(sa.bindparam("task_ids"), sa.ARRAY(sa.Uuid()))))
)
_ROWS_BY_ID = {
    True: (sa.select(executions).where(_IN_IDS), [c.name for c in executions.c]),
    False: (sa.select(*_WITHOUT_VECTOR).where(_IN_IDS), [c.name for c in _WITHOUT_VECTOR]),
}


_ROWS_STAMP = sa.select(sa.func.count(), sa.func.max(executions.c.uploaded_at)).select_from(
    executions
)


def rows_stamp(connection: Connection) -> tuple[int, datetime | None]:
    """(row count, newest upload): what a search compares, every time (~0.35 ms at 1M rows).

    The change generation is left out (reading it doubled the cost): within a process,
    every change that bumps it goes through the shared index, and no other process can
    write a DuckDB file this one holds open; a load reads the whole `table_stamp`.
    """
    sql = compiled(_ROWS_STAMP, connection.dialect)
    ((count, newest),) = _driver(connection).execute(sql).fetchall()
    return int(count), newest


def table_stamp(connection: Connection) -> TableStamp:
    """The table's current version stamp (as this connection's transaction sees it)."""
    sql = compiled(_STAMP, connection.dialect)
    ((count, newest, generation),) = (
        _driver(connection).execute(sql, (GENERATION_SETTING,)).fetchall()
    )
    return TableStamp(int(count), newest, int(generation or 0))


def bump_generation(connection: Connection) -> None:
    """Count a change that the row count and uploads cannot reveal (in its transaction)."""
    connection.execute(_BUMP)


def rows_uploaded_after(connection: Connection, newest: datetime) -> int:
    """How many rows, with an embedding or not, were uploaded after `newest`."""
    statement = (
        sa.select(sa.func.count()).select_from(executions).where(executions.c.uploaded_at > _NEWEST)
    )
    return int(connection.execute(statement, {"newest": newest}).scalar_one())


def indexable_rows(connection: Connection, newest: datetime | None = None) -> Iterator[RowBatch]:
    """Every stored embedding (uploaded after `newest`, if given), read through Arrow.

    Streamed in batches, so a load of a million rows never holds two copies of them.
    """
    statement = _INDEXED if newest is None else _INDEXED.where(executions.c.uploaded_at > _NEWEST)
    params = {} if newest is None else {"newest": newest}
    for batch in _arrow_batches(connection, statement, params):
        yield row_batch_of_table(pa.Table.from_batches([batch]))


def indexable_rows_of(connection: Connection, task_ids: Sequence[UUID]) -> RowBatch:
    """What the index keeps of these rows (those with a usable embedding), read at once."""
    if not task_ids:
        return row_batch_of_table(pa.table({}))
    table = connection_arrow(
        connection, _INDEXED.where(_IN_IDS), {"task_ids": [str(key) for key in task_ids]}
    )
    return row_batch_of_table(table)


def rows_by_id(
    connection: Connection, task_ids: Sequence[UUID], *, with_vector: bool = True
) -> list[dict[str, Any]]:
    """The columns of these task_ids' rows, as the model reads them.

    `with_vector=False` leaves out the embedding, which costs more to read than all the
    other columns together.

    One statement compiled once, run on the driver (see `_driver`): a search reads its
    winners on every call.
    """
    if not task_ids:
        return []
    statement, names = _ROWS_BY_ID[with_vector]
    sql = compiled(statement, connection.dialect)
    result = _driver(connection).execute(sql, ([str(task_id) for task_id in task_ids],))
    rows = [dict(zip(names, values, strict=True)) for values in result.fetchall()]
    for row in rows:  # the driver gives JSON as its text
        if isinstance(row["metadata"], str):
            row["metadata"] = json.loads(row["metadata"])
    return rows


_STORED_NOW = sa.select(UUID_BYTES).where(
    executions.c.uploaded_at == sa.bindparam("uploaded_at", type_=sa.DateTime(timezone=True))
)


def stored_at(connection: Connection, uploaded_at: datetime) -> set[bytes]:
    """task_ids (16 bytes each) of the rows uploaded at this moment: one write's new rows.

    Every write of a process stamps a distinct upload time (see `batching.upload_time`).
    """
    table = connection_arrow(connection, _STORED_NOW, {"uploaded_at": uploaded_at})
    column = table.column(0).combine_chunks()
    if isinstance(column, pa.ExtensionArray):
        column = column.storage
    return set(column.cast(pa.binary(16)).to_pylist())


def exact_matches(
    connection: Connection,
    query: np.ndarray,
    where: Sequence[sa.ColumnElement[bool]],
    limit: int,
    threshold: float,
    group_of: Callable[[str], str],
) -> dict[str, list[tuple[UUID, float]]]:
    """Exact search over every row passing `where`, streamed as Arrow batches."""
    statement = sa.select(*_INDEXED_COLUMNS).where(*where, executions.c.embedding.is_not(None))
    best: dict[str, StreamingTopK] = {}
    for batch in _arrow_batches(connection, statement, {}):
        rows = row_batch_of_table(pa.Table.from_batches([batch]))
        groups = np.array([group_of(tier) for tier in rows.tiers], dtype=object)
        for group in set(groups.tolist()):
            chosen = np.flatnonzero(groups == group)
            keeper = best.setdefault(group, StreamingTopK(query, limit, threshold))
            keeper.add([_uuid(rows.ids[row]) for row in chosen], rows.vectors[chosen])
    found = {group: keeper.result() for group, keeper in best.items()}
    return {group: matches for group, matches in found.items() if matches}


def row_batch_of_table(table: pa.Table) -> RowBatch:
    """Index rows from Arrow columns named like the table's.

    Rows with NaN or ±inf in their vector (another tool's) are left out: they cannot be
    searched.
    """
    if table.num_rows == 0:
        return _empty_batch()
    vectors = table.column("embedding").combine_chunks()
    present = vectors.is_valid()
    if present.false_count:
        table, vectors = table.filter(present), vectors.filter(present)
    matrix = (
        vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    ).reshape(-1, EMBEDDING_DIMENSION)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        table, matrix = table.filter(pa.array(finite)), matrix[finite]
    ids = table.column("task_id").combine_chunks()
    if isinstance(ids, pa.ExtensionArray):
        ids = ids.storage
    if ids.type != pa.binary(16):
        ids = ids.cast(pa.binary(16))
    raw = np.frombuffer(ids.buffers()[1], dtype=np.uint8)
    start = ids.offset * 16
    times = table.column("timestamp").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return RowBatch(
        ids=raw[start : start + 16 * len(ids)].reshape(-1, 16),
        vectors=matrix,
        timestamps_us=times.to_numpy(),
        repos=table.column("repo").to_pylist(),
        tiers=table.column("model_tier").to_pylist(),
        task_types=table.column("task_type").to_pylist(),
        success=_numbers(table, "success", np.bool_),
        cost=_numbers(table, "cost", np.float64),
        duration=_numbers(table, "duration_seconds", np.float64),
        quality=_numbers(table, "quality_score", np.float64),
        complexity=_numbers(table, "complexity_score", np.float64),
    )


def _numbers(table: pa.Table, name: str, dtype: Any) -> np.ndarray:
    """A column as a numpy array; NULLs become NaN (only quality may be NULL).

    "cost" is the actual cost, else the estimate: a column of that name when the index's
    own query read the table, else worked out from a written batch's two cost columns.
    """
    if name == "cost" and name not in table.column_names:
        column = pc.coalesce(table.column("actual_cost"), table.column("cost_estimate"))
    else:
        column = table.column(name)
    column = column.combine_chunks()
    if dtype is not np.bool_:
        column = column.cast(pa.float64())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=dtype)


def row_batch_of_records(records: Sequence[ExecutionRecord]) -> RowBatch:
    """Index rows for records that have an embedding."""
    with_vectors = [record for record in records if record.embedding is not None]
    if not with_vectors:
        return _empty_batch()
    ids = np.frombuffer(b"".join(r.task_id.bytes for r in with_vectors), dtype=np.uint8)
    return RowBatch(
        ids=ids.reshape(-1, 16),
        vectors=stack([r.embedding for r in with_vectors if r.embedding is not None]),
        timestamps_us=np.array([micros(r.timestamp) for r in with_vectors], dtype=np.int64),
        repos=[r.repo for r in with_vectors],
        tiers=[r.model_tier for r in with_vectors],
        task_types=[r.task_type for r in with_vectors],
        success=np.array([r.success for r in with_vectors], dtype=np.bool_),
        cost=np.array([_cost(r) for r in with_vectors], dtype=np.float64),
        duration=np.array([r.duration_seconds for r in with_vectors], dtype=np.float64),
        quality=np.array([_or_nan(r.quality_score) for r in with_vectors], dtype=np.float64),
        complexity=np.array([r.complexity_score for r in with_vectors], dtype=np.float64),
    )


def _cost(record: ExecutionRecord) -> float:
    return record.cost_estimate if record.actual_cost is None else record.actual_cost


def _or_nan(value: float | None) -> float:
    return np.nan if value is None else value


def micros(moment: datetime) -> int:
    """Microseconds since the epoch (the index's timestamp unit), exactly."""
    return (moment.astimezone(UTC) - _EPOCH) // _MICROSECOND


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _empty_batch() -> RowBatch:
    nothing = np.empty(0, dtype=np.float64)
    return RowBatch(
        ids=np.empty((0, 16), dtype=np.uint8),
        vectors=np.empty((0, EMBEDDING_DIMENSION), dtype=np.float32),
        timestamps_us=np.empty(0, dtype=np.int64),
        repos=[],
        tiers=[],
        task_types=[],
        success=np.empty(0, dtype=np.bool_),
        cost=nothing,
        duration=nothing,
        quality=nothing,
        complexity=nothing,
    )


def _driver(connection: Connection) -> Any:
    """The DuckDB connection under SQLAlchemy's, in the same transaction.

    A search runs two statements; through SQLAlchemy's result wrappers they took 0.9 and
    2.5 ms at a million rows, on the driver 0.4 and 1.4 ms.
    """
    return connection.connection.driver_connection


def _uuid(raw: np.ndarray) -> UUID:
    return UUID(bytes=raw.tobytes())


def connection_arrow(
    connection: Connection, statement: sa.Select[Any], params: dict[str, Any]
) -> pa.Table:
    """A query's result as an Arrow table, straight from the DuckDB driver."""
    sql, values = _driver_call(statement, connection, params)
    return _driver(connection).sql(sql, params=values).to_arrow_table()


def _arrow_batches(
    connection: Connection, statement: sa.Select[Any], params: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    sql, values = _driver_call(statement, connection, params)
    yield from _driver(connection).sql(sql, params=values).to_arrow_reader(EXACT_BATCH_ROWS)


def _driver_call(
    statement: sa.Select[Any], connection: Connection, params: dict[str, Any]
) -> tuple[str, list[Any]]:
    """SQL and positional parameters for the DuckDB driver, which Arrow exports come from."""
    compiled_statement = statement.compile(dialect=connection.dialect)
    values = {**compiled_statement.params, **params}
    return str(compiled_statement), [values[name] for name in compiled_statement.positiontup or []]
