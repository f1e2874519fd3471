"""Rows and records for the SQL stores: filters as SQL, records as rows, rows as records."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from pydantic import ValidationError

from learning_store.models import EMBEDDING_DIMENSION, ExecutionRecord
from learning_store.repository.base import ExecutionFilter
from learning_store.schema import equals, executions
from learning_store.vectors import Vector


def clauses(where: ExecutionFilter) -> list[sa.ColumnElement[bool]]:
    """SQL conditions for a filter (always bound parameters, never string-built SQL)."""
    found = [equals(executions.c[name], value) for name, value in where.equalities().items()]
    if where.since is not None:
        found.append(executions.c.timestamp >= where.since)
    if where.until is not None:
        found.append(executions.c.timestamp < where.until)
    return found


def row_values(record: ExecutionRecord, uploaded_at: datetime) -> dict[str, Any]:
    """Column values for one record, with the store's upload time."""
    values = record.model_dump()
    values["uploaded_at"] = uploaded_at
    return values


def records_from(rows: Iterable[Any]) -> list[ExecutionRecord]:
    """Records from result rows; a row breaking a rule SQL cannot check is left out."""
    records = []
    for row in rows:
        with contextlib.suppress(ValidationError):
            records.append(record_from(row))
    return records


def record_from(row: Any) -> ExecutionRecord:
    """An `ExecutionRecord` from a result row, read leniently (see `row_rules`)."""
    values = {column.name: row[column.name] for column in executions.columns}
    values["embedding"] = usable_embedding(values["embedding"])
    return ExecutionRecord.model_validate(values)


def usable_embedding(embedding: Any) -> Any:
    """The stored embedding, or None when it is not 384 finite numbers (another model's)."""
    if embedding is None or isinstance(embedding, Vector):
        return embedding
    if len(embedding) != EMBEDDING_DIMENSION:
        return None
    vector = np.asarray(embedding, dtype=np.float32)
    return Vector(vector) if np.isfinite(vector).all() else None
