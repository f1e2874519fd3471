"""DuckDB's export path: matching rows streamed as Arrow batches, no Python object per row.

The batches have the export schema (`arrow_codec.ARROW_SCHEMA`), so they go straight to a
Parquet writer; the rows and order are those `iter_chunks` gives (readable rows only, oldest
first, ties by task_id), and an embedding that is not 384 finite numbers is written as null,
as it reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from learning_store.arrow_codec import ARROW_SCHEMA
from learning_store.models import EMBEDDING_DIMENSION
from learning_store.schema import COLUMN_NAMES, executions

_t = executions.c
UUID_BYTES = sa.func.unhex(sa.func.replace(sa.cast(_t.task_id, sa.String()), "-", ""))
"""task_id as its 16 bytes (Arrow's uuid type stores exactly those)."""


def arrow_batches(
    connection: Connection, where: list[sa.ColumnElement[bool]], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """The rows matching `where`, oldest first, as record batches of the export schema."""
    columns = [
        UUID_BYTES.label("task_id") if name == "task_id" else _t[name] for name in COLUMN_NAMES
    ]
    statement = sa.select(*columns).where(*where).order_by(_t.timestamp, _t.task_id)
    compiled = statement.compile(dialect=connection.dialect)
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    raw: Any = connection.connection.driver_connection
    reader = raw.sql(str(compiled), params=params).to_arrow_reader(batch_rows)
    for batch in reader:
        yield _exported(batch)


def _exported(batch: pa.RecordBatch) -> pa.RecordBatch:
    arrays = []
    for field, column in zip(ARROW_SCHEMA, batch.columns, strict=True):
        if field.name == "task_id":
            arrays.append(pa.ExtensionArray.from_storage(pa.uuid(), column.cast(pa.binary(16))))
        elif field.name == "embedding":
            arrays.append(_usable_vectors(column.cast(field.type)))
        else:
            arrays.append(column.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA)


def _usable_vectors(vectors: pa.FixedSizeListArray) -> pa.Array:
    """Null where a vector has a non-finite number (another tool's), as records read it."""
    flat = vectors.flatten().to_numpy(zero_copy_only=False)
    if flat.size == 0 or np.isfinite(flat).all():
        return vectors
    finite = np.isfinite(flat.reshape(-1, EMBEDDING_DIMENSION)).all(axis=1)
    # flatten() skips null rows: map the finite flags back onto every row
    valid = np.asarray(vectors.is_valid())
    keep = valid.copy()
    keep[valid] = finite
    return pa.FixedSizeListArray.from_arrays(
        vectors.values, EMBEDDING_DIMENSION, mask=pa.array(~keep)
    )
