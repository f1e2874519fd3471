"""What the vector index keeps of each row besides its vector: id, time, repo and tier.

Columns are numpy arrays that grow by appending, so a filter is a vectorised mask and a
million rows cost ~30 bytes each: the 16 bytes of the task_id, the timestamp, and small
integer codes for the repo and the model tier. A row's position here is its label in the
graph, so no mapping sits between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import numpy as np

NO_CODE = -1
"""The code of a label the index has never seen: it matches no row."""


class Codes:
    """Small integer codes for the labels of one column (repos, tiers)."""

    def __init__(self, labels: Sequence[str] = ()) -> None:
        self.label: list[str] = list(labels)
        self.code: dict[str, int] = {label: code for code, label in enumerate(self.label)}

    def of(self, labels: Sequence[str]) -> np.ndarray:
        """The codes of these labels, new labels getting the next free code."""
        codes = np.empty(len(labels), dtype=np.int32)
        for row, label in enumerate(labels):
            code = self.code.get(label)
            if code is None:
                code = self.code[label] = len(self.label)
                self.label.append(label)
            codes[row] = code
        return codes


@dataclass(frozen=True)
class RowBatch:
    """Rows to add to the index: raw task_id bytes (n x 16), vectors and filter columns."""

    ids: np.ndarray
    vectors: np.ndarray
    timestamps_us: np.ndarray
    repos: Sequence[str]
    tiers: Sequence[str]

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: np.ndarray) -> RowBatch:
        """Only these rows (positions into this batch)."""
        return RowBatch(
            self.ids[rows],
            self.vectors[rows],
            self.timestamps_us[rows],
            [self.repos[row] for row in rows],
            [self.tiers[row] for row in rows],
        )


class TaskIds(Sequence[UUID]):
    """task_ids as raw 16-byte rows, turned into UUIDs on access (ranking reads few)."""

    def __init__(self, raw: np.ndarray) -> None:
        self._raw = raw

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, row: int) -> UUID:  # type: ignore[override]
        return UUID(bytes=self._raw[row].tobytes())


class IndexedRows:
    """task_id, timestamp, repo code and tier code of every indexed row, by position."""

    def __init__(self) -> None:
        self.ids = np.empty((0, 16), dtype=np.uint8)
        self.timestamps = np.empty(0, dtype=np.int64)
        self.repos = np.empty(0, dtype=np.int32)
        self.tiers = np.empty(0, dtype=np.int16)
        self.repo_codes, self.tier_codes = Codes(), Codes()
        self._size = 0
        self._oldest: int | None = None  # the smallest timestamp, so most masks skip time

    def __len__(self) -> int:
        return self._size

    def append(self, batch: RowBatch) -> None:
        """Add rows at the next positions."""
        start, count = self._size, len(batch)
        self._reserve(start + count)
        end = start + count
        self.ids[start:end] = batch.ids
        self.timestamps[start:end] = batch.timestamps_us
        self.repos[start:end] = self.repo_codes.of(batch.repos)
        self.tiers[start:end] = self.tier_codes.of(batch.tiers)
        self._size = end
        if count:
            oldest = int(batch.timestamps_us.min())
            self._oldest = oldest if self._oldest is None else min(self._oldest, oldest)

    def task_id(self, position: int) -> UUID:
        """The task_id of the row at this position."""
        return UUID(bytes=self.ids[position].tobytes())

    def task_ids(self, positions: np.ndarray) -> TaskIds:
        """The task_ids at these positions, each made a UUID only when read."""
        return TaskIds(self.ids[positions])

    def mask(
        self, start: int, stop: int, *, repo: str | None, since_us: int, tier: str | None
    ) -> np.ndarray | None:
        """Which of positions [start, stop) pass the filters; None when every one does."""
        keep: np.ndarray | None = None
        if self._oldest is not None and self._oldest < since_us:
            keep = self.timestamps[start:stop] >= since_us
        for column, codes, label in (
            (self.repos, self.repo_codes, repo),
            (self.tiers, self.tier_codes, tier),
        ):
            if label is not None:
                matching = column[start:stop] == codes.code.get(label, NO_CODE)
                keep = matching if keep is None else keep & matching
        return keep

    def snapshot(self, stop: int) -> dict[str, np.ndarray]:
        """Copies of the first `stop` rows' columns, for saving."""
        return {
            "ids": self.ids[:stop].copy(),
            "timestamps": self.timestamps[:stop].copy(),
            "repos": self.repos[:stop].copy(),
            "tiers": self.tiers[:stop].copy(),
        }

    @classmethod
    def restored(
        cls, columns: dict[str, np.ndarray], repos: Sequence[str], tiers: Sequence[str]
    ) -> IndexedRows:
        """Rows as `snapshot` saved them, with the labels their codes stand for."""
        rows = cls()
        rows.ids, rows.timestamps = columns["ids"], columns["timestamps"]
        rows.repos, rows.tiers = columns["repos"], columns["tiers"]
        rows.repo_codes, rows.tier_codes = Codes(repos), Codes(tiers)
        rows._size = len(rows.ids)
        rows._oldest = int(rows.timestamps.min()) if rows._size else None
        return rows

    def _reserve(self, needed: int) -> None:
        capacity = len(self.timestamps)
        if needed <= capacity:
            return
        capacity = max(needed + needed // 8, 2 * capacity, 1024)
        self.ids = _grown(self.ids, capacity)
        self.timestamps = _grown(self.timestamps, capacity)
        self.repos = _grown(self.repos, capacity)
        self.tiers = _grown(self.tiers, capacity)


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    bigger = np.empty((capacity, *array.shape[1:]), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger
