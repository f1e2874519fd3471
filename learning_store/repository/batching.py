"""Validate and chunk batch input, then write it: the part of `add_many` every store shares."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, TypeVar

from learning_store.arrow_codec import arrow_rows
from learning_store.bulk.validate import (
    ArrowInput,
    ValidBatch,
    judge,
    validate_arrow,
    validate_mappings,
)
from learning_store.models import ExecutionRecord
from learning_store.results import BatchResult, RejectedRecord

Prepared = TypeVar("Prepared")


@dataclass(slots=True)
class ValidatedChunk:
    """One chunk of input: unique valid records, rejected rows, and in-chunk repeats."""

    records: list[ExecutionRecord] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    """Index in the whole input of each record, for reporting rows rejected later."""
    rejected: list[RejectedRecord] = field(default_factory=list)
    repeats: int = 0


def to_record(raw: Any) -> ExecutionRecord:
    """An `ExecutionRecord` from a record or a mapping; raises `ValidationError` or `TypeError`."""
    if isinstance(raw, ExecutionRecord):
        return raw
    return ExecutionRecord.model_validate(raw)


def validate_chunk(rows: list[Any], first_index: int) -> ValidatedChunk:
    """Validate rows; `first_index` is the position of rows[0] in the whole input."""
    chunk = ValidatedChunk()
    seen: set[Any] = set()
    for offset, raw in enumerate(rows):
        record = judge(raw, first_index + offset)
        if isinstance(record, RejectedRecord):
            chunk.rejected.append(record)
            continue
        if record.task_id in seen:
            chunk.repeats += 1
            continue
        seen.add(record.task_id)
        chunk.records.append(record)
        chunk.positions.append(first_index + offset)
    return chunk


def chunks(rows: Iterable[Any], size: int) -> Iterator[tuple[int, list[Any]]]:
    """(index of first row, rows) pairs of at most `size` rows, without materialising input."""
    iterator = iter(rows)
    start = 0
    while batch := list(islice(iterator, size)):
        yield start, batch
        start += len(batch)


Chunk = ValidatedChunk | ValidBatch
"""A validated chunk: records (the per-row path) or an Arrow table (the bulk path)."""


def valid_count(chunk: Chunk) -> int:
    """How many unique valid rows a chunk holds."""
    return chunk.table.num_rows if isinstance(chunk, ValidBatch) else len(chunk.records)


def records_of(chunk: Chunk) -> list[ExecutionRecord]:
    """A chunk's rows as records (stores without an Arrow path write these)."""
    if isinstance(chunk, ValidatedChunk):
        return chunk.records
    return [ExecutionRecord.model_validate(row) for row in arrow_rows(chunk.table)]


def validated_chunks(
    rows: Iterable[Any], size: int, *, bulk: bool = False
) -> Iterator[ValidatedChunk | ValidBatch]:
    """The input validated chunk by chunk.

    With `bulk`, chunks holding plain dicts take the vectorised validator: the same
    decisions, with an Arrow table instead of records.
    """
    if isinstance(rows, ExecutionRecord | dict):
        raise TypeError("add_many takes an iterable of records; use add() for a single record")
    for start, batch in chunks(rows, size):
        if bulk and any(type(raw) is dict for raw in batch):
            yield validate_mappings(batch, start)
        else:
            yield validate_chunk(batch, start)


def arrow_chunks(batches: Iterable[ArrowInput], size: int) -> Iterator[ValidBatch]:
    """Arrow input as validated chunks of at most `size` rows; `ValidBatch`es pass as made.

    Indexes of raw batches count rows across all of them.
    """
    offset = 0
    for batch in batches:
        if isinstance(batch, ValidBatch):
            yield batch
            continue
        for start in range(0, batch.num_rows, size):
            yield validate_arrow(batch.slice(start, size), offset + start)
        offset += batch.num_rows


def write_in_chunks(
    chunks_in: Iterable[Chunk],
    insert_new: Callable[[Prepared], int],
    *,
    prepare: Callable[[Chunk], Prepared],
    parallel: int = 1,
) -> BatchResult:
    """Run `add_many`'s algorithm: insert each validated chunk's new rows atomically.

    `prepare` turns a chunk into what `insert_new` writes (for DuckDB, an Arrow table); it
    runs here, in the caller's thread. `insert_new` writes one prepared chunk in one
    transaction, skipping task_ids already stored, and returns how many it wrote; rows
    repeated in an earlier chunk are stored by then, so they count as duplicates too. With
    `parallel` > 1, up to that many `insert_new` calls run at once in worker threads while
    the next chunk is validated; memory holds at most `parallel` + 1 chunks, and after a
    failure no further chunk is started.
    """
    stored = duplicates = 0
    rejected: list[RejectedRecord] = []

    def settle(chunk: Chunk, written: int) -> None:
        nonlocal stored, duplicates
        stored += written
        duplicates += valid_count(chunk) - written + chunk.repeats
        rejected.extend(chunk.rejected)

    if parallel <= 1:
        for chunk in chunks_in:
            settle(chunk, insert_new(prepare(chunk)) if valid_count(chunk) else 0)
        return BatchResult(stored, duplicates, rejected)
    with ThreadPoolExecutor(parallel, thread_name_prefix="learning-store-write") as pool:
        in_flight: deque[tuple[Chunk, Future[int] | None]] = deque()
        try:
            for chunk in chunks_in:
                work = pool.submit(insert_new, prepare(chunk)) if valid_count(chunk) else None
                in_flight.append((chunk, work))
                while len(in_flight) >= parallel:
                    done, future = in_flight.popleft()
                    settle(done, future.result() if future else 0)
            while in_flight:
                done, future = in_flight.popleft()
                settle(done, future.result() if future else 0)
        except BaseException:
            for _, future in in_flight:
                if future is not None:
                    future.cancel()
            raise
    return BatchResult(stored, duplicates, rejected)


_last_upload = datetime.min.replace(tzinfo=UTC)
_upload_lock = threading.Lock()


def upload_time() -> datetime:
    """Now, as the upload time of one write: every write of this process gets its own.

    Two writes never share an upload time (a later one is moved a microsecond on), so the
    rows a write stored are exactly those carrying its time.
    """
    global _last_upload
    with _upload_lock:
        now = datetime.now(UTC)
        if now <= _last_upload:
            now = _last_upload + timedelta(microseconds=1)
        _last_upload = now
        return now
