"""An inverted-file index over 8-bit quantised unit vectors (faiss IVF-SQ8).

Chosen by measurement (README, "Choosing the index"): at a million clustered vectors it
builds several times faster than HNSW with the same codes and keeps its recall where
HNSW's stops short. Vectors are grouped by their nearest centroid; a search scans the
lists of the centroids nearest the query. The index only proposes candidates: the store
rescores them with the stored float32 vectors, so every score it returns is exact.

A filter is followed inside the scan (a bitmap names the rows that pass), and the fewer
rows pass, the more lists are probed: by the square root of the inverse share that pass,
up to all of them.

Adding rows is split in two so that searches never wait for the expensive half: `assign`
finds each new vector's list (a matrix product against every centroid; it only reads the
trained centroids, so it runs beside searches) and `add_assigned` files them (cheap).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

TRAINING_PER_LIST = 40
"""Training vectors per list (faiss asks for 39)..."""
TRAINING_VECTORS = 20_000
"""...unless that makes more than this many; then fewer per list, down to
`FEWEST_PER_LIST`: at a million clustered vectors 16 a list trained 2.6x faster than 40
with the same recall (README, "Choosing the index")."""
FEWEST_PER_LIST = 16
TRAINING_ROUNDS = 10
"""k-means iterations when training (faiss's default for IVF is 25)."""
MAX_LISTS = 4_096
PROBES = 8
"""Lists scanned per search by default; more find more of the true best, more slowly."""


def _faiss() -> Any:
    import faiss  # imported on first use: opening a store must not pay for it

    return faiss


def training_per_list(lists: int) -> int:
    """Training vectors per list for an index of this many lists."""
    return max(FEWEST_PER_LIST, min(TRAINING_PER_LIST, TRAINING_VECTORS // max(lists, 1)))


def lists_for(rows: int) -> int:
    """How many lists suit a table of `rows` rows: ~√rows, so lists hold ~√rows each.

    Half as many lists as 2·√rows train four times and file rows twice as fast, for
    ~0.1 ms more a search (README, "Choosing the index").
    """
    return max(16, min(MAX_LISTS, math.isqrt(max(rows, 1))))


class ClusterIndex:
    """faiss IVF-SQ8 with inner-product metric over unit vectors (so cosine)."""

    def __init__(self, index: Any) -> None:
        self._index = index

    @classmethod
    def trained_on(cls, sample: np.ndarray, expected_rows: int) -> ClusterIndex:
        """An empty index whose centroids and code ranges were learnt from unit vectors."""
        faiss = _faiss()
        per_list = training_per_list(lists_for(expected_rows))
        lists = min(lists_for(expected_rows), max(1, len(sample) // per_list))
        dimension = sample.shape[1]
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dimension),
            dimension,
            lists,
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
        )
        index.cp.niter = TRAINING_ROUNDS
        index.cp.min_points_per_centroid = per_list  # (faiss warns below its own 39)
        index.train(np.ascontiguousarray(sample[: lists * per_list], dtype=np.float32))
        return cls(index)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        """The length of the vectors the index holds."""
        return int(self._index.d)

    @property
    def lists(self) -> int:
        """How many lists (centroids) the index has."""
        return int(self._index.nlist)

    def assign(self, unit_vectors: np.ndarray) -> np.ndarray:
        """The list each of these unit vectors belongs in (safe beside searches)."""
        vectors = np.ascontiguousarray(unit_vectors, dtype=np.float32)
        _, lists = self._index.quantizer.search(vectors, 1)
        return np.ascontiguousarray(lists.reshape(-1), dtype=np.int64)

    def add_assigned(self, unit_vectors: np.ndarray, lists: np.ndarray) -> None:
        """Append rows whose lists `assign` found; their labels continue from the size.

        Not safe beside a search: the caller holds the index's lock.
        """
        faiss = _faiss()
        vectors = np.ascontiguousarray(unit_vectors, dtype=np.float32)
        lists = np.ascontiguousarray(lists, dtype=np.int64)
        if len(vectors):
            self._index.add_core(len(vectors), faiss.swig_ptr(vectors), None, faiss.swig_ptr(lists))

    def add(self, unit_vectors: np.ndarray) -> None:
        """Append rows (assign and file them at once)."""
        self.add_assigned(unit_vectors, self.assign(unit_vectors))

    def search(
        self,
        query: np.ndarray,
        count: int,
        *,
        probes: int = PROBES,
        kept: tuple[np.ndarray, int] | None = None,
    ) -> np.ndarray:
        """Labels of up to `count` nearest rows among those `kept` marks (None: all rows).

        `kept` is a bitmap of the rows, least significant bit first, and how many it marks.
        """
        faiss = _faiss()
        size = len(self)
        if size == 0 or count <= 0:
            return np.empty(0, dtype=np.int64)
        vector = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if kept is None:
            params = faiss.SearchParametersIVF(nprobe=min(probes, self.lists))
        else:
            bits, passing = kept
            if passing == 0:
                return np.empty(0, dtype=np.int64)
            widened = min(self.lists, math.ceil(probes * math.sqrt(size / passing)))
            chooser = faiss.IDSelectorBitmap(size, faiss.swig_ptr(bits))
            params = faiss.SearchParametersIVF(nprobe=widened, sel=chooser)
        _, labels = self._index.search(vector, count, params=params)
        found = labels[0]
        return found[found >= 0]

    @classmethod
    def load(cls, path: Path) -> ClusterIndex:
        """An index saved to `path` (faiss reads the file straight into its lists).

        Raises:
            ValueError: the file is not a whole IVF-SQ8 index.
        """
        try:
            index = _faiss().read_index(str(path))
        except RuntimeError as error:  # faiss reports damaged files as RuntimeError
            raise ValueError(f"not a readable index: {str(error)[:200]}") from error
        return cls._checked(index)

    def to_bytes(self) -> np.ndarray:
        """The index serialised (uint8), for saving."""
        return _faiss().serialize_index(self._index)

    @classmethod
    def from_bytes(cls, data: np.ndarray) -> ClusterIndex:
        """An index `to_bytes` serialised.

        Raises:
            ValueError: the bytes are not a whole IVF-SQ8 index.
        """
        try:
            index = _faiss().deserialize_index(np.ascontiguousarray(data, dtype=np.uint8))
        except RuntimeError as error:  # faiss reports damaged bytes as RuntimeError
            raise ValueError(f"not a readable index: {str(error)[:200]}") from error
        return cls._checked(index)

    @classmethod
    def _checked(cls, index: Any) -> ClusterIndex:
        if not hasattr(index, "nlist") or not hasattr(index, "quantizer"):
            raise ValueError("not an inverted-file index")
        return cls(index)
