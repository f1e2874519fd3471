"""The `Embedder` protocol: turn a batch of texts into unit-length vectors in one call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Anything that embeds texts: `embed` takes a whole batch and returns one row per text."""

    @property
    def dimension(self) -> int:
        """Length of every vector this embedder returns."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for `texts` as a float32 array of shape (len(texts), dimension)."""
        ...
