"""`create_repository`: the one place a store is chosen from a URL or `LearningConfig`."""

from __future__ import annotations

from sqlalchemy.engine import URL

from learning_store.config import LearningConfig
from learning_store.repository.base import ExecutionRepository
from learning_store.repository.memory import InMemoryExecutionRepository
from learning_store.repository.sql import SqlExecutionRepository
from learning_store.urls import backend_name


def create_repository(
    url: str | URL | None = None, *, config: LearningConfig | None = None
) -> ExecutionRepository:
    """Open the store a URL names (default: `config.database_url`).

    `duckdb:///path/file.db` and `duckdb:///:memory:` open DuckDB, `postgresql+psycopg://...`
    PostgreSQL, and `memory://` the in-memory fake. SQL stores are migrated when new.
    """
    settings = config or LearningConfig()
    target = url or settings.database_url
    if backend_name(target) == "memory":
        return InMemoryExecutionRepository(batch_size=settings.batch_size)
    return SqlExecutionRepository(target, config=settings)
