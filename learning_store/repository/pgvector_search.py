"""Similarity search on PostgreSQL with pgvector: an HNSW index proposes, numpy rescores.

Migration 0004 creates the index where the extension can be installed (0005 rebuilds one
that predates the guard against arrays pgvector cannot cast): an expression index over
the `embedding` array cast to `vector(384)`, so the table keeps one copy of each
vector and every writer (ours or not) keeps the index current. Rows whose array could not
be a vector (wrong length, NaN, infinity; another tool's) index as NULL and are never
proposed. Filters run in SQL, and pgvector 0.8's iterative scans keep walking the graph
until enough rows pass them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.engine import Connection
from sqlalchemy.types import UserDefinedType

from learning_store.models import EMBEDDING_DIMENSION
from learning_store.repository.row_rules import readable
from learning_store.schema import executions

assert EMBEDDING_DIMENSION == 384, "the SQL below spells out the dimension"

VECTOR_INDEX = "ix_executions_embedding_hnsw"
VECTOR_SQL = (
    "(CASE WHEN cardinality(embedding) = 384 AND array_ndims(embedding) = 1"
    " AND array_position(embedding, NULL) IS NULL"
    " AND NOT (embedding && ARRAY['NaN', 'Infinity', '-Infinity']::real[])"
    " THEN embedding::vector(384) END)::vector(384)"
)
"""The indexed expression; a query must order by exactly this for the index to serve it.

Arrays pgvector cannot cast (NULL elements, several dimensions) are NULL, not an error:
an error here would refuse another tool's INSERT, and fail CREATE INDEX on its rows."""
CREATE_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS ix_executions_embedding_hnsw ON executions USING hnsw (("
    + VECTOR_SQL
    + ") vector_cosine_ops) WITH (m = 16, ef_construction = 100)"
)
"""HNSW with the settings the original system planned (M 16, ef_construction 100)."""
DROP_INDEX_SQL = "DROP INDEX IF EXISTS ix_executions_embedding_hnsw"
PGVECTOR_MIN_ROWS = 1_000
"""Below this many rows every candidate is compared exactly (a few ms): HNSW's graph over
a small table of near-duplicate texts can strand the true nearest row (seen in the suite:
the best of 108 rows missed), and nothing is gained from an index at that size."""
_SMALL_TABLE_SQL = sa.text(
    "SELECT count(*) FROM (SELECT 1 FROM executions LIMIT :enough) AS first_rows"
)
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


_VECTOR: sa.ColumnClause[Any] = sa.literal_column(VECTOR_SQL)


def has_vector_index(connection: Connection) -> bool:
    """Whether this database has the pgvector index (and so the extension)."""
    found = connection.execute(
        sa.text(
            "SELECT 1 FROM pg_indexes WHERE indexname = :name AND schemaname = current_schema()"
        ),
        {"name": VECTOR_INDEX},
    )
    return found.first() is not None


def vector_index_is_current(connection: Connection) -> bool:
    """Whether the pgvector index indexes today's `VECTOR_SQL` (migration 0005 changed it)."""
    found = connection.execute(
        sa.text(
            "SELECT indexdef FROM pg_indexes"
            " WHERE indexname = :name AND schemaname = current_schema()"
        ),
        {"name": VECTOR_INDEX},
    ).scalar()
    return found is not None and "array_position" in found


INDEX_MISSING_WARNING = (
    "pgvector is installed but the executions table has no vector index, so similarity "
    "search reads every candidate vector (slow past ~100,000 rows); run "
    "`learning-store index build`"
)


def pgvector_installed(connection: Connection) -> bool:
    """Whether the extension is installed in this database (not only offered)."""
    found = connection.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'"))
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


def is_small_table(connection: Connection) -> bool:
    """Whether the table holds fewer than `PGVECTOR_MIN_ROWS` rows (reads at most that many)."""
    return bool(
        connection.execute(_SMALL_TABLE_SQL, {"enough": PGVECTOR_MIN_ROWS}).scalar_one()
        < PGVECTOR_MIN_ROWS
    )


def stored_tiers(connection: Connection) -> list[str]:
    """Every model tier in the table."""
    return list(connection.execute(_TIERS_SQL).scalars())


@dataclass(frozen=True)
class CandidateFilter:
    """Which rows pgvector may propose: a time floor, a repo and a tier (None: any)."""

    since: datetime
    repo: str | None = None
    tier: str | None = None


def candidates(
    connection: Connection,
    query: np.ndarray,
    where: CandidateFilter,
    count: int,
    ef_search: int,
) -> list[dict[str, Any]]:
    """The rows (every column) of the `count` nearest the query by the HNSW index.

    Filters and the record rules apply in SQL. `relaxed_order` lets the scan go on past
    its first `ef_search` candidates until `count` rows pass them; the rescoring afterwards
    restores the exact order. The record rules add some twenty conditions whose combined
    selectivity the planner guesses as one row, so it would sort a sequential scan (140 ms
    at 30,000 rows): sequential scans and sorts are switched off for this transaction.

    The statement is compiled once per filter shape and run on the driver with binary
    results, vectors coming back as numpy arrays: SQLAlchemy's compile cache, row wrappers
    and the text form of 20 x 384 floats cost more than the index scan at 300,000 rows.
    """
    if where.repo is not None and "\x00" in where.repo:
        return []  # no stored text holds NUL
    sql, defaults = _candidate_statement(where.repo is not None, where.tier is not None)
    values = {**defaults, "since": where.since, "repo": where.repo, "tier": where.tier}
    values.update(query=np.asarray(query, dtype=np.float32), count=count)
    from learning_store.repository.postgres_vectors import use_vector_adapters  # psycopg

    raw: Any = connection.connection.driver_connection
    with raw.cursor(binary=True) as cursor:
        use_vector_adapters(cursor)
        cursor.execute(_SETTINGS_SQL, {"ef_search": str(min(max(ef_search, count), MAX_EF_SEARCH))})
        cursor.execute(sql, values)
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


_SETTINGS_SQL = (
    "SELECT set_config('hnsw.ef_search', %(ef_search)s, true),"
    " set_config('hnsw.iterative_scan', 'relaxed_order', true),"
    " set_config('enable_seqscan', 'off', true), set_config('enable_sort', 'off', true)"
)
"""pgvector's search settings, for the current transaction only."""


@functools.cache
def _candidate_statement(by_repo: bool, by_tier: bool) -> tuple[str, dict[str, Any]]:
    """The candidate query for one filter shape, and the values of its constant parameters."""
    where = [
        readable("postgresql"),
        executions.c.timestamp >= sa.bindparam("since", type_=sa.DateTime(timezone=True)),
        _VECTOR.is_not(None),
    ]
    if by_repo:
        where.append(executions.c.repo == sa.bindparam("repo", type_=sa.String()))
    if by_tier:
        where.append(executions.c.model_tier == sa.bindparam("tier", type_=sa.String()))
    distance = _VECTOR.op("<=>")(sa.cast(sa.bindparam("query"), _Vector()))
    statement = (
        sa.select(executions)
        .where(*where)
        .order_by(distance)
        .limit(sa.bindparam("count", type_=sa.Integer()))
    )
    compiled = statement.compile(dialect=psycopg_dialect())
    return str(compiled), dict(compiled.params)


def rows_with_vectors(connection: Connection, task_ids: Sequence[UUID]) -> list[dict[str, Any]]:
    """These rows (every column), where their array is a usable vector."""
    if not task_ids:
        return []
    statement = sa.select(executions).where(
        executions.c.task_id.in_(task_ids), _VECTOR.is_not(None)
    )
    return [dict(row) for row in connection.execute(statement).mappings()]
