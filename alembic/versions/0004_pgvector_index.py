"""PostgreSQL: index embeddings with pgvector's HNSW (cosine), where the server offers it.

An expression index over `embedding` cast to vector(384): no new column, so the table and
every other writer stay as they were. Without the extension (or the right to install it)
this revision changes nothing, and the store searches by streaming vectors instead, with a
warning; `learning-store index build` adds the index later. DuckDB has its own index,
kept beside the database file.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op
from learning_store.repository.pgvector_search import DROP_INDEX_SQL, create_vector_index

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        create_vector_index(bind)


def downgrade() -> None:
    # The extension stays: other tables in the database may use it.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_INDEX_SQL)
