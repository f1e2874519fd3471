"""Read-only files, unusable folders and a full disk: a clear LearningStoreError, data intact.

Where the machine allows mounting (root with CAP_SYS_ADMIN, as here and in CI) these use a
real tiny tmpfs; the simulated full disk runs everywhere.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from factories import row, unit_vector
from requirements import skip_unless_required
from typer.testing import CliRunner

from learning_store import (
    ConfigurationError,
    LearningConfig,
    LearningStoreError,
    StorageError,
    create_repository,
)
from learning_store.cli import app


def _mount(path: Path, options: str) -> bool:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    return done.returncode == 0


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs, unmounted afterwards; skips where mounting is not allowed."""
    mount_point = Path("/tmp") / f"learning-store-tiny-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    if not _mount(mount_point, "size=3m"):
        mount_point.rmdir()
        skip_unless_required(
            "TMPFS", "this machine does not allow mounting a tmpfs (the simulated test still runs)"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
        mount_point.rmdir()


def big_rows(first: int, count: int) -> list[dict]:
    return [
        row(first + n, embedding=unit_vector(first + n), task_description="x" * 2000)
        for n in range(count)
    ]


def test_a_full_disk_is_a_clear_error_and_earlier_rows_survive(tiny_disk: Path) -> None:
    url = f"duckdb:///{tiny_disk / 'full.db'}"
    store = create_repository(url, config=LearningConfig(batch_size=100))
    assert store.add_many(big_rows(0, 100)).stored == 100
    with pytest.raises(StorageError) as caught:
        for chunk in range(1, 200):
            store.add_many(big_rows(chunk * 100, 100))
    message = str(caught.value)
    assert "disk is full" in message and "Nothing already stored was changed" in message
    survived = {r.task_id for r in store.list(limit=100_000)}
    store.close()
    with create_repository(url) as reopened:
        assert {r.task_id for r in reopened.list(limit=100_000)} == survived
        assert len(survived) % 100 == 0 and len(survived) >= 100  # whole batches only
    assert CliRunner().invoke(app, ["db", "check", "--url", url]).exit_code == 0


def test_a_read_only_file_system_is_a_clear_error_and_data_stays(tiny_disk: Path) -> None:
    url = f"duckdb:///{tiny_disk / 'ro.db'}"
    with create_repository(url) as store:
        store.add_many([row(n) for n in range(20)])
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    with pytest.raises(LearningStoreError) as caught:
        create_repository(url)
    assert "read-only" in str(caught.value) and "LEARNING_STORE_DATABASE_URL" in str(caught.value)
    with pytest.raises(ConfigurationError, match="Cannot create the data folder"):
        create_repository(f"duckdb:///{tiny_disk / 'new' / 'x.db'}")
    subprocess.run(["mount", "-o", "remount,rw", str(tiny_disk)], check=True)
    with create_repository(url) as store:
        assert store.count() == 20


def test_a_data_directory_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigurationError) as caught:
        create_repository(f"duckdb:///{blocker / 'learning.db'}")
    assert "Cannot create the data folder" in str(caught.value)
    assert "LEARNING_STORE_DATABASE_URL" in str(caught.value)
    result = CliRunner().invoke(app, ["stats", "--url", f"duckdb:///{blocker / 'learning.db'}"])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_a_simulated_full_disk_everywhere(tmp_path: Path) -> None:
    """The same promise where mounting is impossible: the OS error, mid-write, inside the chunk."""
    url = f"duckdb:///{tmp_path / 'sim.db'}"
    store = create_repository(url)
    store.add_many([row(n) for n in range(50)])

    def disk_full(connection, cursor, statement, *args) -> None:
        """Runs after the driver executed a statement, inside its transaction."""
        if statement.lstrip().upper().startswith("INSERT"):
            raise OSError(28, "No space left on device")

    sa.event.listen(store.engine, "after_cursor_execute", disk_full)
    with pytest.raises(StorageError, match="disk is full"):
        store.add_many([row(100 + n) for n in range(50)])
    with pytest.raises(StorageError, match="disk is full"):
        store.add(row(999))
    sa.event.remove(store.engine, "after_cursor_execute", disk_full)
    assert store.count() == 50
    assert store.add_many([row(100 + n) for n in range(50)]).stored == 50  # a retry just works
    store.close()
