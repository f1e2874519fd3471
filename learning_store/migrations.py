"""Run Alembic migrations from code and check, when a store opens, that its schema is current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, Connection, Engine

from alembic import command
from learning_store.errors import SchemaError, SchemaOutOfDateError, UnknownSchemaRevisionError
from learning_store.schema import TABLE_NAME, VERSION_TABLE, metadata
from learning_store.urls import redact


class DuckDBImpl(DefaultImpl):
    """Teach Alembic the `duckdb` dialect (duckdb-engine ships none); DDL is transactional."""

    __dialect__ = "duckdb"
    transactional_ddl = True


def script_location() -> Path:
    """The migration scripts: inside the wheel when installed, else the repo's alembic/."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_alembic", package.parent / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise SchemaError(f"learning_store's migration scripts are missing (looked in {package})")


def alembic_config(url: str | URL | None = None, connection: Connection | None = None) -> Config:
    """An Alembic Config for our scripts, bound to a URL or to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    if url is not None:
        config.set_main_option("sqlalchemy.url", str(url).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def resolve_url(url: str | URL | None) -> str:
    """The URL to migrate: the given one, else LEARNING_STORE_DATABASE_URL or the default."""
    if url:
        return url.render_as_string(hide_password=False) if isinstance(url, URL) else url
    from learning_store.config import LearningConfig

    return LearningConfig().database_url


def engine_for_url(url: str) -> Engine:
    """Engine used by `alembic` on the command line (same pools and setup as the stores)."""
    from learning_store.engine import create_engine_for

    return create_engine_for(url)


def run_on_connection(context: Any, connection: Connection) -> None:
    """Configure Alembic's context on `connection` and run the migrations in one transaction."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def script_directory() -> ScriptDirectory:
    """The revisions this version of learning_store knows."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision (the project keeps a single head)."""
    return script_directory().get_current_head() or ""


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """Revisions recorded in the database's version table (empty for a new database)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return tuple(context.get_current_heads())


def upgrade(connection: Connection, revision: str = "head", *, commit: bool = True) -> None:
    """Migrate the database on `connection` up to `revision` and (unless told not to) commit.

    With `commit=False` the migration joins the caller's transaction (adoption's, on
    PostgreSQL, where DDL is transactional).
    """
    command.upgrade(alembic_config(connection=connection), revision)
    if commit:
        _commit(connection)


def downgrade(connection: Connection, revision: str) -> None:
    """Migrate the database on `connection` down to `revision` and commit."""
    command.downgrade(alembic_config(connection=connection), revision)
    _commit(connection)


def _commit(connection: Connection) -> None:
    if connection.in_transaction():
        connection.commit()


def upgrade_command(url: str | URL) -> str:
    """The CLI command that brings the database at `url` to head (password hidden)."""
    return f"learning-store db upgrade --url '{redact(url)}'"


MIGRATION_LOCK_ID = 0x1EA2_5702E
"""PostgreSQL advisory lock key: processes opening a new database migrate one at a time."""


def ensure_current_schema(connection: Connection, url: str | URL, *, create: bool = True) -> None:
    """Create a new database's schema, or refuse one this code cannot use, with the fix.

    On PostgreSQL the check runs under an advisory lock, so several processes opening the
    same new database at once do not race to create it.

    Raises:
        SchemaOutOfDateError: the database is at an older revision (message has the command).
        UnknownSchemaRevisionError: the database is at a revision this code does not know.
        SchemaError: the table exists but was not created by our migrations.
    """
    if connection.dialect.name != "postgresql":
        _ensure_current_schema(connection, url, create=create)
        return
    connection.execute(sa.select(sa.func.pg_advisory_lock(MIGRATION_LOCK_ID)))
    try:
        _ensure_current_schema(connection, url, create=create)
    finally:
        connection.execute(sa.select(sa.func.pg_advisory_unlock(MIGRATION_LOCK_ID)))
        _commit(connection)


def _ensure_current_schema(connection: Connection, url: str | URL, *, create: bool) -> None:
    current = current_revisions(connection)
    _commit(connection)
    if not current:
        if sa.inspect(connection).has_table(TABLE_NAME):
            raise SchemaError(
                f"{redact(url)} has an '{TABLE_NAME}' table but no '{VERSION_TABLE}' table, so "
                "it was not created by learning_store's migrations (the original learning "
                "database writes such a table). To take it over, keeping every row, run: "
                f"learning-store db adopt --url '{redact(url)}' (add --dry-run to see the "
                "report first)"
            )
        if not create:
            raise SchemaOutOfDateError(
                f"{redact(url)} has no learning_store schema yet. Run: {upgrade_command(url)}"
            )
        upgrade(connection)
        return
    scripts = script_directory()
    head = scripts.get_current_head()
    if current == (head,):
        return
    for revision in current:
        try:
            scripts.get_revision(revision)
        except CommandError:
            raise UnknownSchemaRevisionError(
                f"{redact(url)} is at schema revision {revision!r}, which this version of "
                f"learning_store does not know (its newest is {head!r}). The database was "
                "migrated by a newer learning_store: upgrade the package, or run "
                "`learning-store db downgrade` with that newer version."
            ) from None
    raise SchemaOutOfDateError(
        f"{redact(url)} is at schema revision {', '.join(current)} but this version of "
        f"learning_store needs {head}. Back up the database, then run: {upgrade_command(url)}"
    )
