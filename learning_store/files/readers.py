"""Stream rows out of JSON-lines, CSV and Parquet files, each with its line number.

Nothing reads a whole file into memory: rows come one at a time (Parquet in record batches).
A row that cannot even be parsed carries an error instead of data, so the caller can
report it with its line number and carry on.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from learning_store.arrow_codec import arrow_rows
from learning_store.bulk.fields import FIELD_RULES, Kind
from learning_store.files.formats import FileFormat
from learning_store.models import EMBEDDING_DIMENSION

JSON_COLUMNS = ("metadata", "embedding")
"""CSV cells holding JSON text."""
IGNORED_COLUMNS = ("uploaded_at",)
"""Columns an export writes that ingest leaves to the store."""


class SourceRow(NamedTuple):
    """One row of an input file: its line (row number for Parquet) and data, or why not.

    A tuple, not a dataclass: one is made per line, and a frozen dataclass costs ~1 µs.
    """

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
    elif file_format is FileFormat.OTLP_JSON:
        raise ValueError("OTLP/JSON is read by learning_store.otlp.files.otlp_json_rows")
    else:
        yield from _parquet_rows(path, counter)


def _text_lines(path: Path, counter: ProgressCounter) -> Iterator[str]:
    with open(path, "rb") as handle:
        for raw in handle:
            counter.consumed += len(raw)
            yield raw.decode("utf-8", errors="replace")


def _jsonl_rows(path: Path, counter: ProgressCounter) -> Iterator[SourceRow]:
    number = 0
    for lines in _line_blocks(path, counter):
        for raw in lines:
            number += 1
            if raw and not raw.isspace():  # no copy, unlike strip(): ~9 KB with a vector
                yield _jsonl_row(number, raw)


def _line_blocks(path: Path, counter: ProgressCounter) -> Iterator[list[bytes]]:
    """The file's lines without their newline, a few MB at a time.

    One read and one split per block, instead of a buffered readline per line.
    """
    carry = b""
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            counter.consumed += len(block)
            lines = (carry + block).split(b"\n") if carry else block.split(b"\n")
            carry = lines.pop()
            yield lines
    if carry:
        yield [carry]


BLOCK_BYTES = 4 << 20


def _jsonl_row(number: int, raw: bytes) -> SourceRow:
    """One line: orjson where it reads exactly as `json` does (3x faster), else `json`."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = _NOT_READ
    if data is _NOT_READ or (isinstance(data, dict) and _has_wide_float(data)):
        line = raw.decode("utf-8", errors="replace")
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            return SourceRow(number, None, f"line: invalid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(data, dict):
        return SourceRow(number, None, f"line: expected a JSON object, got {type(data).__name__}")
    for column in IGNORED_COLUMNS:
        data.pop(column, None)
    _compact_embedding(data)
    return SourceRow(number, data)


def _compact_embedding(data: dict[str, Any]) -> None:
    """Hold a valid embedding as float32 (converted as the record converts it).

    384 Python floats in a list cost the garbage collector a traversal each time it runs
    while a window of rows is held; one array costs nothing. An embedding the record would
    reject stays as written, so the rejects file quotes it as before.
    """
    vector = data.get("embedding")
    if type(vector) is not list or len(vector) != EMBEDDING_DIMENSION:
        return
    try:
        array = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        return
    if array.shape == (EMBEDDING_DIMENSION,) and np.isfinite(array).all():
        data["embedding"] = array


_NOT_READ = object()


def _has_wide_float(data: dict[str, Any]) -> bool:
    """A float orjson may have made from an integer too wide for 64 bits (`json` keeps the int).

    A float field turns such an integer into the same float either way; anywhere else
    (metadata, unknown keys, a field that rejects it and quotes it) the two differ.
    """
    for key, value in data.items():
        kind = type(value)
        if kind is float:
            if abs(value) >= WIDE_FLOAT and key not in _NUMBER_FIELDS:
                return True
        elif (kind is dict or kind is list) and key != "embedding" and _nested_wide(value):
            return True
    return False


def _nested_wide(value: dict[str, Any] | list[Any]) -> bool:
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is float:
            if abs(item) >= WIDE_FLOAT:
                return True
        elif type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return False


WIDE_FLOAT = 2.0**63
_NUMBER_FIELDS = frozenset(
    rule.name for rule in FIELD_RULES if rule.kind in (Kind.FLOAT, Kind.EMBEDDING)
)
"""Fields that turn any number into the same float, whichever parser read it."""


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


def read_batches(path: Path, batch_size: int) -> Iterator[pa.RecordBatch]:
    """A Parquet file's record batches, as stored (the bulk validator reads them)."""
    parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=PARQUET_READ_BUFFER)
    yield from parquet.iter_batches(batch_size=batch_size)


PARQUET_READ_BUFFER = 1 << 20
"""Bytes read from a Parquet file at a time. Without a buffer size (and with pyarrow's
pre-buffering) iter_batches read ahead a whole 1.1 GB file: 1,085 MB of Arrow memory at
peak, against 44 MB this way."""


def progress_total(path: Path, file_format: FileFormat) -> int:
    """What `ProgressCounter` counts up to: the file's bytes, or for Parquet its rows."""
    if file_format is FileFormat.PARQUET:
        return pq.ParquetFile(path).metadata.num_rows
    return path.stat().st_size
