"""The bulk paths of `learning-store bench`: export, ingest and add_many of plain dicts.

Each is measured against the engine alone on the same data in the same run, the two sides
taking turns, best of a few each. Export and ingest are what a user runs: the
`learning-store` command in a new process, process start included, against a new Python
process that asks DuckDB alone to do the same.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from learning_store.arrow_codec import records_to_arrow
from learning_store.bench.common import BenchOptions, BenchResult, make_records, scratch, timed
from learning_store.config import LearningConfig
from learning_store.files.formats import FileFormat
from learning_store.files.writers import write_parquet_batches, write_records
from learning_store.repository import ExecutionRepository, RecordInput, create_repository

TURNS = 3
"""Turns each side of a bulk ratio takes; the best of each side is kept."""


def _store(path: Path, batch_size: int = 1000) -> ExecutionRepository:
    return create_repository(f"duckdb:///{path}", config=LearningConfig(batch_size=batch_size))


def measure_export(options: BenchOptions, result: BenchResult) -> None:
    """`learning-store export` to Parquet against DuckDB's own COPY of the same rows.

    Both write ZSTD Parquet oldest first, each from a process of its own.
    """
    ours, engine = [], []
    with scratch() as folder:
        store = _store(folder / "export.db")
        store.add_many(make_records(options.similar_rows, seed=3))
        store.close()
        url = f"duckdb:///{folder / 'export.db'}"
        copy = (
            "COPY (SELECT * FROM executions ORDER BY timestamp, task_id) "
            "TO ? (FORMAT parquet, COMPRESSION zstd)"
        )
        for _ in range(TURNS):
            ours.append(_command("export", str(folder / "ours.parquet"), "--url", url))
            engine.append(_engine(folder / "export.db", copy, folder / "engine.parquet"))
    result.rates.update(
        export_rows_per_s=options.similar_rows / min(ours),
        export_engine_rows_per_s=options.similar_rows / min(engine),
    )
    result.ratios.update(export_parquet_vs_engine=min(engine) / min(ours))


async def measure_ingest(options: BenchOptions, result: BenchResult) -> None:
    """`learning-store ingest` of Parquet against DuckDB's INSERT ... SELECT FROM read_parquet.

    Each turn ingests into a new file, each side in a process of its own. Ours validates
    every row, skips stored task_ids, writes a rejects file and leaves a saved vector index;
    the engine alone does none of that. The JSON-lines rows carry embeddings; their rate is
    the one the command reports (rows over the ingest's own seconds), and the whole
    command's seconds, its start and the saved index included, are a rate beside it.
    """
    records = make_records(options.ingest_rows, seed=5)
    ours, engine, jsonl, jsonl_wall = [], [], [], []
    insert = "INSERT INTO executions SELECT * FROM read_parquet(?)"
    with scratch() as folder:
        parquet, lines = folder / "rows.parquet", folder / "rows.jsonl"
        exported = records_to_arrow(records, datetime.now(UTC))  # as `export` writes it
        write_parquet_batches(parquet, exported.to_batches(max_chunksize=65_536))
        write_records(lines, FileFormat.JSONL, [records[: options.jsonl_rows]])
        for turn in range(TURNS):
            ours.append(_command("ingest", str(parquet), "--url", _url(folder, f"ours{turn}")))
            _store(folder / f"engine{turn}.db").close()  # an identical, empty table
            engine.append(_engine(folder / f"engine{turn}.db", insert, parquet))
            printed = _command_output("ingest", str(lines), "--url", _url(folder, f"jsonl{turn}"))
            jsonl_wall.append(printed[0])
            jsonl.append(_reported_rate(printed[1]))
    result.rates.update(
        ingest_parquet_rows_per_s=options.ingest_rows / min(ours),
        ingest_engine_rows_per_s=options.ingest_rows / min(engine),
        ingest_jsonl_command_s=min(jsonl_wall),
    )
    result.ratios.update(
        ingest_parquet_vs_engine=min(engine) / min(ours),
        ingest_jsonl_rows_per_s=max(jsonl),
    )


def _url(folder: Path, name: str) -> str:
    return f"duckdb:///{folder / name}.db"


def _command(*arguments: str) -> float:
    """Seconds `learning-store ARGUMENTS` takes in a new process, its start included."""
    return _command_output(*arguments)[0]


def _reported_rate(output: str) -> float:
    """The rows/s an ingest's summary line reports ("... in 2.7 s (18,763 rows/s)")."""
    found = re.findall(r"\(([\d,]+) rows/s\)", output)
    if not found:
        raise RuntimeError(f"no rate in the ingest's output: {output[-500:]}")
    return float(found[-1].replace(",", ""))


def _command_output(*arguments: str) -> tuple[float, str]:
    """Seconds `learning-store ARGUMENTS` takes in a new process, and what it printed."""
    environment = {**os.environ, "LEARNING_STORE_EMBEDDING_MODEL": "hashing", "COLUMNS": "200"}
    started = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-m", "learning_store.cli", *arguments],
        capture_output=True,
        text=True,
        env=environment,
    )
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(f"learning-store {arguments[0]} failed: {finished.stderr[-2000:]}")
    return seconds, finished.stdout


_ENGINE_PROGRAM = (
    "import sys, duckdb\n"
    "connection = duckdb.connect(sys.argv[1])\n"
    "connection.execute(sys.argv[2], [sys.argv[3]])\n"
    "connection.close()\n"
)


def _engine(database: Path, statement: str, file: Path) -> float:
    """Seconds a new Python process takes to run `statement` on `database` with DuckDB alone."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _ENGINE_PROGRAM, str(database), statement, str(file)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def measure_dict_batches(options: BenchOptions, result: BenchResult) -> None:
    """`add_many` of plain dicts against the same rows as `ExecutionRecord`s, in turns.

    The dicts hold embeddings as lists of floats; each run writes a new DuckDB file.
    """
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


def _add_many(path: Path, rows: Sequence[RecordInput]) -> float:
    store = _store(path)
    try:
        seconds = timed(lambda: store.add_many(rows))
        assert store.count() == len(rows)
        return seconds
    finally:
        store.close()
