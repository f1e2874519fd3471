"""Similarity search on PostgreSQL with pgvector: an HNSW index proposes, numpy rescores.

Migration 0004 creates the index where the extension can be installed: an expression
index over the `embedding` array cast to `vector(384)`, so the table keeps one copy of each
vector and every writer (ours or not) keeps the index current. Rows whose array could not
be a vector (wrong length, NaN, infinity; another tool's) index as NULL and are never
proposed. Filters run in SQL, and pgvector 0.8's iterative scans keep walking the graph
until enough rows pass them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.types import UserDefinedType

from learning_store.models import EMBEDDING_DIMENSION
from learning_store.schema import executions

assert EMBEDDING_DIMENSION == 384, "the SQL below spells out the dimension"

VECTOR_INDEX = "ix_executions_embedding_hnsw"
VECTOR_SQL = (
    "(CASE WHEN cardinality(embedding) = 384"
    " AND NOT (embedding && ARRAY['NaN', 'Infinity', '-Infinity']::real[])"
    " THEN embedding::vector(384) END)::vector(384)"
)
"""The indexed expression; a query must order by exactly this for the index to serve it."""
CREATE_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS ix_executions_embedding_hnsw ON executions USING hnsw (("
    + VECTOR_SQL
    + ") vector_cosine_ops) WITH (m = 16, ef_construction = 100)"
)
"""HNSW with the settings the original system planned (M 16, ef_construction 100)."""
DROP_INDEX_SQL = "DROP INDEX IF EXISTS ix_executions_embedding_hnsw"
MAX_EF_SEARCH = 1_000
"""pgvector's upper bound for hnsw.ef_search; iterative scans go on past it."""
MISSING_WARNING = (
    "pgvector is not installed in this PostgreSQL database, so similarity search reads every "
    "candidate vector (slow past ~100,000 rows); install the extension, then run "
    "`learning-store index build`"
)
_TIERS_SQL = sa.text(
    "WITH RECURSIVE tiers AS ("
    " (SELECT model_tier FROM executions ORDER BY model_tier LIMIT 1)"
    " UNION ALL"
    " SELECT (SELECT e.model_tier FROM executions e WHERE e.model_tier > tiers.model_tier"
    " ORDER BY e.model_tier LIMIT 1) FROM tiers WHERE tiers.model_tier IS NOT NULL"
    ") SELECT model_tier FROM tiers WHERE model_tier IS NOT NULL"
)
"""Each distinct tier, one index probe apiece (the tier index leads with model_tier)."""


class _Vector(UserDefinedType):
    """pgvector's `vector(384)`, for casting the query."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return f"vector({EMBEDDING_DIMENSION})"


_VECTOR = sa.literal_column(VECTOR_SQL)
_DISTANCE = _VECTOR.op("<=>")(sa.cast(sa.bindparam("query", type_=sa.String()), _Vector()))


def has_vector_index(connection: Connection) -> bool:
    """Whether this database has the pgvector index (and so the extension)."""
    found = connection.execute(
        sa.text(
            "SELECT 1 FROM pg_indexes WHERE indexname = :name AND schemaname = current_schema()"
        ),
        {"name": VECTOR_INDEX},
    )
    return found.first() is not None


def can_install_pgvector(connection: Connection) -> bool:
    """Whether the server offers the extension (installing it may still need privileges)."""
    found = connection.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    )
    return found.first() is not None


def create_vector_index(connection: Connection) -> bool:
    """Install pgvector and build the HNSW index if the server allows; whether it did.

    A role that may not create extensions leaves the database as it was (a savepoint
    keeps the surrounding migration or transaction usable).
    """
    if not can_install_pgvector(connection):
        return False
    try:
        with connection.begin_nested():
            connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError:
        return False
    connection.execute(sa.text(CREATE_INDEX_SQL))
    return True


def stored_tiers(connection: Connection) -> list[str]:
    """Every model tier in the table."""
    return list(connection.execute(_TIERS_SQL).scalars())


def candidates(
    connection: Connection,
    query: np.ndarray,
    where: Sequence[sa.ColumnElement[bool]],
    count: int,
    ef_search: int,
) -> list[dict[str, Any]]:
    """The rows (every column) of the `count` nearest the query by the HNSW index.

    Filters apply in SQL; one round trip sets the search up, one reads the rows, so the
    winners need no second read. `relaxed_order` lets the scan go on past its first
    `ef_search` candidates until `count` rows pass the filters; the rescoring afterwards
    restores the exact order. The record rules add some twenty conditions whose combined
    selectivity the planner guesses as one row, so it would sort a sequential scan (140 ms
    at 30,000 rows): sequential scans and sorts are switched off for this transaction.
    """
    settings = {
        "hnsw.ef_search": str(min(max(ef_search, count), MAX_EF_SEARCH)),
        "hnsw.iterative_scan": "relaxed_order",
        "enable_seqscan": "off",
        "enable_sort": "off",
    }
    connection.execute(
        sa.select(*(sa.func.set_config(name, value, True) for name, value in settings.items()))
    )
    statement = (
        sa.select(executions).where(*where, _VECTOR.is_not(None)).order_by(_DISTANCE).limit(count)
    )
    text = "[" + ",".join(repr(float(number)) for number in query) + "]"
    return [dict(row) for row in connection.execute(statement, {"query": text}).mappings()]


def rows_with_vectors(connection: Connection, task_ids: Sequence[UUID]) -> list[dict[str, Any]]:
    """These rows (every column), where their array is a usable vector."""
    if not task_ids:
        return []
    statement = sa.select(executions).where(
        executions.c.task_id.in_(task_ids), _VECTOR.is_not(None)
    )
    return [dict(row) for row in connection.execute(statement).mappings()]
