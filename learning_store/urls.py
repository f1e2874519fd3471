"""Database URL helpers: which backend a URL names, and a printable form without secrets."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from learning_store.errors import ConfigurationError

MEMORY_URL = "memory://"


def parse_url(url: str | URL) -> URL:
    """Parse a database URL, raising `ConfigurationError` with the accepted forms."""
    try:
        return make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"Cannot parse database URL {redact(str(url))!r}: use duckdb:///path/file.db, "
            "duckdb:///:memory:, postgresql+psycopg://user:pass@host:5432/db or memory://"
        ) from None


def redact(url: str | URL) -> str:
    """Return the URL with any password replaced by ***, safe for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        text = str(url)
        if "@" in text and "://" in text:
            scheme, rest = text.split("://", 1)
            return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return text


def backend_name(url: str | URL) -> str:
    """Return 'memory', 'duckdb' or 'postgresql' for a URL, or raise `ConfigurationError`."""
    if isinstance(url, str) and url.strip() in (MEMORY_URL, "memory:", "memory"):
        return "memory"
    backend = parse_url(url).get_backend_name()
    if backend in ("duckdb", "postgresql"):
        return backend
    raise ConfigurationError(
        f"Unsupported database URL {redact(url)!r}: learning_store stores executions in "
        "DuckDB (duckdb:///path/file.db), PostgreSQL (postgresql+psycopg://...) or memory://"
    )


def duckdb_path(url: str | URL) -> Path | None:
    """Return the file path of a DuckDB URL, or None for an in-memory DuckDB database."""
    database = parse_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database)
