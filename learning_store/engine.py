"""Build SQLAlchemy engines for DuckDB and PostgreSQL, and turn driver errors into ours."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from learning_store.config import LearningConfig
from learning_store.durability import ensure_folder
from learning_store.errors import (
    DatabaseLockedError,
    DatabaseUnavailableError,
    LearningStoreError,
    StorageError,
)
from learning_store.urls import backend_name, duckdb_path, parse_url, redact

_LOCK_HOLDER = re.compile(r"\(PID (\d+)\)")
DUCKDB_FILE_CONNECTIONS = 2
"""Pooled connections to a DuckDB file kept open: enough for two chunks written at once."""
DUCKDB_FILE_OVERFLOW = 64
"""More connections a DuckDB file opens while many threads use the store at once.

A connection to a database this process already has open costs ~0.5 ms, so a thread never
queues for one: with a pool as small as the cores, eight searching threads kept taking
back the connections they returned, and a delete waited 6.6 s for one."""


def create_engine_for(url: str | URL, config: LearningConfig | None = None) -> Engine:
    """An engine for a DuckDB or PostgreSQL URL, with the pool each backend needs.

    An in-memory DuckDB database lives only in its connection, so it gets exactly one
    (StaticPool) and callers serialise access to it. A DuckDB file gets a small pool: every
    connection in this process opens the same database instance, so two chunks of a batch
    can be written at once.
    """
    backend = backend_name(url)
    settings = config or LearningConfig()
    if backend == "duckdb":
        path = duckdb_path(url)
        limit = settings.duckdb_memory_limit
        connect_args = {"config": {"memory_limit": limit}} if limit else {}
        if path is None:
            engine = sa.create_engine(url, poolclass=StaticPool, connect_args=connect_args)
        else:
            ensure_folder(path.parent, "LEARNING_STORE_DATABASE_URL")
            engine = sa.create_engine(
                url,
                pool_size=DUCKDB_FILE_CONNECTIONS,
                max_overflow=DUCKDB_FILE_OVERFLOW,
                connect_args=connect_args,
            )
        event.listen(engine, "connect", _duckdb_session_setup)
        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=settings.pool_size,
        pool_timeout=settings.pool_timeout_seconds,
        connect_args={"connect_timeout": settings.connect_timeout_seconds},
    )


def _duckdb_session_setup(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection settings: UTC, unordered (faster) bulk inserts, no progress bar.

    A library must not draw on its host's stdout, so DuckDB's progress bar is off.
    Every read of ours orders explicitly, so insertion order is never relied on.
    """
    dbapi_connection.execute("SET TimeZone = 'UTC'")
    dbapi_connection.execute("SET preserve_insertion_order = false")
    dbapi_connection.execute("SET enable_progress_bar = false")


@contextmanager
def translated_errors(url: str | URL, action: str) -> Iterator[None]:
    """Re-raise driver and SQLAlchemy errors as `LearningStoreError`s a person can act on.

    Messages name the database (password hidden) and what we were doing, never the password.
    """
    try:
        yield
    except LearningStoreError:
        raise
    except (SQLAlchemyError, OSError) as exc:
        raise translate_error(exc, url, action) from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("duckdb", "psycopg")):
            raise translate_error(exc, url, action) from exc
        raise


def translate_error(exc: BaseException, url: str | URL, action: str) -> LearningStoreError:
    """Map one low-level error to the matching `LearningStoreError` subclass."""
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    detail = _scrub(str(original).strip().splitlines()[0] if str(original).strip() else "", url)
    where = redact(url)
    if "Could not set lock on file" in detail:
        holder = _LOCK_HOLDER.search(str(original))
        by = f" by process {holder.group(1)}" if holder else " by another process"
        path = duckdb_path(url)
        return DatabaseLockedError(
            f"The DuckDB file {str(path)!r} is locked{by}. DuckDB allows one writer process per "
            "file: stop the other process, or use PostgreSQL (postgresql+psycopg://...) when "
            "several processes must write at once."
        )
    environment = _environment_problem(original, detail)
    if environment is not None:
        path = duckdb_path(url) if backend_name(url) == "duckdb" else None
        subject = f"the DuckDB file {str(path)!r}" if path else where
        return StorageError(
            f"Could not {action} on {subject}: {environment} Nothing already stored was changed."
            f" ({detail})"
        )
    if backend_name(url) == "postgresql" and _is_connection_failure(original):
        parsed = parse_url(url)
        return DatabaseUnavailableError(
            f"Cannot reach PostgreSQL at {parsed.host or 'localhost'}:{parsed.port or 5432} "
            f"(database {parsed.database!r}) while trying to {action}: {detail}. Check that the "
            "server is running and LEARNING_STORE_DATABASE_URL points at it."
        )
    return StorageError(f"Database error while trying to {action} on {where}: {detail}")


_ENVIRONMENT_PROBLEMS = (
    (
        ("no space left", "enospc", "disk full", "could not extend file"),
        "the disk is full. Free space (or prune old executions with `learning-store prune`) "
        "and retry; the failed batch was rolled back and can be sent again.",
    ),
    (
        ("read-only file system", "erofs", "read-only database", "read only"),
        "the database is on a read-only file system or opened read-only. Point "
        "LEARNING_STORE_DATABASE_URL at a writable location.",
    ),
    (
        ("permission denied", "eacces", "operation not permitted"),
        "permission denied. Check the owner and mode of the database file and its folder, or "
        "point LEARNING_STORE_DATABASE_URL at a writable location.",
    ),
)


def _environment_problem(error: BaseException, detail: str) -> str | None:
    """A plain-language cause and fix when the OS, not the data, made the write fail."""
    text = f"{detail} {getattr(error, 'strerror', '') or ''}".lower()
    for markers, explanation in _ENVIRONMENT_PROBLEMS:
        if any(marker in text for marker in markers):
            return explanation
    return None


def _is_connection_failure(error: BaseException) -> bool:
    """True for errors meaning the server is unreachable or the connection dropped."""
    name = type(error).__name__
    text = str(error).lower()
    return name in ("OperationalError", "InterfaceError") and any(
        marker in text
        for marker in ("connection", "connect", "server closed", "terminating", "timeout")
    )


def _scrub(text: str, url: str | URL) -> str:
    """Remove a URL's password from a driver message, in case the driver echoed it."""
    password = parse_url(url).password
    return text.replace(password, "***") if password else text
