"""Stream rows out of JSON-lines, CSV and Parquet files, each with its line number.

Nothing reads a whole file into memory: rows come one at a time (Parquet in record batches).
A row that cannot even be parsed carries an error instead of data, so the caller can
report it with its line number and carry on.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from learning_store.arrow_codec import arrow_rows
from learning_store.files.formats import FileFormat

JSON_COLUMNS = ("metadata", "embedding")
"""CSV cells holding JSON text."""
IGNORED_COLUMNS = ("uploaded_at",)
"""Columns an export writes that ingest leaves to the store."""


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One row of an input file: its line (row number for Parquet) and data, or why not."""

    line: int
    data: dict[str, Any] | None
    error: str | None = None


class ProgressCounter:
    """How far the reader is: bytes for text files, rows for Parquet (see `progress_total`)."""

    def __init__(self) -> None:
        self.consumed = 0


def read_rows(
    path: Path, file_format: FileFormat, progress: ProgressCounter | None = None
) -> Iterator[SourceRow]:
    """Rows of the file in order."""
    counter = progress or ProgressCounter()
    if file_format is FileFormat.JSONL:
        yield from _jsonl_rows(path, counter)
    elif file_format is FileFormat.CSV:
        yield from _csv_rows(path, counter)
    else:
        yield from _parquet_rows(path, counter)


def _text_lines(path: Path, counter: ProgressCounter) -> Iterator[str]:
    with open(path, "rb") as handle:
        for raw in handle:
            counter.consumed += len(raw)
            yield raw.decode("utf-8", errors="replace")


def _jsonl_rows(path: Path, counter: ProgressCounter) -> Iterator[SourceRow]:
    for number, line in enumerate(_text_lines(path, counter), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield SourceRow(number, None, f"line: invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(data, dict):
            yield SourceRow(
                number, None, f"line: expected a JSON object, got {type(data).__name__}"
            )
            continue
        for column in IGNORED_COLUMNS:
            data.pop(column, None)
        yield SourceRow(number, data)


def _csv_rows(path: Path, counter: ProgressCounter) -> Iterator[SourceRow]:
    reader = csv.DictReader(_text_lines(path, counter))
    for cells in reader:
        data: dict[str, Any] = {}
        for column, value in cells.items():
            if column is None or column in IGNORED_COLUMNS or value in (None, ""):
                continue  # empty cell: the field's default applies (or "required" is reported)
            data[column] = _json_cell(value) if column in JSON_COLUMNS else value
        yield SourceRow(reader.line_num, data)


def _json_cell(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value  # validation reports the field with the text it got


def _parquet_rows(path: Path, counter: ProgressCounter) -> Iterator[SourceRow]:
    parquet = pq.ParquetFile(path)
    number = 0
    for batch in parquet.iter_batches(batch_size=1000):
        for data in arrow_rows(batch):
            number += 1
            counter.consumed = number
            yield SourceRow(number, data)


def progress_total(path: Path, file_format: FileFormat) -> int:
    """What `ProgressCounter` counts up to: the file's bytes, or for Parquet its rows."""
    if file_format is FileFormat.PARQUET:
        return pq.ParquetFile(path).metadata.num_rows
    return path.stat().st_size
