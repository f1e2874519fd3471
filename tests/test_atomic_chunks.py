"""Each chunk of add_many is one transaction: a failing database leaves no half-written chunk."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from factories import row

from learning_store import StorageError, create_repository
from learning_store.repository import sql as sql_store


@pytest.mark.parametrize("chunk_rows", [4, 50])  # executemany path and Arrow path
def test_failure_inside_a_chunk_rolls_the_whole_chunk_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    repository = create_repository(f"duckdb:///{tmp_path / 'a.db'}")
    repository.batch_size = chunk_rows
    original_execute = sa.engine.Connection.execute
    calls = {"inserts": 0}

    def failing_execute(self, statement, *args, **kwargs):
        result = original_execute(self, statement, *args, **kwargs)
        if isinstance(statement, sa.sql.Insert):
            calls["inserts"] += 1
            if calls["inserts"] == 2:  # the second chunk's rows are written, then the disk fails
                raise OSError(28, "No space left on device")
        return result

    monkeypatch.setattr(sa.engine.Connection, "execute", failing_execute)
    with pytest.raises(StorageError, match="No space left on device"):
        repository.add_many([row(n) for n in range(chunk_rows * 3)])
    monkeypatch.undo()
    assert repository.count() == chunk_rows  # the first chunk committed, the second rolled back
    retry = repository.add_many([row(n) for n in range(chunk_rows * 3)])
    assert (retry.stored, retry.duplicates) == (chunk_rows * 2, chunk_rows)
    repository.close()


def test_sql_store_uses_the_arrow_path_above_the_threshold(tmp_path: Path, monkeypatch) -> None:
    used = []
    real = sql_store.insert_from_arrow
    monkeypatch.setattr(
        sql_store, "insert_from_arrow", lambda *a: used.append(len(a[1])) or real(*a)
    )
    repository = create_repository(f"duckdb:///{tmp_path / 'b.db'}")
    repository.add_many([row(n) for n in range(sql_store.ARROW_THRESHOLD - 1)])
    assert used == []
    repository.add_many([row(n) for n in range(100, 100 + sql_store.ARROW_THRESHOLD)])
    assert used == [sql_store.ARROW_THRESHOLD]
    repository.close()
