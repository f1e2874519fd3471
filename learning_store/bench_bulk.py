"""The bulk paths of `learning-store bench`: export, ingest and add_many of plain dicts.

Each is measured against the engine alone on the same data in the same run, the two sides
taking turns, best of a few each.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from learning_store.arrow_codec import records_to_arrow
from learning_store.config import LearningConfig
from learning_store.files.formats import FileFormat
from learning_store.files.ingest import INGEST_BATCH_ROWS, ingest_file
from learning_store.files.writers import write_parquet_batches, write_records
from learning_store.repository import ExecutionRepository, create_repository
from learning_store.service import LearningDatabase

if TYPE_CHECKING:
    from learning_store.bench import BenchOptions, BenchResult

TURNS = 3
"""Turns each side of a bulk ratio takes; the best of each side is kept."""


@contextmanager
def scratch() -> Iterator[Path]:
    """A temporary folder for one measurement."""
    with tempfile.TemporaryDirectory(prefix="learning-store-bench-") as folder:
        yield Path(folder)


def timed(work: Callable[[], object]) -> float:
    """Seconds `work` took."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _store(path: Path, batch_size: int = 1000) -> ExecutionRepository:
    return create_repository(f"duckdb:///{path}", config=LearningConfig(batch_size=batch_size))


def measure_export(options: BenchOptions, result: BenchResult) -> None:
    """`learning-store export` to Parquet against DuckDB's own COPY of the same rows.

    Both write ZSTD Parquet oldest first.
    """
    from learning_store.bench import make_records

    ours, engine = [], []
    with scratch() as folder:
        store = _store(folder / "export.db")
        store.add_many(make_records(options.similar_rows, seed=3))
        copy = (
            "COPY (SELECT * FROM executions ORDER BY timestamp, task_id) "
            "TO ? (FORMAT parquet, COMPRESSION zstd)"
        )
        for _ in range(TURNS):
            ours.append(
                timed(lambda: write_parquet_batches(folder / "ours.parquet", store.iter_arrow()))
            )
            with store.engine.connect() as connection:  # type: ignore[attr-defined]
                engine.append(
                    timed(
                        lambda c=connection: c.exec_driver_sql(
                            copy, (str(folder / "engine.parquet"),)
                        )
                    )
                )
        store.close()
    result.rates.update(
        export_rows_per_s=options.similar_rows / min(ours),
        export_engine_rows_per_s=options.similar_rows / min(engine),
    )
    result.ratios.update(export_parquet_vs_engine=min(engine) / min(ours))


async def measure_ingest(options: BenchOptions, result: BenchResult) -> None:
    """Parquet ingest against DuckDB's INSERT ... SELECT FROM read_parquet; JSONL's rate.

    Each turn ingests into a new file; the JSON-lines rows carry embeddings.

    Ours validates every row, skips stored task_ids and writes a rejects file; the engine
    alone does none of that.
    """
    from learning_store.bench import make_records

    records = make_records(options.ingest_rows, seed=5)
    ours, engine, jsonl = [], [], []
    with scratch() as folder:
        parquet, lines = folder / "rows.parquet", folder / "rows.jsonl"
        exported = records_to_arrow(records, datetime.now(UTC))  # as `export` writes it
        write_parquet_batches(parquet, exported.to_batches(max_chunksize=65_536))
        write_records(lines, FileFormat.JSONL, [records[: options.jsonl_rows]])
        for turn in range(TURNS):
            ours.append(await _ingest(folder / f"ours{turn}.db", parquet))
            engine.append(_engine_ingest(folder / f"engine{turn}.db", parquet))
            jsonl.append(await _ingest(folder / f"jsonl{turn}.db", lines))
    result.rates.update(
        ingest_parquet_rows_per_s=options.ingest_rows / min(ours),
        ingest_engine_rows_per_s=options.ingest_rows / min(engine),
    )
    result.ratios.update(
        ingest_parquet_vs_engine=min(engine) / min(ours),
        ingest_jsonl_rows_per_s=options.jsonl_rows / min(jsonl),
    )


async def _ingest(path: Path, source: Path) -> float:
    """Seconds `learning-store ingest` takes for `source` into a new store at `path`."""
    file_format = FileFormat.PARQUET if source.suffix == ".parquet" else FileFormat.JSONL
    config = LearningConfig(database_url=f"duckdb:///{path}", embeddings_enabled=False)
    async with LearningDatabase(config=config) as db:
        summary = await ingest_file(db, source, file_format, batch_size=INGEST_BATCH_ROWS)
    assert summary.rejected == 0 and summary.stored == summary.rows
    return summary.seconds


def _engine_ingest(path: Path, source: Path) -> float:
    """DuckDB alone, into an identical table (schema made by our store)."""
    _store(path).close()
    connection = duckdb.connect(str(path))
    try:
        return timed(
            lambda: connection.execute(
                "INSERT INTO executions SELECT * FROM read_parquet(?)", [str(source)]
            )
        )
    finally:
        connection.close()


def measure_dict_batches(options: BenchOptions, result: BenchResult) -> None:
    """`add_many` of plain dicts against the same rows as `ExecutionRecord`s, in turns.

    The dicts hold embeddings as lists of floats; each run writes a new DuckDB file.
    """
    from learning_store.bench import make_records

    records = make_records(options.records * 5, seed=9)
    dicts = [record.model_dump() for record in records]
    as_dicts, as_records = [], []
    with scratch() as folder:
        for turn in range(TURNS):
            as_dicts.append(_add_many(folder / f"dicts{turn}.db", dicts))
            as_records.append(_add_many(folder / f"records{turn}.db", records))
    result.rates.update(
        add_many_dicts_rows_per_s=len(records) / min(as_dicts),
        add_many_records_rows_per_s=len(records) / min(as_records),
    )
    result.ratios.update(add_many_dicts_vs_records=min(as_records) / min(as_dicts))


def _add_many(path: Path, rows: list) -> float:  # type: ignore[type-arg]
    store = _store(path)
    try:
        seconds = timed(lambda: store.add_many(rows))
        assert store.count() == len(rows)
        return seconds
    finally:
        store.close()
