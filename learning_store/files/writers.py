"""Write records as JSON lines, CSV or Parquet (ZSTD), streaming chunk by chunk."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from learning_store.arrow_codec import ARROW_SCHEMA, records_to_arrow
from learning_store.durability import fsync_path
from learning_store.files.formats import FileFormat
from learning_store.models import ExecutionRecord
from learning_store.schema import COLUMN_NAMES


def write_records(
    path: Path,
    file_format: FileFormat,
    chunks: Iterable[list[ExecutionRecord]],
    *,
    durable: bool = False,
) -> int:
    """Write every record of `chunks` to `path`; returns the number written.

    With `durable`, the file is fsynced before returning.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if file_format is FileFormat.PARQUET:
        written = _write_parquet(path, chunks)
    else:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            if file_format is FileFormat.JSONL:
                written = _write_jsonl(handle, chunks)
            else:
                written = _write_csv(handle, chunks)
    if durable:
        fsync_path(path)
    return written


def _write_jsonl(handle: Any, chunks: Iterable[list[ExecutionRecord]]) -> int:
    written = 0
    for chunk in chunks:
        handle.writelines(record.model_dump_json() + "\n" for record in chunk)
        written += len(chunk)
    return written


def _write_csv(handle: Any, chunks: Iterable[list[ExecutionRecord]]) -> int:
    writer = csv.writer(handle)
    writer.writerow(COLUMN_NAMES)
    written = 0
    for chunk in chunks:
        for record in chunk:
            values = record.model_dump(mode="json")
            writer.writerow([_csv_cell(name, values[name]) for name in COLUMN_NAMES])
        written += len(chunk)
    return written


def _csv_cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in ("metadata", "embedding"):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if not isinstance(value, float) else repr(value)


def write_parquet_batches(path: Path, batches: Iterable[pa.RecordBatch]) -> int:
    """Write Arrow batches of the export schema to a ZSTD Parquet file, durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with pq.ParquetWriter(path, ARROW_SCHEMA, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
            written += batch.num_rows
    fsync_path(path)
    return written


def _write_parquet(path: Path, chunks: Iterable[list[ExecutionRecord]]) -> int:
    written = 0
    with pq.ParquetWriter(path, ARROW_SCHEMA, compression="zstd") as writer:
        for chunk in chunks:
            writer.write_table(records_to_arrow(chunk))
            written += len(chunk)
    return written
