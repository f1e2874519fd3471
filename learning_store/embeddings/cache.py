"""`CachingEmbedder`: a bounded LRU of text -> vector in front of any embedder.

Routing traffic repeats task descriptions; a hit returns the stored vector without
touching the model. Misses in one call are embedded together in a single model call.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from learning_store.embeddings.base import Embedder


@dataclass
class CacheStats:
    """Counters for the cache: texts served from it, texts sent to the model, model calls."""

    hits: int = 0
    misses: int = 0
    model_calls: int = 0


class CachingEmbedder:
    """Wraps an `Embedder`; thread-safe; `max_entries=0` disables caching."""

    def __init__(self, inner: Embedder, max_entries: int = 10_000) -> None:
        self.inner = inner
        self.max_entries = max_entries
        self.stats = CacheStats()
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        """The wrapped embedder's dimension."""
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for `texts`, computing only the distinct texts not in the cache."""
        result = np.empty((len(texts), self.dimension), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for row, text in enumerate(texts):
                vector = self._vectors.get(text)
                if vector is None:
                    missing.setdefault(text, []).append(row)
                else:
                    self._vectors.move_to_end(text)
                    result[row] = vector
            self.stats.hits += len(texts) - sum(len(rows) for rows in missing.values())
            self.stats.misses += len(missing)
        if not missing:
            return result
        fresh = np.asarray(self.inner.embed(list(missing)), dtype=np.float32)
        with self._lock:
            self.stats.model_calls += 1
            for (text, rows), vector in zip(missing.items(), fresh, strict=True):
                result[rows] = vector
                if self.max_entries:
                    self._vectors[text] = vector
                    self._vectors.move_to_end(text)
            while len(self._vectors) > self.max_entries:
                self._vectors.popitem(last=False)
        return result

    def __len__(self) -> int:
        return len(self._vectors)
