"""Compare a migrated database with `schema`.

DuckDB is read through its own catalog functions (its SQLAlchemy reflection is lossy, see
DESIGN.md); PostgreSQL through Alembic's autogenerate comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from learning_store.schema import SETTINGS_TABLE, TABLE_NAME, executions, metadata
from learning_store.views import VIEW_COLUMNS


@dataclass(frozen=True)
class CatalogTable:
    """What a database says about one table: columns, primary key and indexes."""

    columns: tuple[tuple[str, str, bool], ...]
    """(name, type, nullable) in table order."""
    primary_key: tuple[str, ...]
    indexes: frozenset[tuple[str, tuple[str, ...], bool]]
    """(name, columns, unique)."""


def expected_duckdb_table(connection: Connection) -> CatalogTable:
    """The catalog `schema` declares, with each type normalised by DuckDB itself."""
    columns = []
    for column in executions.columns:
        cast = sa.cast(sa.null(), column.type.dialect_impl(connection.dialect))
        type_name = connection.execute(sa.select(sa.func.typeof(cast))).scalar_one()
        columns.append((column.name, str(type_name), bool(column.nullable)))
    indexes = frozenset(
        (str(index.name), tuple(column.name for column in index.columns), bool(index.unique))
        for index in executions.indexes
    )
    primary_key = tuple(column.name for column in executions.primary_key.columns)
    return CatalogTable(tuple(columns), primary_key, indexes)


def actual_duckdb_table(connection: Connection) -> CatalogTable:
    """The catalog DuckDB reports for the executions table."""
    columns_fn = _catalog_function(
        "duckdb_columns", "table_name", "column_name", "data_type", "is_nullable", "column_index"
    )
    rows = connection.execute(
        sa.select(columns_fn.c.column_name, columns_fn.c.data_type, columns_fn.c.is_nullable)
        .where(columns_fn.c.table_name == TABLE_NAME)
        .order_by(columns_fn.c.column_index)
    ).all()
    columns = tuple((str(name), str(kind), bool(nullable)) for name, kind, nullable in rows)
    constraints_fn = _catalog_function(
        "duckdb_constraints", "table_name", "constraint_type", "constraint_column_names"
    )
    keys = (
        connection.execute(
            sa.select(constraints_fn.c.constraint_column_names).where(
                constraints_fn.c.table_name == TABLE_NAME,
                constraints_fn.c.constraint_type == "PRIMARY KEY",
            )
        )
        .scalars()
        .all()
    )
    indexes_fn = _catalog_function(
        "duckdb_indexes", "table_name", "index_name", "expressions", "is_unique"
    )
    index_rows = connection.execute(
        sa.select(indexes_fn.c.index_name, indexes_fn.c.expressions, indexes_fn.c.is_unique).where(
            indexes_fn.c.table_name == TABLE_NAME
        )
    ).all()
    indexes = frozenset(
        (str(name), _index_columns(expressions), bool(unique))
        for name, expressions, unique in index_rows
    )
    primary_key = tuple(keys[0]) if keys else ()
    return CatalogTable(columns, primary_key, indexes)


def _catalog_function(name: str, *columns: str) -> sa.TableValuedAlias:
    """A DuckDB catalog table function such as duckdb_columns(), selectable by column."""
    return getattr(sa.func, name)().table_valued(*columns).alias(name.removeprefix("duckdb_"))


def _index_columns(expressions: Any) -> tuple[str, ...]:
    """Column names from duckdb_indexes().expressions, e.g. `[repo, '"timestamp"']`."""
    items = (
        expressions if isinstance(expressions, list) else str(expressions).strip("[]").split(",")
    )
    return tuple(str(item).strip().strip("'").strip('"') for item in items if str(item).strip())


def duckdb_differences(connection: Connection) -> list[str]:
    """Human-readable differences between DuckDB's catalog and `schema` (empty: identical)."""
    expected, actual = expected_duckdb_table(connection), actual_duckdb_table(connection)
    problems = []
    if not actual.columns:
        return [f"table {TABLE_NAME!r} does not exist"]
    if expected.columns != actual.columns:
        missing = set(expected.columns) - set(actual.columns)
        extra = set(actual.columns) - set(expected.columns)
        problems += [f"column expected but not found: {item}" for item in sorted(missing)]
        problems += [f"column found but not in schema: {item}" for item in sorted(extra)]
        if not missing and not extra:
            problems.append("columns are in a different order than schema declares")
    if expected.primary_key != actual.primary_key:
        problems.append(f"primary key is {actual.primary_key}, expected {expected.primary_key}")
    for index in sorted(expected.indexes - actual.indexes):
        problems.append(f"index expected but not found: {index}")
    for index in sorted(actual.indexes - expected.indexes):
        problems.append(f"index found but not in schema: {index}")
    return problems


def postgresql_differences(connection: Connection) -> list[str]:
    """Alembic's autogenerate diff between PostgreSQL and `schema` (empty: identical)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from learning_store.repository.pgvector_search import VECTOR_INDEX
    from learning_store.schema import VERSION_TABLE

    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "version_table": VERSION_TABLE,
            # pgvector's index exists only where the extension does; it is checked apart.
            "include_name": lambda name, kind, _parent: (
                (kind != "table" or name in (TABLE_NAME, SETTINGS_TABLE))
                and not (kind == "index" and name == VECTOR_INDEX)
            ),
        },
    )
    return [repr(diff) for diff in compare_metadata(context, metadata)]


def view_differences(connection: Connection) -> list[str]:
    """Documented views that are missing or whose columns differ from `views.VIEW_COLUMNS`."""
    columns = sa.table(
        "columns",
        sa.column("table_name"),
        sa.column("column_name"),
        sa.column("ordinal_position"),
        sa.column("table_schema"),
        schema="information_schema",
    )
    query = (
        sa.select(columns.c.table_name, columns.c.column_name)
        .where(columns.c.table_name.in_(list(VIEW_COLUMNS)))
        .where(columns.c.table_schema == sa.func.current_schema())
        .order_by(columns.c.table_name, columns.c.ordinal_position)
    )
    found: dict[str, list[str]] = {}
    for view, column in connection.execute(query):
        found.setdefault(view, []).append(column)
    problems = []
    for view, expected in VIEW_COLUMNS.items():
        actual = tuple(found.get(view, ()))
        if not actual:
            problems.append(f"view expected but not found: {view}")
        elif actual != expected:
            problems.append(f"view {view} has columns {list(actual)}, expected {list(expected)}")
    return problems


def schema_differences(connection: Connection) -> list[str]:
    """Differences between the connected database and `schema`, for either SQL backend."""
    if connection.dialect.name == "duckdb":
        return duckdb_differences(connection) + view_differences(connection)
    return postgresql_differences(connection) + view_differences(connection)
