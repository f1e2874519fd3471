"""Ingest a file into a store: stream it in batches, embed each batch, report bad rows.

Rejected rows go to `<file>.rejects.jsonl` beside the input, one JSON object per row with
its line number and reason. A row without a task_id gets one derived from its content, so
ingesting the same file twice stores nothing new.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa

from learning_store.api import LearningDatabase
from learning_store.arrow_codec import arrow_rows
from learning_store.bulk.validate import validate_mappings
from learning_store.files.formats import FileFormat
from learning_store.files.readers import ProgressCounter, SourceRow, read_batches, read_rows
from learning_store.results import BatchResult

CONTENT_ID_NAMESPACE = uuid.UUID("6f1c2b8e-61a4-4d0c-9a53-2c6f1d0e7a11")
"""Namespace of task_ids derived from row content (uuid5)."""

INGEST_BATCH_ROWS = 10_000
"""Rows per write transaction of a JSON-lines or CSV ingest, unless asked otherwise: a bulk
load commits in large steps (a DuckDB commit costs ~10 ms, which at 1,000 rows would double
the load), and these rows are Python objects while they are parsed, so not larger."""
PARQUET_BATCH_ROWS = 61_440
"""Rows per write transaction of a Parquet ingest: half a DuckDB row group. DuckDB writes
a transaction of a row group straight to the file, a smaller one through its write-ahead
log first (raw inserts of 200,000 rows with embeddings: 10,000-row transactions 8.8 s,
50,000 5.8 s, one transaction 4.5 s). But the vector index only sees committed rows: with
whole row groups the two parallel transactions of a 200,000-row file committed at the end
and the index was trained at close (1.4 s after the last row); at half a row group it
trains while the rest is written. The CLI ingest of that file took 5.9 s against 6.5-7.2 s
(DuckDB's own read_parquet, process start included: ~3.9 s)."""

ProgressCallback = Callable[[int, int], None]
RowReader = Callable[[Path, ProgressCounter], Iterator[SourceRow]]
"""Reads a file's rows: how a format this package does not read itself is ingested."""
"""Called after each batch with (rows read so far, bytes read so far)."""


@dataclass(frozen=True)
class IngestSummary:
    """What happened to a file's rows."""

    path: Path
    rows: int
    stored: int
    duplicates: int
    rejected: int
    seconds: float
    rejects_path: Path | None

    @property
    def rows_per_second(self) -> float:
        """Throughput over the whole ingest."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def rejects_path_for(path: Path) -> Path:
    """Where the rejected rows of `path` are written."""
    return path.with_name(path.name + ".rejects.jsonl")


def content_task_id(data: dict[str, Any]) -> str:
    """A stable task_id for a row that has none: the same row always gets the same id."""
    canonical = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    return str(uuid.uuid5(CONTENT_ID_NAMESPACE, canonical))


async def ingest_file(
    db: LearningDatabase,
    path: Path,
    file_format: FileFormat,
    *,
    batch_size: int | None = None,
    on_progress: ProgressCallback | None = None,
    reader: RowReader | None = None,
) -> IngestSummary:
    """Store every valid row of `path`; see the module docstring for rejects and ids.

    `batch_size` is the rows of a write transaction (default: `PARQUET_BATCH_ROWS` for
    Parquet, `INGEST_BATCH_ROWS` for text). `reader` reads a format the files package
    does not (OTLP/JSON, whose reader lives with the OTLP interface).
    """
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {str(path)!r}")
    started = time.perf_counter()
    rejects = _RejectsFile(rejects_path_for(path))
    try:
        if file_format is FileFormat.PARQUET:
            rows = batch_size or PARQUET_BATCH_ROWS
            totals = await _ingest_parquet(db, path, rows, rejects, on_progress)
        else:
            rows = batch_size or INGEST_BATCH_ROWS
            read = reader or (lambda source, counter: read_rows(source, file_format, counter))
            totals = await _ingest_text(db, path, read, rows, rejects, on_progress)
    finally:
        rejects.close()
    rows, stored, duplicates = totals
    return IngestSummary(
        path,
        rows,
        stored,
        duplicates,
        rejects.count,
        time.perf_counter() - started,
        rejects.path if rejects.count else None,
    )


async def _ingest_text(
    db: LearningDatabase,
    path: Path,
    read: RowReader,
    batch_size: int,
    rejects: _RejectsFile,
    on_progress: ProgressCallback | None,
) -> tuple[int, int, int]:
    """JSON lines and CSV: parsed and validated a batch at a time, one transaction each.

    The next batch is parsed and validated here while the store writes the previous one in
    its thread, so the two overlap; at most two batches are held.
    """
    counter = ProgressCounter()
    rows = stored = duplicates = 0
    pending: tuple[asyncio.Future[BatchResult], list[SourceRow], list[Reject]] | None = None

    async def settle() -> None:
        nonlocal stored, duplicates
        if pending is None:
            return
        work, parsed, bad = pending
        result = await work
        stored += result.stored
        duplicates += result.duplicates
        for rejected in result.rejected:
            task_id = str(rejected.task_id) if rejected.task_id else None
            bad.append((parsed[rejected.index].line, task_id, rejected.reason))
        for line, task_id, reason in sorted(bad, key=lambda entry: entry[0]):
            rejects.write(line, task_id, reason)

    for batch in _batches(read(path, counter), batch_size):
        rows += len(batch)
        parsed = [row for row in batch if row.data is not None]
        bad: list[Reject] = [(row.line, None, row.error) for row in batch if row.error]
        rows_data = [row.data for row in parsed if row.data is not None]
        for data in rows_data:
            if "task_id" not in data:
                data["task_id"] = content_task_id(data)
        valid = validate_mappings(rows_data)
        await settle()
        pending = (asyncio.ensure_future(db.store_arrow([valid])), parsed, bad)
        await asyncio.sleep(0)  # let the write start in its thread before parsing on
        if on_progress is not None:
            on_progress(rows, counter.consumed)
    await settle()
    return rows, stored, duplicates


Reject = tuple[int, str | None, str]
"""A rejected row: line, task_id if known, reason."""


async def _ingest_parquet(
    db: LearningDatabase,
    path: Path,
    batch_size: int,
    rejects: _RejectsFile,
    on_progress: ProgressCallback | None,
) -> tuple[int, int, int]:
    """Parquet: record batches straight into the store, no Python object per valid row."""
    rows = 0

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal rows
        for batch in read_batches(path, batch_size):
            yield with_content_ids(batch)
            rows += batch.num_rows
            if on_progress is not None:
                on_progress(rows, rows)

    result = await db.store_arrow(batches(), rows_per_transaction=batch_size)
    for rejected in result.rejected:
        task_id = str(rejected.task_id) if rejected.task_id else None
        rejects.write(rejected.index + 1, task_id, rejected.reason)
    return rows, result.stored, result.duplicates


_TEXT_TYPES = (pa.string(), pa.large_string(), pa.null())


def with_content_ids(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with a content-derived task_id (as text) for each row that has none."""
    names = batch.schema.names
    if "task_id" in names and batch.column("task_id").null_count == 0:
        return batch
    column = batch.column("task_id") if "task_id" in names else pa.nulls(batch.num_rows)
    if not (column.type in _TEXT_TYPES or isinstance(column.type, pa.UuidType)):
        return batch  # the validator reports such a column's values
    missing = np.flatnonzero(~column.is_valid().to_numpy(zero_copy_only=False))
    rows = list(arrow_rows(batch.take(pa.array(missing, pa.int64()))))
    ids = [None if value is None else str(value) for value in column.to_pylist()]
    for row, data in zip(missing.tolist(), rows, strict=True):
        ids[row] = content_task_id(data)
    filled = pa.array(ids, pa.string())
    if "task_id" in names:
        return batch.set_column(names.index("task_id"), "task_id", filled)
    return batch.append_column("task_id", filled)


def _batches(rows: Iterator[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    while batch := list(islice(rows, size)):
        yield batch


class _RejectsFile:
    """Opened on the first rejected row; a stale file from an earlier run is removed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._handle: IO[str] | None = None
        path.unlink(missing_ok=True)

    def write(self, line: int, task_id: str | None, reason: str) -> None:
        if self._handle is None:
            self._handle = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - kept open
        entry = {"line": line, "task_id": task_id, "reason": reason}
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
