"""Statements that change stored rows after they were written: feedback, embeddings, settings.

Each function runs on a connection the repository opened inside a transaction (and, on a
DuckDB file, after claiming the rows in the write gate).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from learning_store.feedback import Feedback, feedback_of, validated
from learning_store.models import EMBEDDING_DIMENSION, embedding_text_of
from learning_store.repository.duckdb_bulk import registered
from learning_store.repository.duckdb_vectors import indexable_rows_of
from learning_store.repository.sql_core import SqlCore
from learning_store.results import FeedbackResult
from learning_store.schema import executions, store_settings

_t = executions.c

_SET_FEEDBACK = (
    sa.update(executions)
    .where(_t.task_id == sa.bindparam("b_task_id", type_=sa.Uuid()))
    .values(
        user_accepted=sa.func.coalesce(
            sa.bindparam("b_accepted", type_=sa.Boolean()), _t.user_accepted
        ),
        user_rating=sa.func.coalesce(
            sa.bindparam("b_rating", type_=sa.SmallInteger()), _t.user_rating
        ),
    )
)
"""Set the feedback columns that a feedback item gives; a NULL parameter keeps the value."""


def set_feedback(connection: Connection, items: list[Feedback]) -> None:
    """Write feedback to rows known to exist, in task_id order (no deadlocks on PostgreSQL)."""
    rows = [
        {"b_task_id": item.task_id, "b_accepted": item.accepted, "b_rating": item.rating}
        for item in sorted(items, key=lambda item: item.task_id.int)
    ]
    if rows:
        connection.execute(_SET_FEEDBACK, rows)


def read_setting(connection: Connection, name: str) -> str | None:
    """A recorded fact about the stored data, or None."""
    statement = sa.select(store_settings.c.value).where(store_settings.c.name == name)
    return connection.execute(statement).scalar_one_or_none()


def write_setting(connection: Connection, name: str, value: str | None) -> None:
    """Record (or with None, remove) a fact about the stored data."""
    connection.execute(sa.delete(store_settings).where(store_settings.c.name == name))
    if value is not None:
        connection.execute(sa.insert(store_settings).values(name=name, value=value))


def _without_usable_embedding(dialect: str) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        length = sa.func.cardinality(_t.embedding)
        return sa.or_(_t.embedding.is_(None), length != EMBEDDING_DIMENSION)
    return _t.embedding.is_(None)


def count_embedding_work(connection: Connection, *, missing_only: bool, after: UUID | None) -> int:
    """Rows a re-embed visits (after `after`): without a usable embedding, or every row."""
    statement = sa.select(sa.func.count()).select_from(executions)
    if missing_only:
        statement = statement.where(_without_usable_embedding(connection.dialect.name))
    if after is not None:
        statement = statement.where(_t.task_id > after)
    return int(connection.execute(statement).scalar_one())


def embedding_work(
    connection: Connection, *, missing_only: bool, after: UUID | None, limit: int
) -> list[tuple[UUID, str]]:
    """Up to `limit` (task_id, embedding text) pairs after `after`, in task_id order."""
    statement = (
        sa.select(_t.task_id, _t.task_description, _t.task_type, _t.repo)
        .order_by(_t.task_id)
        .limit(limit)
    )
    if missing_only:
        statement = statement.where(_without_usable_embedding(connection.dialect.name))
    if after is not None:
        statement = statement.where(_t.task_id > after)
    return [
        (
            row.task_id,
            embedding_text_of(row.task_description, row.task_type, row.repo),
        )
        for row in connection.execute(statement)
    ]


_NEW_VECTORS = "_learning_store_new_vectors"
_SET_VECTORS_DUCKDB = (
    "UPDATE executions SET embedding = v.embedding FROM _learning_store_new_vectors AS v "
    "WHERE executions.task_id = v.task_id"
)
"""DuckDB: one UPDATE joined with the registered Arrow table of new vectors."""
_SET_VECTOR = (
    sa.update(executions)
    .where(_t.task_id == sa.bindparam("b_task_id", type_=sa.Uuid()))
    .values(embedding=sa.bindparam("b_embedding", type_=executions.c.embedding.type))
)


def set_embeddings(connection: Connection, vectors: Mapping[UUID, Any]) -> int:
    """Replace the embeddings of these rows; returns how many of them exist."""
    keys = sorted(vectors, key=lambda key: key.int)
    if not keys:
        return 0
    matrix = np.asarray([vectors[key] for key in keys], dtype=np.float32)
    if connection.dialect.name == "duckdb":
        table = pa.table(
            {
                "task_id": pa.array([key.bytes for key in keys], pa.uuid()),
                "embedding": pa.FixedSizeListArray.from_arrays(
                    pa.array(matrix.reshape(-1)), EMBEDDING_DIMENSION
                ),
            }
        )
        with registered(connection, _NEW_VECTORS, table):
            return connection.exec_driver_sql(_SET_VECTORS_DUCKDB).rowcount
    rows = [
        {"b_task_id": key, "b_embedding": vector} for key, vector in zip(keys, matrix, strict=True)
    ]
    return connection.execute(_SET_VECTOR, rows).rowcount


class SqlUpkeepMethods(SqlCore):
    """Part of `SqlExecutionRepository`: feedback, settings and embeddings after the fact."""

    def record_feedback(
        self,
        task_id: UUID | str,
        *,
        accepted: bool | None = None,
        rating: int | None = None,
    ) -> bool:
        """Set the user feedback of a stored execution; False when the task_id is unknown."""
        return self._apply_feedback([feedback_of(task_id, accepted, rating)]).updated == 1

    def record_feedback_many(self, items: Iterable[Any]) -> FeedbackResult:
        """Feedback for many executions in one transaction; unknown and bad items reported."""
        feedback, rejected = validated(items)
        result = self._apply_feedback(feedback) if feedback else FeedbackResult()
        return FeedbackResult(result.updated, result.unknown, rejected)

    def _apply_feedback(self, items: list[Feedback]) -> FeedbackResult:
        """Update the feedback columns of the stored rows among `items`, in one transaction.

        Rows are updated in task_id order, so concurrent batches on PostgreSQL never
        deadlock; on DuckDB the rows are claimed in the write gate first.
        """
        ordered = sorted(items, key=lambda item: item.task_id.int)
        keys = [item.task_id for item in ordered]
        with self._claiming(keys), self._transaction("record feedback") as connection:
            found = self._stored_among(connection, keys)
            set_feedback(connection, [item for item in ordered if item.task_id in found])
        unknown = [key for key in keys if key not in found]
        return FeedbackResult(len(keys) - len(unknown), unknown)

    def read_setting(self, name: str) -> str | None:
        """A fact recorded about the stored data (such as the embedding model), or None."""
        with self._connection("read a setting") as connection:
            return read_setting(connection, name)

    def write_setting(self, name: str, value: str | None) -> None:
        """Record a fact about the stored data; None removes it."""
        with self._exclusively(), self._transaction("write a setting") as connection:
            write_setting(connection, name, value)

    def count_embedding_work(self, *, missing_only: bool, after: UUID | None = None) -> int:
        """Rows a re-embed would visit (after `after`): without a usable embedding, or all."""
        with self._connection("count rows to embed") as connection:
            return count_embedding_work(connection, missing_only=missing_only, after=after)

    def embedding_work(
        self, *, missing_only: bool, after: UUID | None, limit: int
    ) -> list[tuple[UUID, str]]:
        """Up to `limit` (task_id, embedding text) pairs after `after`, in task_id order."""
        with self._connection("read rows to embed") as connection:
            return embedding_work(connection, missing_only=missing_only, after=after, limit=limit)

    def set_embeddings(self, vectors: Mapping[UUID, Any]) -> int:
        """Replace these rows' embeddings in one transaction; return how many rows exist.

        On DuckDB the vector index then drops the old vectors and takes in the new ones.
        """
        keys = list(vectors)
        raw = np.frombuffer(b"".join(key.bytes for key in keys), dtype=np.uint8).reshape(-1, 16)
        with self._exclusively(), self._guard():
            with self._transaction("store embeddings") as connection:
                changed = set_embeddings(connection, vectors)
                stamp = self._count_change(connection, changed)
                rows = indexable_rows_of(connection, keys) if stamp is not None else None
            if stamp is not None and rows is not None and self._keeper is not None:
                self._keeper.replaced(raw, rows, stamp)
            return changed
