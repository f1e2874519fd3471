"""The one definition of the tables: `executions` and the small settings table.

`executions` has 27 columns and the indexes its queries use; `learning_store_settings`
records facts about the stored data, such as which model made its embeddings. Migrations
are written from these tables and tests compare every migrated database against them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

from learning_store.models import EMBEDDING_DIMENSION

TABLE_NAME = "executions"
VERSION_TABLE = "learning_store_version"
"""Alembic's version table; our own name so we never collide with an application's."""


class _DuckDBFloatArray(UserDefinedType):
    """DuckDB's fixed-size `FLOAT[n]` array, which its vector functions operate on."""

    cache_ok = True

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension

    def get_col_spec(self, **_: Any) -> str:
        return f"FLOAT[{self.dimension}]"


class Embedding(TypeDecorator):
    """A 384-float vector: `FLOAT[384]` on DuckDB, `REAL[]` on PostgreSQL; a list in Python."""

    impl = sa.JSON
    cache_ok = True

    def __init__(self, dimension: int = EMBEDDING_DIMENSION) -> None:
        super().__init__()
        self.dimension = dimension

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """The column type each dialect stores vectors in."""
        if dialect.name == "duckdb":
            return dialect.type_descriptor(_DuckDBFloatArray(self.dimension))
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(postgresql.REAL))
        return dialect.type_descriptor(sa.JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Plain Python floats for the driver (accepts lists, tuples and numpy arrays)."""
        if value is None:
            return None
        return value.tolist() if hasattr(value, "tolist") else [float(x) for x in value]

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """A list, whatever sequence type the driver returned."""
        return None if value is None else list(value)


def json_document() -> TypeEngine[Any]:
    """JSON on DuckDB, JSONB on PostgreSQL (indexable, compact)."""
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


metadata = sa.MetaData()

executions = sa.Table(
    TABLE_NAME,
    metadata,
    sa.Column("task_id", sa.Uuid(), primary_key=True),
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
    sa.Index("ix_executions_repo_task_type_timestamp", "repo", "task_type", "timestamp"),
    sa.Index("ix_executions_tier_success_timestamp", "model_tier", "success", "timestamp"),
    sa.Index("ix_executions_pool_success_duration", "pool_type", "success", "duration_seconds"),
    sa.Index("ix_executions_timestamp", "timestamp"),
)

COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in executions.columns)

SETTINGS_TABLE = "learning_store_settings"
store_settings = sa.Table(
    SETTINGS_TABLE,
    metadata,
    sa.Column("name", sa.String(), primary_key=True),
    sa.Column("value", sa.String(), nullable=False),
)
"""Facts about the stored data itself, such as which model made its embeddings."""


def equals(column: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[bool]:
    """`column = value` as a bound parameter; a string with NUL matches nothing.

    No stored text can hold NUL (records reject it, and PostgreSQL cannot store it), so such
    a filter value is answered without sending it to the database.
    """
    if isinstance(value, str) and "\x00" in value:
        return sa.false()
    return column == value
