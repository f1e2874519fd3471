"""Embedders: the protocol, the real model, a hashing fallback, and the LRU cache."""

from learning_store.embeddings.base import Embedder
from learning_store.embeddings.cache import CacheStats, CachingEmbedder
from learning_store.embeddings.hashing import HashingEmbedder
from learning_store.embeddings.sentence_transformer import (
    DEFAULT_MODEL,
    SentenceTransformerEmbedder,
    resolve_model,
)

__all__ = [
    "DEFAULT_MODEL",
    "CacheStats",
    "CachingEmbedder",
    "Embedder",
    "HashingEmbedder",
    "SentenceTransformerEmbedder",
    "resolve_model",
]
