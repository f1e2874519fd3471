"""Each chunk of add_many is one transaction: a failing database leaves no half-written chunk."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from factories import row

from learning_store import StorageError, create_repository
from learning_store.repository import sql_writes as sql_store


@pytest.mark.parametrize("chunk_rows", [4, 50])  # executemany path and Arrow path
def test_failure_inside_a_chunk_rolls_the_whole_chunk_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    """The failing chunk's rows are written, then the disk fails before commit: none remain."""
    repository = create_repository(f"duckdb:///{tmp_path / 'a.db'}")
    repository.batch_size = chunk_rows
    real_write = sql_store.SqlWriteMethods._write
    current = threading.local()
    state = {"inserts": 0, "failed": None}
    lock = threading.Lock()

    def remember_chunk(self, chunk):
        current.ids = set(chunk.task_ids())
        return real_write(self, chunk)

    def fail_second_insert(connection, cursor, statement, *args) -> None:
        """Runs after the driver executed a statement, inside the chunk's transaction."""
        if statement.lstrip().upper().startswith("INSERT"):
            with lock:
                state["inserts"] += 1
                fail = state["inserts"] == 2
                if fail:
                    state["failed"] = current.ids
            if fail:  # the chunk's rows are in the table, uncommitted
                raise OSError(28, "No space left on device")

    monkeypatch.setattr(sql_store.SqlWriteMethods, "_write", remember_chunk)
    sa.event.listen(repository.engine, "after_cursor_execute", fail_second_insert)
    rows = [row(n) for n in range(chunk_rows * 4)]
    with pytest.raises(StorageError, match="No space left on device"):
        repository.add_many(rows)
    monkeypatch.undo()
    sa.event.remove(repository.engine, "after_cursor_execute", fail_second_insert)
    stored = {record.task_id for record in repository.list(limit=1000)}
    assert state["failed"] and not stored & state["failed"]  # nothing of the failed chunk
    assert stored and len(stored) % chunk_rows == 0  # only whole chunks
    retry = repository.add_many(rows)
    assert (retry.stored, retry.duplicates) == (chunk_rows * 4 - len(stored), len(stored))
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
