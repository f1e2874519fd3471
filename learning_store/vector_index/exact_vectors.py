"""Every indexed row's stored float32 vector, by position, for exact rescoring and scans.

Reading 40 candidates' embeddings back from DuckDB costs 6-10 ms at a million rows, more
than a whole search may take, and holding every vector in Python memory costs 1.5 GB. So
the index keeps its own copy in an append-only file next to the database, mapped into
memory: a search touches only its candidates' pages, which the operating system caches.
Row i of the file is the vector at position i, exactly as stored. A running checksum of
the file is kept as rows are appended, so a save records it without reading the file
again, and a load checks it while it reads the file once (which also brings the file into
the page cache: the first searches then find it there). An in-memory database keeps the
copy in an array instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xxhash

READ_BLOCK = 64 << 20
"""Bytes hashed per read while a load checks the file."""


class DamagedFileError(ValueError):
    """A saved file does not hold what its stamp says (truncated, overwritten, missing)."""


class ExactVectors:
    """float32 vectors by position: appended in order, read by any positions."""

    def __init__(
        self,
        path: Path | None,
        dimension: int,
        *,
        keep: int = 0,
        checksum: str | None = None,
    ) -> None:
        """Open the copy at `path` (None: in memory), keeping its first `keep` rows.

        With `keep`, those rows must hash to `checksum` (the file is read once to check).

        Raises:
            DamagedFileError: the file holds fewer rows or other bytes than expected.
        """
        self._path, self._dimension = path, dimension
        self._row_bytes = dimension * 4
        self._size = 0
        self._hash = xxhash.xxh3_64()
        self._memory = np.empty((0, dimension), dtype=np.float32)
        self._mapped: np.ndarray | None = None
        if path is None:
            if keep:
                raise ValueError("an in-memory copy starts empty")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if keep:
            self._check(path, keep, checksum)
        with path.open("ab") as file:
            file.truncate(keep * self._row_bytes)
        self._size = keep

    def _check(self, path: Path, keep: int, checksum: str | None) -> None:
        wanted = keep * self._row_bytes
        try:
            held = path.stat().st_size
        except FileNotFoundError as missing:
            raise DamagedFileError(f"{path} is missing") from missing
        if held < wanted:
            raise DamagedFileError(f"{path} holds {held // self._row_bytes:,} vectors of {keep:,}")
        buffer = bytearray(min(READ_BLOCK, wanted))
        view = memoryview(buffer)
        left = wanted
        with path.open("rb") as file:
            while left:
                got = file.readinto(view[: min(len(buffer), left)])
                if not got:
                    raise DamagedFileError(f"{path} ended early")
                self._hash.update(view[:got])
                left -= got
        if checksum is not None and self._hash.hexdigest() != checksum:
            raise DamagedFileError(f"{path} does not hold the vectors its index saved")

    def __len__(self) -> int:
        return self._size

    @property
    def path(self) -> Path | None:
        """The file the vectors are kept in (None: in memory)."""
        return self._path

    def checksum(self) -> str:
        """The checksum of every row appended so far (what `keep` rows are checked against)."""
        return self._hash.hexdigest()

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
            data = memoryview(block.data).cast("B")
            with self._path.open("ab", buffering=0) as file:
                file.write(data)
            self._hash.update(data)
        self._size += len(block)

    def block(self, start: int, stop: int) -> np.ndarray:
        """The vectors at positions [start, stop) (a read-only view where possible)."""
        if self._path is None:
            return self._memory[start:stop]
        return self._map(stop)[start:stop]

    def take(self, positions: np.ndarray) -> np.ndarray:
        """The vectors at these positions (a copy), in the order given."""
        if self._path is None:
            return self._memory[positions]
        if len(positions) == 0:
            return np.empty((0, self._dimension), dtype=np.float32)
        return np.asarray(self._map(int(positions.max()) + 1)[positions])

    def _map(self, rows: int) -> np.ndarray:
        mapped = self._mapped
        if mapped is None or len(mapped) < rows:
            assert self._path is not None
            size = self._size
            mapped = np.memmap(
                self._path, dtype=np.float32, mode="r", shape=(size, self._dimension)
            )
            self._mapped = mapped
        return mapped

    def sync(self) -> None:
        """Make the appended vectors durable before a saved index refers to them."""
        if self._path is not None:
            with self._path.open("ab") as file:
                os.fsync(file.fileno())
