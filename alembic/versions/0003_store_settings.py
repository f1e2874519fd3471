"""Create learning_store_settings: facts about the stored data (which model embedded it).

A search with another model than the one that made the stored vectors would give
meaningless scores; the store records the model so that it can refuse instead, and a
re-embed records its progress here so that it can resume after a kill.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learning_store_settings",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="learning_store_settings_pkey"),
    )


def downgrade() -> None:
    op.drop_table("learning_store_settings")
