"""Exact similarity search on PostgreSQL without pgvector: filter in SQL, score in numpy.

Candidates are filtered in SQL and their vectors streamed in chunks to numpy, so memory
holds one chunk at a time; every search reads every candidate vector, which is why a
database with pgvector takes the path in `pgvector_search` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from learning_store.models import EMBEDDING_DIMENSION
from learning_store.schema import executions
from learning_store.similarity import StreamingTopK

SIMILARITY_CHUNK_ROWS = 2_000
"""Vectors scored per chunk when PostgreSQL streams candidates to numpy (~20 MB as the
Python floats the driver returns, 3 MB once converted)."""


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
        sa.func.array_ndims(executions.c.embedding) == 1,  # another tool's 2-D array: skip
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
        finite = np.asarray(
            np.isfinite(matrix).all(axis=1)
        )  # NaN written by another tool: not searchable
        for group in set(groups):
            rows = [row for row, name in enumerate(groups) if name == group and bool(finite[row])]
            keeper = best.setdefault(group, StreamingTopK(query, limit, threshold))
            keeper.add([task_ids[row] for row in rows], matrix[rows])
    found = {group: keeper.result() for group, keeper in best.items()}
    return {group: matches for group, matches in found.items() if matches}
