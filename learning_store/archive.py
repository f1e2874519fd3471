"""Prune old executions, optionally archiving them to Parquet first without risking a row.

With an archive folder: rows older than the cutoff are streamed as Arrow batches (on
DuckDB made by the engine, no Python object per row) into one ZSTD Parquet file per UTC day
under Hive-style `date=YYYY-MM-DD/` folders; each file is fsynced under a temporary name,
renamed into place, and read back; only when every file holds exactly the rows written are
those rows deleted, by task_id, in one transaction. A crash before the
delete leaves the database untouched (a rerun archives the rows again in a new file); a
crash after it leaves complete, verified files.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from learning_store.arrow_codec import ARROW_SCHEMA
from learning_store.durability import fsync_path
from learning_store.errors import LearningStoreError
from learning_store.repository import ExecutionRepository

ROW_GROUP_ROWS = 10_000
"""Rows buffered per Parquet row group."""


class ArchiveVerificationError(LearningStoreError):
    """An archive file did not read back what was written; nothing was deleted."""


@dataclass
class PruneResult:
    """What a prune did."""

    cutoff: datetime
    deleted: int = 0
    archived: int = 0
    files: list[Path] = field(default_factory=list)


def prune(
    repository: ExecutionRepository, cutoff: datetime, archive_dir: Path | None = None
) -> PruneResult:
    """Delete executions older than `cutoff`, archiving them to `archive_dir` first if given."""
    if archive_dir is None:
        return PruneResult(cutoff, deleted=repository.delete_older_than(cutoff))
    written = _archive(repository, cutoff, archive_dir)
    for path, task_ids in written.items():
        _verify(path, task_ids)
    archived_ids = [task_id for task_ids in written.values() for task_id in task_ids]
    deleted = repository.delete(archived_ids) if archived_ids else 0
    return PruneResult(cutoff, deleted, len(archived_ids), sorted(written))


def _archive(
    repository: ExecutionRepository, cutoff: datetime, archive_dir: Path
) -> dict[Path, list[UUID]]:
    """Write rows older than `cutoff` to per-day files; returns each file's task_ids."""
    run = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    written: dict[Path, list[UUID]] = {}
    current: _DayFile | None = None
    try:
        for batch in repository.iter_arrow(until=cutoff, batch_rows=ROW_GROUP_ROWS):
            for day, rows in _days_of(batch):
                if current is None or current.day != day:
                    if current is not None:
                        current.seal()
                    current = _DayFile(archive_dir, day, run)
                    written[current.path] = current.task_ids
                current.add(rows)
        if current is not None:
            current.seal()
            current = None
    finally:
        if current is not None:
            current.abandon()
    return written


def _days_of(batch: pa.RecordBatch) -> Iterator[tuple[date, pa.RecordBatch]]:
    """The batch cut into runs of one UTC day (rows come oldest first)."""
    days = batch.column("timestamp").cast(pa.int64()).to_numpy() // _MICROS_PER_DAY
    cuts = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), batch.num_rows]
    for start, end in itertools.pairwise(cuts):
        if end > start:
            yield _EPOCH + timedelta(days=int(days[start])), batch.slice(start, end - start)


_MICROS_PER_DAY = 86_400_000_000
_EPOCH = date(1970, 1, 1)


class _DayFile:
    """One day's Parquet file, written under a temporary name until sealed."""

    def __init__(self, archive_dir: Path, day: date, run: str) -> None:
        folder = archive_dir / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        self.day = day
        self.path = folder / f"executions-{run}.parquet"
        self.task_ids: list[UUID] = []
        self._temporary = self.path.with_suffix(".parquet.tmp")
        self._writer = pq.ParquetWriter(self._temporary, ARROW_SCHEMA, compression="zstd")

    def add(self, rows: pa.RecordBatch) -> None:
        """Write a run of this day's rows (Arrow batches of the export schema)."""
        self._writer.write_batch(rows)
        self.task_ids.extend(rows.column("task_id").to_pylist())

    def seal(self) -> None:
        """Close, fsync and rename into place, then fsync the folder."""
        self._writer.close()
        fsync_path(self._temporary)
        self._temporary.replace(self.path)
        fsync_path(self.path.parent)

    def abandon(self) -> None:
        """Remove the unfinished file after a failure."""
        self._writer.close()
        self._temporary.unlink(missing_ok=True)


def _verify(path: Path, task_ids: list[UUID]) -> None:
    """Read the file back; its task_ids must be exactly the ones written."""
    table = pq.read_table(path, columns=["task_id"])
    found = [UUID(str(value)) for value in table.column("task_id").to_pylist()]
    if len(found) != len(task_ids) or set(found) != set(task_ids):
        raise ArchiveVerificationError(
            f"Archive file {str(path)!r} holds {len(found)} rows but {len(task_ids)} were "
            "written; nothing was deleted. Check the disk and run prune again."
        )
