"""`HashingEmbedder`: deterministic vectors from word hashing, with no ML dependency.

Texts that share words share hashed features, so they land closer than unrelated texts;
it knows nothing of synonyms. Used by tests and by deployments that set
`embedding_model="hashing"`.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from learning_store.models import EMBEDDING_DIMENSION

_WORD = re.compile(r"[\w']+", re.UNICODE)
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "with",
    ]
)


@lru_cache(maxsize=65_536)
def _feature(token: str, dimension: int) -> tuple[int, float]:
    """Bucket and sign of one token (signed feature hashing keeps the dot product unbiased)."""
    digest = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
    return digest % dimension, (1.0 if (digest >> 63) & 1 else -1.0)


class HashingEmbedder:
    """Bag of words and word pairs, hashed into `dimension` buckets and L2-normalised."""

    def __init__(self, dimension: int = EMBEDDING_DIMENSION) -> None:
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        """Length of every vector (384 by default, like all-MiniLM-L6-v2)."""
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text; an empty text maps to the zero vector.

        Features are gathered in plain lists and added to the matrix in one numpy call:
        adding them one numpy element at a time cost ~2/3 of the time.
        """
        rows: list[int] = []
        buckets: list[int] = []
        signs: list[float] = []
        for row, text in enumerate(texts):
            words = [word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS]
            pairs = (f"{first} {second}" for first, second in itertools.pairwise(words))
            for token in itertools.chain(words, pairs):
                bucket, sign = _feature(token, self._dimension)
                rows.append(row)
                buckets.append(bucket)
                signs.append(sign)
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        np.add.at(vectors, (rows, buckets), signs)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.divide(vectors, norms, out=vectors, where=norms > 0)
