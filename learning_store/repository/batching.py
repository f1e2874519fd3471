"""Validate and chunk batch input: the part of `add_many` every store shares."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

from pydantic import ValidationError

from learning_store.models import BatchResult, ExecutionRecord, RejectedRecord, task_id_of
from learning_store.models import rejection_reason as describe_errors

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
        index = first_index + offset
        try:
            record = to_record(raw)
        except ValidationError as exc:
            chunk.rejected.append(RejectedRecord(index, task_id_of(raw), describe_errors(exc)))
            continue
        except Exception as exc:  # a hostile object may raise anything while being read
            reason = f"record: expected an ExecutionRecord or a mapping of its fields ({exc!r})"
            chunk.rejected.append(RejectedRecord(index, None, reason[:500]))
            continue
        if record.task_id in seen:
            chunk.repeats += 1
            continue
        seen.add(record.task_id)
        chunk.records.append(record)
        chunk.positions.append(index)
    return chunk


def chunks(rows: Iterable[Any], size: int) -> Iterator[tuple[int, list[Any]]]:
    """(index of first row, rows) pairs of at most `size` rows, without materialising input."""
    iterator = iter(rows)
    start = 0
    while batch := list(islice(iterator, size)):
        yield start, batch
        start += len(batch)


def write_in_chunks(
    rows: Iterable[Any],
    chunk_size: int,
    insert_new: Callable[[Prepared], int],
    *,
    prepare: Callable[[list[ExecutionRecord]], Prepared] = lambda records: records,  # type: ignore[assignment,return-value]
    parallel: int = 1,
) -> BatchResult:
    """Run `add_many`'s algorithm: validate each chunk, then insert its new rows atomically.

    `prepare` turns a chunk's unique records into what `insert_new` writes (for DuckDB, an
    Arrow table); it runs here, in the caller's thread. `insert_new` writes one prepared
    chunk in one transaction, skipping task_ids already stored, and returns how many it
    wrote; rows repeated in an earlier chunk are stored by then, so they count as duplicates
    too. With `parallel` > 1, up to that many `insert_new` calls run at once in worker
    threads while the next chunk is prepared; memory holds at most `parallel` + 1 chunks,
    and after a failure no further chunk is started.
    """
    if isinstance(rows, ExecutionRecord | dict):
        raise TypeError("add_many takes an iterable of records; use add() for a single record")
    stored = duplicates = 0
    rejected: list[RejectedRecord] = []

    def settle(chunk: ValidatedChunk, written: int) -> None:
        nonlocal stored, duplicates
        stored += written
        duplicates += len(chunk.records) - written + chunk.repeats
        rejected.extend(chunk.rejected)

    if parallel <= 1:
        for start, batch in chunks(rows, chunk_size):
            chunk = validate_chunk(batch, start)
            settle(chunk, insert_new(prepare(chunk.records)) if chunk.records else 0)
        return BatchResult(stored, duplicates, rejected)
    with ThreadPoolExecutor(parallel, thread_name_prefix="learning-store-write") as pool:
        in_flight: deque[tuple[ValidatedChunk, Future[int] | None]] = deque()
        try:
            for start, batch in chunks(rows, chunk_size):
                chunk = validate_chunk(batch, start)
                work = pool.submit(insert_new, prepare(chunk.records)) if chunk.records else None
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
