"""`learning-store ingest | export | prune`: move executions between stores and files."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from learning_store.cli.common import (
    ModelOption,
    UrlOption,
    console,
    parse_age,
    parse_moment,
    rows_progress,
    settings,
    user_errors,
)

if TYPE_CHECKING:
    from learning_store.files.ingest import IngestSummary, RowReader

PARTIAL_EXIT_CODE = 3
"""ingest's exit code when good rows were stored but some rows were rejected."""

FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="jsonl, csv, parquet or otlp-json (default: from the file extension).",
    ),
]


@user_errors
def ingest(
    files: Annotated[list[Path], typer.Argument(help="JSON-lines, CSV or Parquet files.")],
    file_format: FormatOption = None,
    url: UrlOption = None,
    model: ModelOption = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Rows per write transaction (default 10,000).")
    ] = None,
) -> None:
    """Store the executions in FILES, with embeddings; bad rows go to FILE.rejects.jsonl.

    Re-ingesting a file stores nothing new (rows without a task_id get one from their content).
    Exit code 3 means the good rows were stored but some were rejected (see the rejects file).

    Example: learning-store ingest exports/november.jsonl --url duckdb:///data/learning.db
    """
    from learning_store.files.formats import detect_format

    config = settings(url, model)
    for path in files:  # fail on a missing file or unknown format before touching anything
        if not path.is_file():
            raise FileNotFoundError(f"No such file: {str(path)!r}")
        detect_format(path, file_format)
    summaries = asyncio.run(_ingest_all(files, file_format, config, batch_size))
    for summary in summaries:
        console.print(_summary_line(summary), highlight=False, soft_wrap=True)
    if any(summary.rejected for summary in summaries):
        raise typer.Exit(PARTIAL_EXIT_CODE)


async def _ingest_all(
    files: list[Path], file_format: str | None, config, batch_size: int | None
) -> list[IngestSummary]:
    from learning_store.api import LearningDatabase
    from learning_store.files.formats import FileFormat, detect_format
    from learning_store.files.ingest import ingest_file
    from learning_store.files.readers import progress_total

    summaries = []
    async with LearningDatabase(config=config) as db:
        for path in files:
            chosen = detect_format(path, file_format)
            with rows_progress() as progress:
                task = progress.add_task(
                    path.name, total=progress_total(path, chosen) or None, rows=0, rate=0.0
                )
                started = datetime.now(UTC)

                def report(rows: int, consumed: int, task=task, started=started) -> None:
                    seconds = max((datetime.now(UTC) - started).total_seconds(), 1e-9)
                    progress.update(task, completed=consumed, rows=rows, rate=rows / seconds)

                summaries.append(
                    await ingest_file(
                        db,
                        path,
                        chosen,
                        batch_size=batch_size,
                        on_progress=report,
                        reader=_otlp_reader() if chosen is FileFormat.OTLP_JSON else None,
                    )
                )
    return summaries


def _otlp_reader() -> RowReader:
    try:
        from learning_store.otlp.files import otlp_json_rows
    except ImportError as missing:
        raise ValueError(
            f"--format otlp-json needs the 'otlp' extra ({missing.name} is not installed): "
            "pip install 'learning-store[otlp]'"
        ) from None
    return otlp_json_rows


def _summary_line(summary: IngestSummary) -> str:
    line = (
        f"{summary.path}: {summary.stored:,} stored, {summary.duplicates:,} duplicates, "
        f"{summary.rejected:,} rejected of {summary.rows:,} rows in {summary.seconds:.1f} s "
        f"({summary.rows_per_second:,.0f} rows/s)"
    )
    return f"{line}; rejected rows: {summary.rejects_path}" if summary.rejects_path else line


@user_errors
def export(
    out: Annotated[Path, typer.Argument(help="File to write.")],
    file_format: FormatOption = None,
    since: Annotated[
        str | None, typer.Option(help="Only executions at or after this ISO date/time.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only executions before this ISO date/time.")
    ] = None,
    repo: Annotated[str | None, typer.Option(help="Only this repo.")] = None,
    url: UrlOption = None,
) -> None:
    """Write executions (oldest first) to OUT as parquet, jsonl or csv; re-ingestable.

    Example: learning-store export november.parquet --since 2026-11-01 --until 2026-12-01
    """
    from learning_store.bootstrap import build_repository
    from learning_store.files.formats import EXPORTABLE, FileFormat, detect_format
    from learning_store.files.writers import write_parquet_batches, write_records

    chosen = detect_format(out, file_format)
    if chosen not in EXPORTABLE:
        raise ValueError(
            f"--format {chosen.value} is read by ingest only: export jsonl, csv or parquet"
        )
    since_at, until_at = parse_moment(since, "--since"), parse_moment(until, "--until")
    with build_repository(None, settings(url)) as repository:
        if chosen is FileFormat.PARQUET:
            batches = repository.iter_arrow(since=since_at, until=until_at, repo=repo)
            written = write_parquet_batches(out, batches)
        else:
            chunks = repository.iter_chunks(since=since_at, until=until_at, repo=repo)
            written = write_records(out, chosen, chunks, durable=True)
    console.print(
        f"wrote {written:,} executions to {out} ({chosen.value})", highlight=False, soft_wrap=True
    )


@user_errors
def prune(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", help="Age, e.g. 90d, 12h, 2w (default: LEARNING_STORE_RETENTION_DAYS)."
        ),
    ] = None,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            help="Write the rows to Parquet here (one file per day) before deleting them.",
        ),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Delete executions older than an age, optionally archiving them to Parquet first.

    With --archive, rows are deleted only after every file is fsynced and read back intact.

    Example: learning-store prune --older-than 90d --archive archive/
    """
    from learning_store.archive import prune as prune_store
    from learning_store.bootstrap import build_repository

    config = settings(url)
    age = parse_age(older_than) if older_than else parse_age(f"{config.retention_days}d")
    cutoff = datetime.now(UTC) - age
    with build_repository(None, config) as repository:
        result = prune_store(repository, cutoff, archive)
    where = (
        f"; archived {result.archived:,} rows in {len(result.files)} files under {archive}"
        if archive
        else ""
    )
    console.print(
        f"deleted {result.deleted:,} executions older than {cutoff:%Y-%m-%d %H:%M} UTC{where}",
        highlight=False,
        soft_wrap=True,
    )
