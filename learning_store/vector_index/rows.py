"""What the vector index keeps of each row besides its vector: id, filters and outcome.

Columns are numpy arrays that grow by appending, so a filter is a vectorised mask and a
million rows cost ~70 bytes each: the 16 bytes of the task_id, the timestamp, small
integer codes for the repo, the model tier and the task type, how the execution went
(success, cost, duration, quality, complexity), which routing advice reads for each
neighbour without asking the database, the vector's inverse length (for exact scans),
and whether the row was deleted since it was indexed. A row's position here is its label
in the ANN index, so no mapping sits between them. Rows are never removed, only marked
dead (a delete, or a re-embed that appends the row again with its new vector); a rebuild
drops them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any
from uuid import UUID

import numpy as np

NO_CODE = -1
"""The code of a label the index has never seen: it matches no row."""

COLUMN_TYPES: dict[str, tuple[Any, tuple[int, ...]]] = {
    "ids": (np.uint8, (16,)),
    "timestamps": (np.int64, ()),
    "repos": (np.int32, ()),
    "tiers": (np.int16, ()),
    "task_types": (np.int32, ()),
    "success": (np.bool_, ()),
    "cost": (np.float64, ()),
    "duration": (np.float64, ()),
    "quality": (np.float64, ()),
    "complexity": (np.float64, ()),
    "scale": (np.float32, ()),
    "dead": (np.bool_, ()),
}
"""Each kept column: its numpy type and the shape of one row's value."""
LABELLED = ("repos", "tiers", "task_types")
"""Columns kept as integer codes of text labels."""


class Codes:
    """Small integer codes for the labels of one column (repos, tiers, task types)."""

    def __init__(self, labels: Sequence[str] = ()) -> None:
        self.label: list[str] = list(labels)
        self.code: dict[str, int] = {label: code for code, label in enumerate(self.label)}

    def of(self, labels: Sequence[str]) -> np.ndarray:
        """The codes of these labels, new labels getting the next free code."""
        for label in set(labels) - self.code.keys():
            self.code[label] = len(self.label)
            self.label.append(label)
        code = self.code
        return np.fromiter((code[label] for label in labels), dtype=np.int32, count=len(labels))


def inverse_lengths(vectors: np.ndarray) -> np.ndarray:
    """1 / length of each row, 0 for a row with no direction.

    A row has no direction when it is all zero or its float32 length overflows, exactly as
    `similarity.unit_rows` decides (so an exact scan and the rescoring agree).
    """
    matrix = np.asarray(vectors, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        lengths = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
        usable = np.isfinite(lengths) & (lengths > 0)
        return np.where(usable, 1 / np.where(usable, lengths, 1), 0).astype(np.float32)


@dataclass(frozen=True)
class RowBatch:
    """Rows to add to the index: raw task_id bytes (n x 16), vectors, filters and outcomes.

    `cost` is the actual cost, else the estimate; `quality` is NaN where none was given.
    """

    ids: np.ndarray
    vectors: np.ndarray
    timestamps_us: np.ndarray
    repos: Sequence[str]
    tiers: Sequence[str]
    task_types: Sequence[str]
    success: np.ndarray
    cost: np.ndarray
    duration: np.ndarray
    quality: np.ndarray
    complexity: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: np.ndarray) -> RowBatch:
        """Only these rows (positions into this batch)."""
        chosen: dict[str, Any] = {}
        for field in fields(self):
            column = getattr(self, field.name)
            is_array = isinstance(column, np.ndarray)
            chosen[field.name] = column[rows] if is_array else [column[row] for row in rows]
        return RowBatch(**chosen)


@dataclass(frozen=True)
class Outcomes:
    """How the executions at some positions went, column by column (see `RowBatch`)."""

    timestamps_us: np.ndarray
    task_types: list[str]
    success: np.ndarray
    cost: np.ndarray
    duration: np.ndarray
    quality: np.ndarray
    complexity: np.ndarray


class TaskIds(Sequence[UUID]):
    """task_ids as raw 16-byte rows, turned into UUIDs on access (ranking reads few)."""

    def __init__(self, raw: np.ndarray) -> None:
        self._raw = raw

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, row: int) -> UUID:  # type: ignore[override]
        return UUID(bytes=self._raw[row].tobytes())


def id_keys(raw: np.ndarray) -> np.ndarray:
    """16-byte ids (n x 16 uint8) as one comparable, sortable value each."""
    return np.ascontiguousarray(raw).view("S16").reshape(-1)


class IndexedRows:
    """Every indexed row's task_id, filter columns, outcome and liveness, by position."""

    def __init__(self) -> None:
        self.columns = {
            name: np.empty((0, *shape), dtype=dtype)
            for name, (dtype, shape) in COLUMN_TYPES.items()
        }
        self.codes = {name: Codes() for name in LABELLED}
        self._size = 0
        self._dead = 0
        self._oldest: int | None = None  # the smallest timestamp, so most masks skip time
        self._sorted: tuple[int, np.ndarray] | None = None  # (rows covered, order by id)

    def __len__(self) -> int:
        return self._size

    @property
    def dead(self) -> int:
        """How many rows were deleted (or re-embedded) since they were indexed."""
        return self._dead

    @property
    def tier_labels(self) -> list[str]:
        """Every model tier the index has seen."""
        return list(self.codes["tiers"].label)

    def append(self, batch: RowBatch) -> None:
        """Add rows at the next positions."""
        start, count = self._size, len(batch)
        self._reserve(start + count)
        end = start + count
        values: dict[str, Any] = {name: getattr(batch, name, None) for name in COLUMN_TYPES}
        values["timestamps"] = batch.timestamps_us
        values["scale"] = inverse_lengths(batch.vectors)
        values["dead"] = False
        for name in LABELLED:
            values[name] = self.codes[name].of(values[name])
        for name, column in self.columns.items():
            column[start:end] = values[name]
        self._size = end
        if count:
            oldest = int(batch.timestamps_us.min())
            self._oldest = oldest if self._oldest is None else min(self._oldest, oldest)

    def kill(self, positions: np.ndarray) -> int:
        """Mark rows dead (deleted, or superseded by a re-embed); how many were alive."""
        dead = self.columns["dead"]
        positions = np.asarray(positions, dtype=np.int64)
        alive = positions[~dead[positions]]
        dead[alive] = True
        self._dead += len(alive)
        return len(alive)

    def live_positions_of(self, raw_ids: np.ndarray) -> np.ndarray:
        """Positions of the live rows with these task_ids (16-byte rows); unknown ids skipped."""
        if self._size == 0 or len(raw_ids) == 0:
            return np.empty(0, dtype=np.int64)
        keys = id_keys(self.columns["ids"][: self._size])
        if self._sorted is None or self._sorted[0] != self._size:
            self._sorted = (self._size, np.argsort(keys, kind="stable"))
        order = self._sorted[1]
        ordered = keys[order]
        asked = id_keys(raw_ids)
        low = np.searchsorted(ordered, asked, side="left")
        high = np.searchsorted(ordered, asked, side="right")
        found = [order[start:stop] for start, stop in zip(low, high, strict=True) if stop > start]
        if not found:
            return np.empty(0, dtype=np.int64)
        positions = np.concatenate(found).astype(np.int64)
        return positions[~self.columns["dead"][positions]]

    def live_positions_before(self, cutoff_us: int) -> np.ndarray:
        """Positions of the live rows whose timestamp is before this moment."""
        timestamps = self.columns["timestamps"][: self._size]
        return np.flatnonzero((timestamps < cutoff_us) & ~self.columns["dead"][: self._size])

    def task_ids(self, positions: np.ndarray) -> TaskIds:
        """The task_ids at these positions, each made a UUID only when read."""
        return TaskIds(self.columns["ids"][positions])

    def outcomes(self, positions: np.ndarray) -> Outcomes:
        """How the executions at these positions went."""
        column = self.columns
        type_labels = self.codes["task_types"].label
        return Outcomes(
            timestamps_us=column["timestamps"][positions],
            task_types=[type_labels[code] for code in column["task_types"][positions].tolist()],
            success=column["success"][positions],
            cost=column["cost"][positions],
            duration=column["duration"][positions],
            quality=column["quality"][positions],
            complexity=column["complexity"][positions],
        )

    def mask(
        self, start: int, stop: int, *, repo: str | None, since_us: int, tier: str | None
    ) -> np.ndarray | None:
        """Which live rows of positions [start, stop) pass the filters; None when all do."""
        keep: np.ndarray | None = None
        if self._dead:
            keep = ~self.columns["dead"][start:stop]
        if self._oldest is not None and self._oldest < since_us:
            recent = self.columns["timestamps"][start:stop] >= since_us
            keep = recent if keep is None else keep & recent
        for name, label in (("repos", repo), ("tiers", tier)):
            if label is not None:
                code = self.codes[name].code.get(label, NO_CODE)
                matching = self.columns[name][start:stop] == code
                keep = matching if keep is None else keep & matching
        return keep

    def snapshot(self, stop: int) -> tuple[dict[str, np.ndarray], dict[str, Sequence[str]]]:
        """Copies of the first `stop` rows' columns and the labels of the codes, for saving."""
        columns = {name: column[:stop].copy() for name, column in self.columns.items()}
        return columns, {name: list(codes.label) for name, codes in self.codes.items()}

    @classmethod
    def restored(
        cls, columns: dict[str, np.ndarray], labels: dict[str, Sequence[str]]
    ) -> IndexedRows:
        """Rows as `snapshot` saved them.

        Raises:
            ValueError: a column is missing, of another type, or its length differs.
        """
        rows = cls()
        if set(columns) != set(COLUMN_TYPES) or set(labels) != set(LABELLED):
            raise ValueError("the saved rows lack a column or a list of labels")
        sizes = {len(columns[name]) for name in COLUMN_TYPES}
        for name, (dtype, shape) in COLUMN_TYPES.items():
            column = columns[name]
            if column.dtype != dtype or column.shape[1:] != shape:
                raise ValueError(f"the saved column {name} has another type or shape")
        if len(sizes) != 1:
            raise ValueError("the saved columns differ in length")
        rows.columns = {name: columns[name] for name in COLUMN_TYPES}
        rows.codes = {name: Codes(labels[name]) for name in LABELLED}
        rows._size = sizes.pop()
        for name in LABELLED:
            codes = rows.columns[name]
            if rows._size and (codes.min() < 0 or codes.max() >= len(rows.codes[name].label)):
                raise ValueError(f"the saved column {name} names a label that is not saved")
        rows._dead = int(np.count_nonzero(rows.columns["dead"]))
        timestamps = rows.columns["timestamps"]
        rows._oldest = int(timestamps.min()) if rows._size else None
        return rows

    def _reserve(self, needed: int) -> None:
        capacity = len(self.columns["timestamps"])
        if needed <= capacity:
            return
        capacity = max(needed + needed // 8, 1024)
        self.columns = {name: _grown(column, capacity) for name, column in self.columns.items()}


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    bigger = np.empty((capacity, *array.shape[1:]), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger
