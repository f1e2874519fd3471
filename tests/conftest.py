"""Fixtures shared by the suite: the parametrised `store` runs each contract on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from learning_store import ExecutionRepository, create_repository

BACKENDS = ["memory", "duckdb-memory", "duckdb-file"]


def backend_url(backend: str, tmp_path: Path) -> str:
    """The URL that opens a fresh, empty store of the given backend."""
    if backend == "memory":
        return "memory://"
    if backend == "duckdb-memory":
        return "duckdb:///:memory:"
    if backend == "duckdb-file":
        return f"duckdb:///{tmp_path / 'store.db'}"
    raise ValueError(backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Name of the backend the current contract test runs against."""
    return request.param


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[ExecutionRepository]:
    """A fresh, empty store of each backend in turn."""
    repository = create_repository(backend_url(backend, tmp_path))
    yield repository
    repository.close()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep a developer's LEARNING_STORE_* variables and .env file out of the tests."""
    import os

    for name in list(os.environ):
        if name.startswith("LEARNING_STORE_") and name != "LEARNING_STORE_REQUIRE_POSTGRES":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
