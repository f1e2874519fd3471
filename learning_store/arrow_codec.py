"""Records to and from Arrow, with one explicit schema.

The DuckDB fast path, Parquet export, the archive and Parquet ingest all use it, so a file
we write is a file we can read.
"""

from __future__ import annotations

import contextlib
import json
import operator
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from learning_store.models import EMBEDDING_DIMENSION, ExecutionRecord
from learning_store.schema import COLUMN_NAMES
from learning_store.vectors import stack

_UTC_MICROS = pa.timestamp("us", tz="UTC")
ARROW_SCHEMA = pa.schema(
    [
        ("task_id", pa.uuid()),
        ("timestamp", _UTC_MICROS),
        ("task_type", pa.string()),
        ("task_description", pa.string()),
        ("repo", pa.string()),
        ("file_count", pa.int64()),
        ("estimated_tokens", pa.int64()),
        ("model_tier", pa.string()),
        ("pool_type", pa.string()),
        ("swarm_topology", pa.string()),
        ("routing_confidence", pa.float64()),
        ("complexity_score", pa.float64()),
        ("success", pa.bool_()),
        ("duration_seconds", pa.float64()),
        ("quality_score", pa.float64()),
        ("cost_estimate", pa.float64()),
        ("actual_cost", pa.float64()),
        ("error_type", pa.string()),
        ("error_message", pa.string()),
        ("user_accepted", pa.bool_()),
        ("user_rating", pa.int64()),
        ("peak_memory_mb", pa.float64()),
        ("cpu_time_seconds", pa.float64()),
        ("solution_summary", pa.string()),
        ("embedding", pa.list_(pa.float32(), EMBEDDING_DIMENSION)),
        ("metadata", pa.string()),
        ("uploaded_at", _UTC_MICROS),
    ]
)
"""Column types of an exported or archived row; metadata is JSON text."""
assert tuple(ARROW_SCHEMA.names) == COLUMN_NAMES

_ENCODED = {"task_id", "error_type", "metadata", "embedding", "uploaded_at"}
_PLAIN = tuple(name for name in COLUMN_NAMES if name not in _ENCODED)
_plain_values = operator.itemgetter(*_PLAIN)
"""One C-level call per record (on its field dict) for the columns Arrow takes as they are."""


def records_to_arrow(
    records: list[ExecutionRecord], uploaded_at: datetime | None = None
) -> pa.Table:
    """An Arrow table of the records; `uploaded_at` overrides every row's upload time."""
    columns: dict[str, pa.Array] = {
        "task_id": pa.array([record.task_id.bytes for record in records], pa.uuid()),
        "error_type": pa.array(
            [None if r.error_type is None else r.error_type.value for r in records], pa.string()
        ),
        "metadata": pa.array([_json_text(r.metadata) for r in records], pa.string()),
        "embedding": _embedding_array(records),
        "uploaded_at": pa.array(
            [uploaded_at or record.uploaded_at for record in records], _UTC_MICROS
        ),
    }
    plain = (
        zip(*[_plain_values(record.__dict__) for record in records], strict=True)
        if records
        else ((),) * len(_PLAIN)
    )
    for name, values in zip(_PLAIN, plain, strict=True):
        columns[name] = pa.array(values, ARROW_SCHEMA.field(name).type)
    return pa.Table.from_arrays([columns[name] for name in COLUMN_NAMES], schema=ARROW_SCHEMA)


def _json_text(metadata: dict[str, Any]) -> str:
    """JSON text of a metadata object; the common empty object skips the encoder."""
    return json.dumps(metadata) if metadata else "{}"


def _embedding_array(records: list[ExecutionRecord]) -> pa.Array:
    """A FixedSizeList<float32>[384] column; rows without an embedding are null."""
    present = np.array([record.embedding is not None for record in records], dtype=bool)
    matrix = np.zeros((len(records), EMBEDDING_DIMENSION), dtype=np.float32)
    if present.any():
        matrix[present] = stack([r.embedding for r in records if r.embedding is not None])
    values = pa.array(matrix.reshape(-1), pa.float32())
    mask = None if present.all() else pa.array(~present)
    return pa.FixedSizeListArray.from_arrays(values, EMBEDDING_DIMENSION, mask=mask)


def arrow_rows(table: pa.Table | pa.RecordBatch) -> Iterator[dict[str, Any]]:
    """Plain mappings from Arrow rows, ready for `ExecutionRecord.model_validate`.

    Columns absent from the input are left out (so defaults apply); metadata JSON text is
    parsed; `uploaded_at` is dropped because the store sets it.
    """
    for row in table.to_pylist():
        row.pop("uploaded_at", None)
        metadata = row.get("metadata")
        if isinstance(metadata, str):
            # Unparseable text stays text: validation then reports "metadata: ... dictionary".
            with contextlib.suppress(json.JSONDecodeError):
                row["metadata"] = json.loads(metadata)
        yield {key: value for key, value in row.items() if value is not None or key == "metadata"}
