"""Vectors of rows not yet in the graph, held as stored and searched exactly.

New rows land here so a write never waits for the graph; the builder drains them from the
front. A table too small for a graph keeps every row here, which is exact search.
"""

from __future__ import annotations

import numpy as np

from learning_store.similarity import unit_rows


class PendingVectors:
    """A queue of float32 vectors: appended at the back, taken from the front."""

    def __init__(self, dimension: int) -> None:
        self._dimension = dimension
        self._buffer = np.empty((0, dimension), dtype=np.float32)
        self._head = self._tail = 0

    def __len__(self) -> int:
        return self._tail - self._head

    def append(self, vectors: np.ndarray) -> None:
        """Queue vectors (copied as float32)."""
        count = len(vectors)
        if self._tail + count > len(self._buffer):
            self._make_room(count)
        self._buffer[self._tail : self._tail + count] = vectors
        self._tail += count

    def peek(self, count: int) -> np.ndarray:
        """The first `count` queued vectors as stored (a view; copy before the queue moves)."""
        return self._buffer[self._head : self._head + count]

    def peek_unit(self, count: int) -> np.ndarray:
        """The first `count` queued vectors, as unit vectors (all zero where no direction)."""
        return unit_rows(self.peek(count))

    def take(self, offsets: np.ndarray) -> np.ndarray:
        """The queued vectors at these offsets from the front (a copy)."""
        return self._buffer[self._head + offsets]

    def drop(self, count: int) -> None:
        """Forget the first `count` vectors (the graph now holds them)."""
        self._head += min(count, len(self))
        if self._head == self._tail:  # drained: give the memory back
            self._buffer = np.empty((0, self._dimension), dtype=np.float32)
            self._head = self._tail = 0

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine of each queued vector to a unit query (0 for vectors with no direction)."""
        held = self._buffer[self._head : self._tail]
        with np.errstate(over="ignore", invalid="ignore"):
            norms = np.sqrt(np.einsum("ij,ij->i", held, held))  # no n x d temporary
            scores = held @ query
        usable = np.isfinite(norms) & (norms > 0)
        return np.divide(scores, norms, out=np.zeros_like(scores), where=usable)

    def _make_room(self, count: int) -> None:
        held = self._buffer[self._head : self._tail]
        needed = len(held) + count
        capacity = max(needed + needed // 8, 1024)
        buffer = np.empty((capacity, self._dimension), dtype=np.float32)
        buffer[: len(held)] = held
        self._buffer, self._head, self._tail = buffer, 0, len(held)
