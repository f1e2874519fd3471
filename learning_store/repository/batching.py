"""Validate and chunk batch input: the part of `add_many` every store shares."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from pydantic import ValidationError

from learning_store.models import BatchResult, ExecutionRecord, RejectedRecord, task_id_of
from learning_store.models import rejection_reason as describe_errors


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
    insert_new: Callable[[list[ExecutionRecord]], int],
) -> BatchResult:
    """Run `add_many`'s algorithm: validate each chunk, then insert its new rows atomically.

    `insert_new` writes the given unique records in one transaction, skipping task_ids that
    are already stored, and returns how many it wrote. Rows repeated in an earlier chunk are
    stored by then, so the store reports them as duplicates too.
    """
    if isinstance(rows, ExecutionRecord | dict):
        raise TypeError("add_many takes an iterable of records; use add() for a single record")
    stored = duplicates = 0
    rejected: list[RejectedRecord] = []
    for start, batch in chunks(rows, chunk_size):
        chunk = validate_chunk(batch, start)
        written = insert_new(chunk.records) if chunk.records else 0
        stored += written
        duplicates += len(chunk.records) - written + chunk.repeats
        rejected.extend(chunk.rejected)
    return BatchResult(stored, duplicates, rejected)
