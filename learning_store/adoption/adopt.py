"""Take over an `executions` table the original system created, keeping every row.

DuckDB: the original file is checkpointed (so no write-ahead log is left to replay), copied
to `FILE.before-adopt`, and the adopted database is built in `FILE.adopting` from the
original attached read-only; one atomic rename then puts it in place. Killed at any
moment, `FILE` is either the untouched original or the adopted database.

PostgreSQL: one transaction renames the foreign table to `executions_before_adopt` (the
backup), migrates, converts every row in SQL, re-embeds and checks the counts; killed at
any moment, the transaction never committed and nothing changed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from learning_store import bootstrap, migrations
from learning_store.adoption.conversion import converted, lacks_required, source, survey_counts
from learning_store.adoption.survey import (
    BACKUP_TABLE,
    QUARANTINE_TABLE,
    REQUIRED,
    AdoptionReport,
    ForeignTable,
    foreign_columns,
)
from learning_store.config import LearningConfig
from learning_store.durability import fsync_path
from learning_store.embeddings import Embedder
from learning_store.engine import create_engine_for, translated_errors
from learning_store.errors import SchemaError, StorageError
from learning_store.reembedding import MODEL_SETTING
from learning_store.repository import sql_upkeep
from learning_store.schema import COLUMN_NAMES, TABLE_NAME, VERSION_TABLE, executions
from learning_store.urls import backend_name, duckdb_path, redact

_SET_ASIDE_POSTGRES = (
    # The original's views derive from the table; ours (migration 0002) replace them.
    "DROP VIEW IF EXISTS tier_performance_mv",
    "DROP VIEW IF EXISTS pool_performance_mv",
    "DROP VIEW IF EXISTS solution_patterns_mv",
    "ALTER TABLE executions RENAME TO executions_before_adopt",
    # Its primary key may carry the name ours takes.
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'executions_pkey' "
    "AND conrelid = 'executions_before_adopt'::regclass) THEN ALTER TABLE "
    "executions_before_adopt RENAME CONSTRAINT executions_pkey TO executions_before_adopt_pkey;"
    " END IF; END $$",
)
"""PostgreSQL: set the foreign table aside (inside the adoption's one transaction)."""

ORIGINAL_MODEL = "all-MiniLM-L6-v2"
"""The original system's embedding model: its 384-number vectors are kept when ours is too."""
EMBED_BATCH_ROWS = 256

Progress = Callable[[int, int], None]


class CreateTableAs(Executable, ClauseElement):
    """`CREATE TABLE name AS <select>`, compiled by SQLAlchemy (no SQL built from strings)."""

    inherit_cache = False

    def __init__(self, name: str, query: sa.Select) -> None:
        self.name = name
        self.query = query


@compiles(CreateTableAs)
def _create_table_as(element: CreateTableAs, compiler: Any, **kwargs: Any) -> str:
    # The name is quoted by the dialect's identifier preparer and the query compiled by
    # SQLAlchemy with bound parameters: nothing here comes from data.
    name = compiler.preparer.quote(element.name)
    return " ".join(("CREATE TABLE", name, "AS", compiler.process(element.query, **kwargs)))


def adopt(
    url: str,
    config: LearningConfig,
    *,
    dry_run: bool = False,
    on_progress: Progress | None = None,
) -> AdoptionReport:
    """Adopt the foreign `executions` table at `url`; see the module docstring."""
    keep_vectors = config.embedding_model == ORIGINAL_MODEL
    with translated_errors(url, "adopt the database"):
        if backend_name(url) == "postgresql":
            return _adopt_postgres(url, config, dry_run, on_progress, keep_vectors)
        path = duckdb_path(url)
        if path is None:
            raise ValueError("An in-memory database has nothing to adopt: give a file URL.")
        if not path.is_file():
            raise FileNotFoundError(f"No such database file: {str(path)!r}")
        return _adopt_duckdb(url, path, config, dry_run, on_progress, keep_vectors)


def _survey(
    connection: Connection, url: str, keep_vectors: bool
) -> tuple[AdoptionReport, ForeignTable | None]:
    """The report so far, and the foreign table (None when already adopted)."""
    report = AdoptionReport(redact(url))
    inspector = sa.inspect(connection)
    if inspector.has_table(VERSION_TABLE):
        head = migrations.head_revision()
        if migrations.current_revisions(connection) == (head,):
            report.status = "already adopted (schema at head): nothing changed"
            return report, None
        raise SchemaError(
            f"{redact(url)} is a learning_store database at an older schema, not a foreign "
            f"one: run {migrations.upgrade_command(url)}"
        )
    if not inspector.has_table(TABLE_NAME):
        raise SchemaError(f"{redact(url)} has no '{TABLE_NAME}' table to adopt.")
    foreign = foreign_columns(connection)
    absent = [
        name
        for name in (*REQUIRED, "routing_confidence", "success", "duration_seconds")
        if name not in foreign.columns
    ]
    if absent:
        raise SchemaError(
            f"The '{TABLE_NAME}' table at {redact(url)} has no column {', '.join(absent)}, "
            "which every execution needs; it cannot be adopted as it is."
        )
    counts = survey_counts(connection, source(foreign, TABLE_NAME, None), foreign, keep_vectors)
    report.rows = counts.pop("rows")
    report.quarantined = counts.pop("quarantined")
    report.kept_rule_breaking = counts.pop("rule_breaking")
    report.conversions = counts
    report.extra_columns, report.missing_columns = foreign.extra, foreign.missing
    return report, foreign


def _convert(
    connection: Connection,
    src: sa.TableClause,
    foreign: ForeignTable,
    keep_vectors: bool,
    quarantined: int,
) -> int:
    """Insert the converted rows, quarantine the rest; returns the rows in `executions`."""
    dialect = connection.dialect.name
    rows = converted(src, foreign, dialect, keep_vectors).where(~lacks_required(src))
    connection.execute(sa.insert(executions).from_select(list(COLUMN_NAMES), rows))
    if quarantined:
        everything = sa.select(*src.c).where(lacks_required(src))
        connection.execute(CreateTableAs(QUARANTINE_TABLE, everything))
    return int(connection.execute(sa.select(sa.func.count()).select_from(executions)).scalar_one())


def _embed_missing(
    connection: Connection, embedder: Embedder | None, on_progress: Progress | None
) -> None:
    """Compute embeddings for rows that have none, in batches, on this connection."""
    if embedder is None:
        return
    total = sql_upkeep.count_embedding_work(connection, missing_only=True, after=None)
    done, after = 0, None
    while batch := sql_upkeep.embedding_work(
        connection, missing_only=True, after=after, limit=EMBED_BATCH_ROWS
    ):
        vectors = embedder.embed([text for _, text in batch])
        sql_upkeep.set_embeddings(
            connection, dict(zip([key for key, _ in batch], vectors, strict=True))
        )
        after, done = batch[-1][0], done + len(batch)
        if on_progress is not None:
            on_progress(done, total)


def _check_every_row_kept(report: AdoptionReport, adopted: int) -> None:
    if adopted + report.quarantined != report.rows:
        raise StorageError(
            f"Adoption stopped: {adopted:,} rows converted + {report.quarantined:,} quarantined "
            f"is not the {report.rows:,} rows of the original; nothing was changed."
        )
    report.adopted_rows = adopted


def _adopt_duckdb(
    url: str,
    path: Path,
    config: LearningConfig,
    dry_run: bool,
    on_progress: Progress | None,
    keep_vectors: bool,
) -> AdoptionReport:
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            report, foreign = _survey(connection, url, keep_vectors)
            if foreign is None or dry_run:
                report.status = report.status if foreign is None else "dry run: nothing changed"
                return report
            connection.exec_driver_sql("CHECKPOINT")  # the file alone now holds every row
    finally:
        engine.dispose()
    _ensure_room(path)
    backup = path.with_name(path.name + ".before-adopt")
    _copy_durably(path, backup)
    building = path.with_name(path.name + ".adopting")
    for stale in (building, building.with_name(building.name + ".wal")):
        stale.unlink(missing_ok=True)
    target = create_engine_for(f"duckdb:///{building}")
    try:
        _build(target, path, foreign, keep_vectors, report, config, on_progress)
    except BaseException:
        target.dispose()
        building.unlink(missing_ok=True)  # the original was never touched
        raise
    target.dispose()
    wal = path.with_name(path.name + ".wal")
    if wal.exists():  # someone wrote the original after its checkpoint
        building.unlink(missing_ok=True)
        raise StorageError(
            f"{str(path)!r} was written by another process while it was being adopted; "
            "nothing was changed. Stop that process and run the command again."
        )
    fsync_path(building)
    os.replace(building, path)  # atomic: the original or the adopted file, never a mix
    fsync_path(path.parent)
    report.status, report.backup = "adopted", str(backup)
    return report


def _build(
    target: sa.Engine,
    path: Path,
    foreign: ForeignTable,
    keep_vectors: bool,
    report: AdoptionReport,
    config: LearningConfig,
    on_progress: Progress | None,
) -> None:
    """Fill the new DuckDB file from the original, attached read-only."""
    with target.connect() as connection:
        migrations.upgrade(connection)
        connection.exec_driver_sql("ATTACH ? AS original (READ_ONLY)", (str(path),))
        connection.commit()
        with connection.begin():
            src = source(foreign, TABLE_NAME, "original")
            adopted = _convert(connection, src, foreign, keep_vectors, report.quarantined)
        connection.exec_driver_sql("DETACH original")
        connection.commit()
        with connection.begin():
            _finish(connection, report, adopted, config, on_progress)
        connection.exec_driver_sql("CHECKPOINT")


def _finish(
    connection: Connection,
    report: AdoptionReport,
    adopted: int,
    config: LearningConfig,
    on_progress: Progress | None,
) -> None:
    """Check the counts, embed what has no vector, and record the model."""
    _check_every_row_kept(report, adopted)
    embedder = bootstrap.build_embedder(config)
    _embed_missing(connection, embedder, on_progress)
    if embedder is not None:
        sql_upkeep.write_setting(connection, MODEL_SETTING, config.embedding_model)


def _adopt_postgres(
    url: str,
    config: LearningConfig,
    dry_run: bool,
    on_progress: Progress | None,
    keep_vectors: bool,
) -> AdoptionReport:
    engine = create_engine_for(url, config)
    try:
        with engine.connect() as connection:
            report, foreign = _survey(connection, url, keep_vectors)
            connection.rollback()
            if foreign is None or dry_run:
                report.status = report.status if foreign is None else "dry run: nothing changed"
                return report
            with connection.begin():  # all of it, or (killed, failed) none of it
                for statement in _SET_ASIDE_POSTGRES:
                    connection.execute(sa.text(statement))
                migrations.upgrade(connection, commit=False)
                src = source(foreign, BACKUP_TABLE, None)
                adopted = _convert(connection, src, foreign, keep_vectors, report.quarantined)
                _finish(connection, report, adopted, config, on_progress)
    finally:
        engine.dispose()
    report.status, report.backup = "adopted", f"table {BACKUP_TABLE!r}"
    return report


def _ensure_room(path: Path) -> None:
    """Refuse to start unless the backup and the new file fit, naming how much is needed."""
    size = path.stat().st_size
    needed = 2 * size + 64 * 1024 * 1024  # backup + adopted copy + headroom for indexes
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise StorageError(
            f"Not enough room to adopt {str(path)!r} safely: {needed / 1e6:,.0f} MB needed "
            f"(a copy to {path.name}.before-adopt and the adopted file), {free / 1e6:,.0f} MB "
            "free. Free some space and run the command again; nothing was changed."
        )


def _copy_durably(path: Path, backup: Path) -> None:
    """Copy `path` to `backup` under a temporary name, fsync it, then rename it into place."""
    partial = backup.with_name(backup.name + ".partial")
    shutil.copyfile(path, partial)
    fsync_path(partial)
    os.replace(partial, backup)
    fsync_path(backup.parent)
