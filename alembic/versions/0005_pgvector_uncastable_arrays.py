"""PostgreSQL: rebuild the pgvector index so arrays it cannot cast index as NULL.

Migration 0004's index cast every 384-element array to `vector(384)`; an array with a NULL
element, or with several dimensions, made that cast fail, so another tool's INSERT of such
a row was refused and CREATE INDEX failed on a table holding one. Today's expression
(`VECTOR_SQL`) maps them to NULL. An index already built with it (a database that reached
0004 after this change) is left alone; databases without pgvector are not touched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op
from learning_store.repository.pgvector_search import (
    DROP_INDEX_SQL,
    create_vector_index,
    has_vector_index,
    vector_index_is_current,
)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_INDEX_AT_0004 = (
    "CREATE INDEX IF NOT EXISTS ix_executions_embedding_hnsw ON executions USING hnsw (("
    "(CASE WHEN cardinality(embedding) = 384"
    " AND NOT (embedding && ARRAY['NaN', 'Infinity', '-Infinity']::real[])"
    " THEN embedding::vector(384) END)::vector(384)"
    ") vector_cosine_ops) WITH (m = 16, ef_construction = 100)"
)
"""The index as 0004 first built it, for the downgrade (frozen: the code's has moved on)."""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not has_vector_index(bind):
        return
    if not vector_index_is_current(bind):
        op.execute(DROP_INDEX_SQL)
        create_vector_index(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and has_vector_index(bind):
        op.execute(DROP_INDEX_SQL)
        op.execute(_INDEX_AT_0004)
