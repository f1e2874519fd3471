"""Create the executions table and the indexes its queries use.

Written by hand from learning_store.schema (DuckDB reflection cannot drive autogenerate);
tests check that the migrated catalog equals the schema on DuckDB and PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from learning_store.schema import Embedding, json_document

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "executions",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("task_type", sa.String(), nullable=False),
        sa.Column("task_description", sa.Text(), nullable=False),
        sa.Column("repo", sa.String(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("estimated_tokens", sa.BigInteger(), nullable=False),
        sa.Column("model_tier", sa.String(), nullable=False),
        sa.Column("pool_type", sa.String(), nullable=False),
        sa.Column("swarm_topology", sa.String(), nullable=True),
        sa.Column("routing_confidence", sa.Double(), nullable=False),
        sa.Column("complexity_score", sa.Double(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("duration_seconds", sa.Double(), nullable=False),
        sa.Column("quality_score", sa.Double(), nullable=True),
        sa.Column("cost_estimate", sa.Double(), nullable=False),
        sa.Column("actual_cost", sa.Double(), nullable=True),
        sa.Column("error_type", sa.String(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("user_accepted", sa.Boolean(), nullable=True),
        sa.Column("user_rating", sa.SmallInteger(), nullable=True),
        sa.Column("peak_memory_mb", sa.Double(), nullable=True),
        sa.Column("cpu_time_seconds", sa.Double(), nullable=True),
        sa.Column("solution_summary", sa.Text(), nullable=True),
        sa.Column("embedding", Embedding(), nullable=True),
        sa.Column("metadata", json_document(), nullable=False),
        sa.Column(
            "uploaded_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.current_timestamp(),
        ),
        sa.PrimaryKeyConstraint("task_id", name="executions_pkey"),
    )
    op.create_index(
        "ix_executions_repo_task_type_timestamp", "executions", ["repo", "task_type", "timestamp"]
    )
    op.create_index(
        "ix_executions_tier_success_timestamp", "executions", ["model_tier", "success", "timestamp"]
    )
    op.create_index(
        "ix_executions_pool_success_duration",
        "executions",
        ["pool_type", "success", "duration_seconds"],
    )
    op.create_index("ix_executions_timestamp", "executions", ["timestamp"])


def downgrade() -> None:
    op.drop_index("ix_executions_timestamp", table_name="executions")
    op.drop_index("ix_executions_pool_success_duration", table_name="executions")
    op.drop_index("ix_executions_tier_success_timestamp", table_name="executions")
    op.drop_index("ix_executions_repo_task_type_timestamp", table_name="executions")
    op.drop_table("executions")
