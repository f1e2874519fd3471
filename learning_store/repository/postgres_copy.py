"""PostgreSQL's bulk write: binary COPY into a staging table, then one INSERT of the new rows.

`INSERT ... VALUES` sends every embedding as 384 bound floats and stored ~1,200 rows/s;
COPY streams rows in PostgreSQL's binary format (vectors packed by numpy, see
`postgres_vectors`), and a single `INSERT ... SELECT ... ON CONFLICT DO NOTHING` keeps
the store's rule that a repeated task_id is skipped, never overwritten. The staging table
is a per-session temporary table emptied at every commit, so concurrent writers never see
each other's rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from psycopg import sql as psycopg_sql
from psycopg.types.json import Jsonb
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateTable

from learning_store.models import EMBEDDING_DIMENSION
from learning_store.repository.postgres_vectors import use_vector_adapters
from learning_store.schema import Embedding, executions

STAGING_TABLE = "learning_store_incoming"
"""The temporary table a COPY fills (one per session, emptied at commit)."""

_COLUMNS = [column.name for column in executions.columns]
_staging = sa.Table(
    STAGING_TABLE,
    sa.MetaData(),
    *(sa.Column(column.name, column.type) for column in executions.columns),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)
_DIALECT = postgresql.dialect()
_CREATE_STAGING = str(CreateTable(_staging, if_not_exists=True).compile(dialect=_DIALECT))
_COPY = psycopg_sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
    psycopg_sql.Identifier(STAGING_TABLE),
    psycopg_sql.SQL(", ").join(psycopg_sql.Identifier(name) for name in _COLUMNS),
)
# Ascending task_id: concurrent writers take row locks in one order and never deadlock.
_INSERT_STAGED = str(
    postgresql.insert(executions)
    .from_select(_COLUMNS, sa.select(_staging).order_by(_staging.c.task_id))
    .on_conflict_do_nothing(index_elements=["task_id"])
    .returning(executions.c.task_id)
    .compile(dialect=_DIALECT)
)


def _type_name(column: sa.Column[Any]) -> str:
    """The PostgreSQL type a binary COPY sends for this column."""
    if isinstance(column.type, Embedding):
        return "float4[]"
    return str(column.type.compile(dialect=_DIALECT)).lower()


_TYPES = [_type_name(column) for column in executions.columns]


def copy_new_rows(connection: Connection, rows: Iterable[Sequence[Any]]) -> list[UUID]:
    """Stage these rows (values in the table's column order) and insert the new ones.

    Returns the task_ids inserted; a task_id already stored is skipped. Runs inside the
    caller's transaction: nothing is stored unless it commits.
    """
    raw: Any = connection.connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute(_CREATE_STAGING)
        use_vector_adapters(cursor)
        with cursor.copy(_COPY) as copy:
            copy.set_types(_TYPES)
            for values in rows:
                copy.write_row(values)
        cursor.execute(_INSERT_STAGED)
        return [row[0] for row in cursor.fetchall()]


def row_of(values: dict[str, Any], uploaded_at: datetime) -> list[Any]:
    """One row for `copy_new_rows` from a record's column values."""
    row = [values.get(name) for name in _COLUMNS]
    row[_EMBEDDING] = _vector(row[_EMBEDDING])
    row[_METADATA] = Jsonb(row[_METADATA], dumps=_dumps)
    row[_UPLOADED_AT] = uploaded_at
    return row


def rows_of_table(table: pa.Table) -> Iterator[list[Any]]:
    """Rows for `copy_new_rows` from an Arrow table laid out as `ARROW_SCHEMA` (validated).

    Column by column: Arrow makes the Python values, numpy the vectors; no record is built.
    """
    columns: list[Any] = []
    for name in _COLUMNS:
        column = table.column(name)
        if name == "embedding":
            columns.append(_vectors_of(column))
        elif name == "metadata":
            columns.append([Jsonb(text, dumps=_as_is) for text in column.to_pylist()])
        else:
            columns.append(column.to_pylist())
    for values in zip(*columns, strict=True):
        yield list(values)


def _vectors_of(column: pa.ChunkedArray) -> list[np.ndarray | None]:
    """A fixed-size list column of vectors as numpy rows (None where missing)."""
    vectors = column.combine_chunks()
    present = vectors.is_valid().to_numpy(zero_copy_only=False)
    flat = vectors.values.to_numpy(zero_copy_only=False)[
        vectors.offset * EMBEDDING_DIMENSION : (vectors.offset + len(vectors)) * EMBEDDING_DIMENSION
    ]
    matrix = flat.astype(np.float32, copy=False).reshape(-1, EMBEDDING_DIMENSION)
    return [row if keep else None for row, keep in zip(matrix, present, strict=True)]


def _as_is(text: str) -> str:
    return text


_EMBEDDING = _COLUMNS.index("embedding")
_METADATA = _COLUMNS.index("metadata")
_UPLOADED_AT = _COLUMNS.index("uploaded_at")


def _vector(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.float32)


def _dumps(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"))
