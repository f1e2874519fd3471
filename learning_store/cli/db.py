"""`learning-store db ...`: migrate, inspect and check the database schema."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy.engine import Connection

from learning_store.cli.common import (
    ModelOption,
    UrlOption,
    console,
    database_url,
    fail,
    rows_progress,
    settings,
    user_errors,
)
from learning_store.urls import duckdb_path, redact

app = typer.Typer(help="Migrate and check the database schema.", no_args_is_help=True)


@contextmanager
def _connect(url: str, action: str) -> Iterator[Connection]:
    from learning_store.engine import create_engine_for, translated_errors

    engine = create_engine_for(url)
    try:
        with translated_errors(url, action), engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


@app.command()
@user_errors
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    url: UrlOption = None,
) -> None:
    """Migrate the database up to REVISION (default: head); creates a new database.

    Example: learning-store db upgrade --url duckdb:///data/learning.db
    """
    from learning_store import migrations

    _migrate(database_url(url), "upgrade the schema", migrations.upgrade, revision)


@app.command()
@user_errors
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; 'base' removes everything.")],
    url: UrlOption = None,
) -> None:
    """Migrate the database down to REVISION ('base' drops the tables: data is lost).

    Example: learning-store db downgrade base --url duckdb:///tmp/scratch.db
    """
    from learning_store import migrations

    _migrate(database_url(url), "downgrade the schema", migrations.downgrade, revision)


@app.command()
@user_errors
def current(url: UrlOption = None) -> None:
    """Print the database's revision and the newest one this version knows.

    Example: learning-store db current
    """
    from learning_store import migrations

    target = database_url(url)
    with _connect(target, "read the schema revision") as connection:
        revisions = migrations.current_revisions(connection)
    console.print(f"{redact(target)}: at {_show(revisions)} (head is {migrations.head_revision()})")


@app.command()
@user_errors
def check(url: UrlOption = None) -> None:
    """Exit 0 when the database is at head and its catalog matches the schema, else 1.

    Example: learning-store db check --url duckdb:///data/learning.db
    """
    from learning_store import migrations
    from learning_store.catalog import schema_differences
    from learning_store.repository.index_check import check_saved_index
    from learning_store.repository.row_rules import unreadable_rows
    from learning_store.vector_index.files import folder_for

    target = database_url(url)
    head = migrations.head_revision()
    with _connect(target, "check the schema") as connection:
        revisions = migrations.current_revisions(connection)
        if revisions != (head,):
            raise fail(
                f"{redact(target)} is at {_show(revisions)}, not at head {head}. "
                f"Run: {migrations.upgrade_command(target)}"
            )
        differences = schema_differences(connection)
        if differences:
            raise fail(f"{redact(target)} differs from the schema: " + "; ".join(differences))
        invalid, examples = unreadable_rows(connection)
        path = duckdb_path(target)
        index = None if path is None else check_saved_index(connection, folder_for(path))
    console.print(f"{redact(target)}: schema at {head} and matches learning_store.schema")
    if invalid:
        console.print(
            f"{invalid} row(s) written by other tools break a record rule and are left out of "
            "every read (nothing was changed); the newest:",
            highlight=False,
        )
        for task_id, reason in examples:
            console.print(f"  {task_id}: {reason}", highlight=False, markup=False)
    if index is not None:
        console.print(index.verdict, highlight=False, markup=False)
        if index.problems:
            raise fail(
                "the saved vector index does not match the table (another tool changed rows "
                "with plain SQL): " + "; ".join(index.problems) + ". Rebuild it: "
                f"learning-store index build --url {redact(target)}"
            )


@app.command()
@user_errors
def adopt(
    url: UrlOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the report; change nothing.")
    ] = False,
    model: ModelOption = None,
) -> None:
    """Take over an executions table the original learning database wrote, keeping every row.

    DuckDB: the file is first copied to FILE.before-adopt and swapped atomically at the end;
    PostgreSQL: one transaction, the old table kept as executions_before_adopt. Running it
    again on an adopted database changes nothing.
    Example: learning-store db adopt --url duckdb:///data/learning.db --dry-run
    """
    from learning_store.adoption import adopt as adopt_database

    config = settings(url, model)
    with rows_progress() as progress:
        task = progress.add_task("embedding", total=None, rows=0, rate=0.0, visible=False)
        started = time.perf_counter()

        def report_progress(done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            progress.update(task, completed=done, total=total, rows=done, rate=rate, visible=True)

        report = adopt_database(
            config.database_url, config, dry_run=dry_run, on_progress=report_progress
        )
    for line in report.lines():
        console.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command()
@user_errors
def history() -> None:
    """List the migrations this version of learning_store knows, newest first.

    Example: learning-store db history
    """
    from learning_store import migrations

    for script in migrations.script_directory().walk_revisions():
        console.print(f"{script.revision}  {script.doc}", highlight=False)


def _migrate(url: str, action: str, move: Callable[[Connection, str], None], revision: str) -> None:
    """Run one migration command and print the revisions before and after."""
    from learning_store import migrations

    with _connect(url, action) as connection:
        before = migrations.current_revisions(connection)
        move(connection, revision)
        after = migrations.current_revisions(connection)
    console.print(f"{redact(url)}: {_show(before)} -> {_show(after)}")


def _show(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) if revisions else "<empty>"
