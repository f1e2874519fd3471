"""The vector index never answers from stale or damaged data.

Two stores on one file (one re-embeds or deletes, the other searches and writes), in the
same process and after a reopen; every saved file truncated, emptied or overwritten.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from factories import NOW, row, task_uuid

from learning_store import LearningConfig, create_repository
from learning_store.advice.recommend import similar_outcomes
from learning_store.repository.base import SimilarityQuery
from learning_store.vector_index import files

ROWS = 3_000
CONFIG = LearningConfig(ann_min_rows=500, ann_probes=65536)
"""Every list probed, so a sound index answers exactly as a scan does: stale or damaged
vectors, deleted rows or missing rows would show."""


def clustered(count: int, seed: int, centres_seed: int = 3) -> np.ndarray:
    centres = np.random.default_rng(centres_seed).normal(size=(30, 384))
    rng = np.random.default_rng(seed)
    picked = centres[rng.integers(0, 30, count)] + rng.normal(scale=0.3, size=(count, 384))
    return (picked / np.linalg.norm(picked, axis=1, keepdims=True)).astype(np.float32)


VECTORS = clustered(ROWS + 400, seed=1)
QUERIES = clustered(30, seed=2)


def rows(numbers: range, vectors: np.ndarray = VECTORS) -> list[dict]:
    return [
        row(n, embedding=vectors[n], model_tier=("small", "medium", "large")[n % 3])
        for n in numbers
    ]


def answers(store, exact: bool = False) -> list[list]:
    return [
        [m.record.task_id for m in store.find_similar(q, limit=10, threshold=-1.0, exact=exact)]
        for q in QUERIES
    ]


def assert_exact(store) -> None:
    """Every search returns what an exact scan of the table returns (and full pages)."""
    found, exact = answers(store), answers(store, exact=True)
    assert all(len(page) == 10 for page in exact)
    wrong = sum(a != b for a, b in zip(found, exact, strict=True))
    assert wrong == 0, f"{wrong} of {len(QUERIES)} searches differ from an exact scan"


def filled(url: str):
    store = create_repository(url, config=CONFIG)
    store.add_many(rows(range(ROWS)))
    store.build_vector_index()
    return store


def test_a_reembed_through_another_store_is_seen_here_and_after_a_reopen(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'two.db'}"
    first = filled(url)
    answers(first)  # the index is loaded and in use
    second = create_repository(url, config=CONFIG)
    new_vectors = clustered(1000, seed=7, centres_seed=4)  # other topics altogether
    assert second.set_embeddings({task_uuid(n): new_vectors[n] for n in range(1000)}) == 1000
    assert_exact(first)
    assert_exact(second)
    for number in (3, 500):  # the new vectors are found, the old ones no longer
        found = first.find_similar(new_vectors[number], limit=1, threshold=0.999)
        assert [m.record.task_id for m in found] == [task_uuid(number)]
        assert first.find_similar(VECTORS[number], limit=1, threshold=0.999) == []
    first.close()
    second.close()
    reopened = create_repository(url, config=CONFIG)
    assert_exact(reopened)
    reopened.close()
    assert_exact_in_a_new_process(url, tmp_path)


def test_deletes_and_writes_through_two_stores_never_serve_deleted_rows(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'churn.db'}"
    first = filled(url)
    answers(first)
    second = create_repository(url, config=CONFIG)
    deleted = [task_uuid(n) for n in range(0, 900, 3)]
    assert second.delete(deleted) == 300
    second.add_many(rows(range(ROWS, ROWS + 300)))  # as many rows back: the count is the same
    first.add_many(rows(range(ROWS + 300, ROWS + 350)))
    assert_exact(first)
    advice = similar_outcomes(first, SimilarityQuery(QUERIES[0], None, 100, 90, 0.0), NOW)
    used = {neighbour.task_id for tier in advice.values() for neighbour in tier}
    assert len(used) == 300 and not used & set(deleted)
    for query in QUERIES:
        found = first.find_similar(query, limit=10, threshold=-1.0)
        assert not {m.record.task_id for m in found} & set(deleted)
    first.close()
    second.close()
    reopened = create_repository(url, config=CONFIG)
    assert_exact(reopened)
    reopened.close()


NEW_PROCESS_CHECK = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
import test_index_trust as trust
from learning_store import create_repository
store = create_repository({url!r}, config=trust.CONFIG)
trust.assert_exact(store)
store.close()
print("exact")
"""


def assert_exact_in_a_new_process(url: str, tmp_path: Path) -> None:
    script = NEW_PROCESS_CHECK.format(tests=str(Path(__file__).parent), url=url)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and "exact" in done.stdout, done.stderr[-2000:]


def saved_files(folder: Path) -> dict[str, Path]:
    state = files.saved_state(folder)
    assert state is not None and state.ann_rows == ROWS
    snapshot = folder / state.snapshot
    return {
        "stamp": folder / files.STAMP,
        "rows": snapshot / "rows.npz",
        "clusters": snapshot / "clusters.faiss",
        "vectors": folder / state.vectors,
    }


DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "emptied": lambda data: b"",
    "overwritten": lambda data: np.random.default_rng(len(data)).bytes(len(data)),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", ["stamp", "rows", "clusters", "vectors"])
def test_a_damaged_saved_file_gives_one_warning_and_exact_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, damage: str
) -> None:
    url = f"duckdb:///{tmp_path / 'damaged.db'}"
    filled(url).close()
    path = saved_files(tmp_path / "damaged.db.vectors")[name]
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    caplog.set_level(logging.WARNING, logger="learning_store")
    store = create_repository(url, config=CONFIG)
    assert_exact(store)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "vector index" in warnings[0].getMessage()
    store.close()
    caplog.clear()
    store = create_repository(url, config=CONFIG)  # rebuilt and saved again: trusted now
    assert_exact(store)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    store.close()


PLAIN_SQL_CHANGES = {
    "a vector": "UPDATE executions SET embedding = (SELECT embedding FROM executions "
    "WHERE task_id = '{other}') WHERE task_id = '{target}'",
    "an outcome": "UPDATE executions SET success = NOT success WHERE task_id = '{target}'",
    "a row, deleted and another inserted": None,
}


@pytest.mark.parametrize("change", sorted(PLAIN_SQL_CHANGES))
def test_db_check_finds_plain_sql_changes_no_stamp_reveals(tmp_path: Path, change: str) -> None:
    """Other tools' writes keep the row count and uploads; `db check` samples the rows."""
    import duckdb
    from typer.testing import CliRunner

    from learning_store.cli import app

    url = f"duckdb:///{tmp_path / 'tools.db'}"
    filled(url).close()
    runner = CliRunner()
    clean = runner.invoke(app, ["db", "check", "--url", url])
    assert clean.exit_code == 0 and "every file intact" in clean.output, clean.output
    connection = duckdb.connect(str(tmp_path / "tools.db"))
    changed = list(range(0, ROWS, 2))  # half the rows, so a sample surely meets some
    for number in changed:
        if PLAIN_SQL_CHANGES[change] is None:
            connection.execute(
                "UPDATE executions SET task_id = ? WHERE task_id = ?",
                [str(task_uuid(number + 10_000)), str(task_uuid(number))],
            )
        else:
            connection.execute(
                PLAIN_SQL_CHANGES[change].format(
                    target=task_uuid(number), other=task_uuid(number + 1)
                )
            )
    connection.close()
    stale = runner.invoke(app, ["db", "check", "--url", url])
    assert stale.exit_code == 1
    assert "does not match the table" in stale.output
    assert "learning-store index build --url" in stale.output
    rebuilt = runner.invoke(app, ["index", "build", "--url", url])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert runner.invoke(app, ["db", "check", "--url", url]).exit_code == 0
    store = create_repository(url, config=CONFIG)
    assert_exact(store)
    store.close()
