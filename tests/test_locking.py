"""A DuckDB file held by another process: a clear DatabaseLockedError, the holder unharmed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from factories import row

from learning_store import DatabaseLockedError, LearningStoreError, create_repository

HOLDER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from factories import row
    from learning_store import create_repository
    repository = create_repository({url!r})
    repository.add(row(1))
    print("ready", flush=True)
    sys.stdin.readline()              # wait until the parent has tried to open the file
    repository.add(row(2))
    print("count", repository.count(), flush=True)
    repository.close()
    """
)


def test_second_process_gets_database_locked_error(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    url = f"duckdb:///{path}"
    script = HOLDER.format(tests=str(Path(__file__).parent), url=url)
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(DatabaseLockedError) as caught:
            create_repository(url)
        message = str(caught.value)
        assert str(path) in message
        assert f"process {holder.pid}" in message
        assert "PostgreSQL" in message
        assert isinstance(caught.value, LearningStoreError)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "count 2"
        assert holder.wait(timeout=60) == 0
    finally:
        holder.kill()
    with create_repository(url) as repository:  # released: the file opens again
        assert repository.count() == 2
        repository.add(row(3))
