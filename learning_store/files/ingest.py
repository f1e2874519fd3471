"""Ingest a file into a store: stream it in batches, embed each batch, report bad rows.

Rejected rows go to `<file>.rejects.jsonl` beside the input, one JSON object per row with
its line number and reason. A row without a task_id gets one derived from its content, so
ingesting the same file twice stores nothing new.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any

from learning_store.files.formats import FileFormat
from learning_store.files.readers import ProgressCounter, SourceRow, read_rows
from learning_store.service import LearningDatabase

CONTENT_ID_NAMESPACE = uuid.UUID("6f1c2b8e-61a4-4d0c-9a53-2c6f1d0e7a11")
"""Namespace of task_ids derived from row content (uuid5)."""

ProgressCallback = Callable[[int, int], None]
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
    batch_size: int,
    on_progress: ProgressCallback | None = None,
) -> IngestSummary:
    """Store every valid row of `path`; see the module docstring for rejects and ids."""
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {str(path)!r}")
    started = time.perf_counter()
    rejects = _RejectsFile(rejects_path_for(path))
    counter = ProgressCounter()
    rows = stored = duplicates = 0
    try:
        for batch in _batches(read_rows(path, file_format, counter), batch_size):
            rows += len(batch)
            parsed = [row for row in batch if row.data is not None]
            for row in batch:
                if row.error is not None:
                    rejects.write(row.line, None, row.error)
            for row in parsed:
                row.data.setdefault("task_id", content_task_id(row.data))
            result = await db.store_batch([row.data for row in parsed])
            stored += result.stored
            duplicates += result.duplicates
            for rejected in result.rejected:
                task_id = str(rejected.task_id) if rejected.task_id else None
                rejects.write(parsed[rejected.index].line, task_id, rejected.reason)
            if on_progress is not None:
                on_progress(rows, counter.consumed)
    finally:
        rejects.close()
    return IngestSummary(
        path,
        rows,
        stored,
        duplicates,
        rejects.count,
        time.perf_counter() - started,
        rejects.path if rejects.count else None,
    )


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
