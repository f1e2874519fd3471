"""The stored float32 vectors of the indexed rows, for exact rescoring, kept out of RAM.

Reading 40 candidates' embeddings back from DuckDB costs 6-10 ms at a million rows (each
read unpacks a whole column segment), more than the whole search may take; holding them
in memory costs 1.5 GB. So the index keeps its own copy in an append-only file next to the
database, mapped into memory: a search touches only its candidates' pages, which the
operating system caches and may drop. Row i of the file is the vector at position i, exactly
as stored. An in-memory database keeps the copy in an array instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class ExactVectors:
    """float32 vectors by position: appended in order, read by any positions."""

    def __init__(self, path: Path | None, dimension: int, *, keep: int = 0) -> None:
        """Open the copy at `path` (None: in memory), keeping its first `keep` rows.

        Raises:
            ValueError: the file holds fewer than `keep` rows (it cannot be trusted).
        """
        self._path, self._dimension = path, dimension
        self._row_bytes = dimension * 4
        self._size = 0
        self._memory = np.empty((0, dimension), dtype=np.float32)
        self._mapped: np.ndarray | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
            held = path.stat().st_size // self._row_bytes
            if held < keep:
                raise ValueError(f"{path} holds {held:,} vectors, the index needs {keep:,}")
            with path.open("r+b") as file:
                file.truncate(keep * self._row_bytes)
            self._size = keep
        elif keep:
            raise ValueError("an in-memory copy starts empty")

    def __len__(self) -> int:
        return self._size

    def append(self, vectors: np.ndarray) -> None:
        """Add vectors at the next positions."""
        block = np.ascontiguousarray(vectors, dtype=np.float32)
        if self._path is None:
            end = self._size + len(block)
            if end > len(self._memory):  # grow by half, so appends cost amortised O(1)
                grown = np.empty(
                    (max(end, len(self._memory) * 3 // 2), self._dimension), np.float32
                )
                grown[: self._size] = self._memory[: self._size]
                self._memory = grown
            self._memory[self._size : end] = block
        else:
            with self._path.open("ab") as file:
                file.write(block.tobytes())
        self._size += len(block)

    def take(self, positions: np.ndarray) -> np.ndarray:
        """The vectors at these positions (a copy), in the order given."""
        if self._path is None:
            return self._memory[positions]
        mapped = self._mapped
        if mapped is None or len(mapped) < self._size:
            mapped = self._mapped = np.memmap(
                self._path, dtype=np.float32, mode="r", shape=(self._size, self._dimension)
            )
        return np.asarray(mapped[positions])

    def sync(self) -> None:
        """Make the appended vectors durable before a saved index refers to them."""
        if self._path is not None:
            with self._path.open("ab") as file:
                os.fsync(file.fileno())
