"""Build concrete objects from settings, in one place and only when asked (never at import)."""

from __future__ import annotations

from pathlib import Path

from learning_store.config import LearningConfig
from learning_store.embeddings import (
    CachingEmbedder,
    Embedder,
    HashingEmbedder,
    SentenceTransformerEmbedder,
)
from learning_store.repository import ExecutionRepository, create_repository

HASHING_MODEL = "hashing"


def build_embedder(config: LearningConfig) -> Embedder | None:
    """The embedder the settings ask for (cached), or None when embeddings are disabled."""
    if not config.embeddings_enabled:
        return None
    if config.embedding_model == HASHING_MODEL:
        inner: Embedder = HashingEmbedder()
    else:
        inner = SentenceTransformerEmbedder(
            config.embedding_model, batch_size=config.embedding_batch_size
        )
    return CachingEmbedder(inner, config.embedding_cache_size)


def database_url_for(database_path: str | Path | None, config: LearningConfig) -> str:
    """The URL for `LearningDatabase(database_path=...)`: a DuckDB file, else the config's URL."""
    if database_path is None:
        return config.database_url
    if str(database_path) == ":memory:":
        return "duckdb:///:memory:"
    return f"duckdb:///{Path(database_path)}"


def build_repository(
    database_path: str | Path | None, config: LearningConfig
) -> ExecutionRepository:
    """Open the store for a `LearningDatabase` that was not handed one."""
    return create_repository(database_url_for(database_path, config), config=config)
