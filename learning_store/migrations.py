"""Run Alembic migrations from code and check, when a store opens, that its schema is current.

Opening a store whose schema is current never imports Alembic (~70 ms of every CLI
command): the revision is read with one query and compared with `HEAD_REVISION`, which a
test holds equal to the scripts' head.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from learning_store.errors import SchemaError, SchemaOutOfDateError, UnknownSchemaRevisionError
from learning_store.schema import TABLE_NAME, VERSION_TABLE, metadata
from learning_store.urls import redact

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

HEAD_REVISION = "0005"
"""The newest migration (the project keeps a single head; a test checks the scripts)."""

_versions = sa.table(VERSION_TABLE, sa.column("version_num"))
_registered = threading.Lock()
_duckdb_known = False


def _teach_alembic_duckdb() -> None:
    """Register Alembic's `duckdb` dialect (duckdb-engine ships none); DDL is transactional."""
    global _duckdb_known
    with _registered:
        if _duckdb_known:
            return
        from alembic.ddl.impl import DefaultImpl

        class DuckDBImpl(DefaultImpl):
            __dialect__ = "duckdb"
            transactional_ddl = True

        _duckdb_known = True


def script_location() -> Path:
    """The migration scripts: inside the wheel when installed, else the repo's alembic/."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_alembic", package.parent / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise SchemaError(f"learning_store's migration scripts are missing (looked in {package})")


def alembic_config(url: str | URL | None = None, connection: Connection | None = None) -> Config:
    """An Alembic Config for our scripts, bound to a URL or to an open connection."""
    from alembic.config import Config

    _teach_alembic_duckdb()
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
    _teach_alembic_duckdb()
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
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision (the project keeps a single head)."""
    return HEAD_REVISION


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """Revisions recorded in the database's version table (empty for a new database)."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return ()
    found = connection.execute(sa.select(_versions.c.version_num)).scalars()
    return tuple(sorted(str(revision) for revision in found))


def upgrade(connection: Connection, revision: str = "head", *, commit: bool = True) -> None:
    """Migrate the database on `connection` up to `revision` and (unless told not to) commit.

    With `commit=False` the migration joins the caller's transaction (adoption's, on
    PostgreSQL, where DDL is transactional).
    """
    from alembic import command

    command.upgrade(alembic_config(connection=connection), revision)
    if commit:
        _commit(connection)


def downgrade(connection: Connection, revision: str) -> None:
    """Migrate the database on `connection` down to `revision` and commit."""
    from alembic import command

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
    head = HEAD_REVISION
    if current == (head,):
        return
    from alembic.util.exc import CommandError

    scripts = script_directory()
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
