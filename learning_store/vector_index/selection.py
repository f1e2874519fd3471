"""Which indexed rows a search's filters keep, as the bitmap the ANN scan reads, cached.

Building a filter's bitmap reads a column of every indexed row (8 MB of timestamps at a
million rows) and so evicts from the CPU caches what the store's next database read needs:
measured at a million rows, a time filter cost 0.1 ms itself and 0.4 ms more in the reads
after it. A router asks with the same repo and `days_back` search after search, so the
bitmap is kept, with its time floor rounded down to the minute so that it serves a whole
minute of searches; the few rows between that floor and the exact one are dropped from
the candidates afterwards (`VectorIndex.best`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from learning_store.vector_index.rows import IndexedRows

FLOOR_STEP_US = 60_000_000
"""A cached bitmap's time floor is the search's rounded down to a multiple of this."""
CACHED_SELECTIONS = 32
"""Bitmaps kept (~125 KB each at a million rows): repos x tiers x days_back in use."""


@dataclass(frozen=True)
class SearchFilter:
    """Which rows a search may return: a repo (None: any), a time floor, a tier (None: any)."""

    repo: str | None
    since_us: int
    tier: str | None = None


@dataclass(frozen=True)
class Selection:
    """The indexed rows a filter keeps (perhaps a few older ones: see the module doc)."""

    bits: np.ndarray
    """One bit a row, least significant first: the layout faiss's bitmap selector reads."""
    passing: int
    """How many rows the bitmap keeps."""
    positions: np.ndarray | None
    """Those rows' positions, when they are few (see `Selections.of`); else None."""


class Selections:
    """The bitmaps of the filters searched lately, for the first `stop` indexed rows.

    Rows are only ever appended, so a bitmap stays right until the ANN index grows or a
    row is marked dead; the cache is then emptied.
    """

    def __init__(self, size: int = CACHED_SELECTIONS) -> None:
        self._size = size
        self._stop = -1
        self._cached: OrderedDict[tuple[str | None, str | None, int], Selection | None] = (
            OrderedDict()
        )

    def clear(self) -> None:
        """Forget every bitmap (rows were marked dead)."""
        self._cached.clear()

    def of(self, rows: IndexedRows, stop: int, where: SearchFilter, few: int) -> Selection | None:
        """The rows among [0, stop) that `where` keeps; None when it keeps every one.

        Their positions are listed too when at most `few` rows pass.
        """
        if stop != self._stop:
            self._cached.clear()
            self._stop = stop
        floor = where.since_us - where.since_us % FLOOR_STEP_US
        key = (where.repo, where.tier, floor)
        if key in self._cached:
            self._cached.move_to_end(key)
            return self._cached[key]
        mask = rows.mask(0, stop, repo=where.repo, since_us=floor, tier=where.tier)
        selection = None
        if mask is not None:
            passing = int(np.count_nonzero(mask))
            positions = np.flatnonzero(mask) if passing <= few else None
            selection = Selection(np.packbits(mask, bitorder="little"), passing, positions)
        self._cached[key] = selection
        if len(self._cached) > self._size:
            self._cached.popitem(last=False)
        return selection
