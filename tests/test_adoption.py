"""Adopting a database the original system wrote, on DuckDB and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from original_db import (
    NO_DURATION,
    NOW,
    OUT_OF_RANGE,
    RATE_LIMITED,
    build_original,
    original_rows,
    task_id,
)
from original_db import (
    build_large_original as build_original_large,
)
from requirements import import_or_skip
from typer.testing import CliRunner

from learning_store import (
    InMemoryExecutionRepository,
    LearningConfig,
    LearningDatabase,
    SchemaError,
    create_repository,
)
from learning_store.cli import app
from learning_store.engine import create_engine_for
from learning_store.reembedding import MODEL_SETTING

runner = CliRunner()


@pytest.fixture(params=["duckdb-file", pytest.param("postgresql", marks=pytest.mark.postgres)])
def original_url(request, tmp_path: Path) -> str:
    if request.param == "duckdb-file":
        url = f"duckdb:///{tmp_path / 'data' / 'learning.db'}"
        (tmp_path / "data").mkdir()
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(f"adopt_{uuid4().hex[:8]}")
    engine = create_engine_for(url)
    build_original(engine)
    engine.dispose()
    return url


def adopt(url: str, *extra: str):
    return runner.invoke(app, ["db", "adopt", "--url", url, "--model", "hashing", *extra])


def expected_records() -> list[dict[str, Any]]:
    """The storable rows as add_many would take them, converted as adoption converts them."""
    rows = []
    for item in original_rows():
        n = int(item["task_description"].rsplit(" ", 1)[1].rstrip(")"))
        if n in (OUT_OF_RANGE, NO_DURATION):
            continue
        metadata = {"worker_host": item.pop("worker_host")}
        metadata |= json.loads(item["metadata"]) if item["metadata"] else {}
        rows.append(
            item
            | {
                "metadata": metadata,
                "embedding": None,
                "timestamp": item["timestamp"].replace(tzinfo=UTC),
            }
        )
    return rows


def same(left: list[Any], right: list[Any]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        for name, value in dataclasses.asdict(a).items():
            other = getattr(b, name)
            assert (
                other == pytest.approx(value, rel=1e-6)
                if isinstance(value, float)
                else other == value
            ), name


def test_the_foreign_table_error_names_adopt(original_url: str) -> None:
    with pytest.raises(SchemaError, match="learning-store db adopt"):
        create_repository(original_url)


def test_dry_run_reports_and_changes_nothing(original_url: str, tmp_path: Path) -> None:
    result = adopt(original_url, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: nothing changed; 50 rows" in result.output
    assert "50 rows: timestamp without time zone, read as UTC" in result.output
    assert "10 rows: NULL metadata, now {}" in result.output
    assert "1 rows break a record rule" in result.output
    assert "1 rows lack a required value" in result.output
    assert "extra columns kept in metadata: worker_host" in result.output
    assert "cpu_time_seconds" in result.output
    with pytest.raises(SchemaError):
        create_repository(original_url)
    assert not list(tmp_path.rglob("*.before-adopt"))


def test_adoption_keeps_every_row_converts_and_matches_add_many(original_url: str) -> None:
    result = adopt(original_url)
    assert result.exit_code == 0, result.output
    assert "every row kept" in result.output
    with create_repository(original_url) as store:
        engine = store.engine
        with engine.connect() as connection:
            quarantined = (
                connection.execute(sa.text("SELECT task_id FROM executions_quarantine"))
                .scalars()
                .all()
            )
        assert [str(value) for value in quarantined] == [str(task_id(NO_DURATION))]
        stats = store.stats()
        assert stats.total + stats.invalid_rows + len(quarantined) == 50
        assert stats.invalid_rows == 1 and store.get(task_id(OUT_OF_RANGE)) is None
        assert stats.without_embedding == 0  # 768-number and missing ones recomputed
        limited = store.get(task_id(RATE_LIMITED))
        assert limited.error_type == "rate_limit"
        assert limited.timestamp == (NOW - timedelta(hours=RATE_LIMITED)).replace(tzinfo=UTC)
        assert store.get(task_id(0)).metadata == {"worker_host": "host-0"}  # NULL metadata
        assert store.get(task_id(1)).metadata == {"worker_host": "host-1", "run": 1}
        assert store.read_setting(MODEL_SETTING) == "hashing"

        reference = InMemoryExecutionRepository()
        assert reference.add_many(expected_records()).stored == 48
        same(store.tier_performance(days_back=30), reference.tier_performance(days_back=30))
        same(store.pool_performance(days_back=7), reference.pool_performance(days_back=7))
        same(store.solution_patterns(min_usage=5), reference.solution_patterns(min_usage=5))
    check = runner.invoke(app, ["db", "check", "--url", original_url])
    assert check.exit_code == 0, check.output
    assert str(task_id(OUT_OF_RANGE)) in check.output

    again = adopt(original_url)
    assert again.exit_code == 0 and "already adopted" in again.output


async def test_the_adopted_database_is_searchable(original_url: str) -> None:
    assert adopt(original_url).exit_code == 0
    config = LearningConfig(database_url=original_url, embedding_model="hashing")
    async with LearningDatabase(config=config) as db:
        found = await db.find_similar_executions("slow orders query index", threshold=0.2, limit=3)
    assert found and all("orders query" in item["task_description"] for item in found)


def test_duckdb_keeps_the_original_file_as_backup(tmp_path: Path) -> None:
    path = tmp_path / "learning.db"
    engine = create_engine_for(f"duckdb:///{path}")
    build_original(engine)
    engine.dispose()
    before = path.read_bytes()
    assert adopt(f"duckdb:///{path}").exit_code == 0
    backup = path.with_name("learning.db.before-adopt")
    assert backup.read_bytes() == before
    assert not path.with_name("learning.db.adopting").exists()


def test_refuses_without_room_for_the_backup(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "learning.db"
    engine = create_engine_for(f"duckdb:///{path}")
    build_original(engine)
    engine.dispose()
    monkeypatch.setattr(
        "shutil.disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 1024, 1024)
    )
    result = adopt(f"duckdb:///{path}")
    assert result.exit_code == 1
    assert "MB needed" in result.output and "nothing was changed" in result.output
    with pytest.raises(SchemaError):
        create_repository(f"duckdb:///{path}")


KILLS = 4
ROWS_FOR_KILLS = 30_000


@pytest.mark.slow
def test_sigkill_during_adoption_leaves_the_original_or_the_adopted_database(
    tmp_path: Path,
) -> None:
    path = tmp_path / "learning.db"
    engine = create_engine_for(f"duckdb:///{path}")
    build_original_large(engine, ROWS_FOR_KILLS)
    engine.dispose()
    url = f"duckdb:///{path}"
    command = [
        sys.executable,
        "-c",
        "import sys; from learning_store.cli import main; sys.argv[0] = 'learning-store'; main()",
        "db",
        "adopt",
        "--url",
        url,
        "--model",
        "hashing",
    ]
    rehearsal = tmp_path / "rehearsal.db"  # how long a whole adoption of this file takes
    shutil.copyfile(path, rehearsal)
    started = time.perf_counter()
    rehearse = [*command[:-4], "--url", f"duckdb:///{rehearsal}", "--model", "hashing"]
    assert subprocess.run(rehearse, capture_output=True, check=False).returncode == 0
    whole = time.perf_counter() - started
    rng = random.Random(20261130)
    states = []
    for _ in range(KILLS):
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.0) * whole)
        child.kill()
        child.wait()
        states.append(_state(url))
        if states[-1] == "adopted":
            break
    print(f"adoption takes {whole:.2f} s; after each kill: {states}")
    final = subprocess.run(command, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr
    assert _state(url) == "adopted"


def _state(url: str) -> str:
    """'original' (untouched, no version table) or 'adopted' (every row kept)."""
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            count = connection.execute(sa.text("SELECT count(*) FROM executions")).scalar_one()
            if "learning_store_version" not in tables:
                assert count == ROWS_FOR_KILLS
                return "original"
            quarantined = connection.execute(
                sa.text("SELECT count(*) FROM executions_quarantine")
            ).scalar_one()
            assert count + quarantined == ROWS_FOR_KILLS
            return "adopted"
    finally:
        engine.dispose()


@pytest.mark.model
async def test_adopted_with_the_real_model_is_searchable(request, tmp_path: Path) -> None:
    """The original's own 384-number vectors are kept; 768-number and missing ones recomputed."""
    import_or_skip("sentence_transformers", "MODEL", "the 'embeddings' extra is not installed")
    from learning_store.embeddings import SentenceTransformerEmbedder

    model = SentenceTransformerEmbedder()
    for backend in ("duckdb", "postgresql"):
        if backend == "duckdb":
            url = f"duckdb:///{tmp_path / 'model.db'}"
        else:
            url = request.getfixturevalue("postgres_server").create_database(
                f"adopt_model_{uuid4().hex[:6]}"
            )
        engine = create_engine_for(url)
        build_original(engine, vectors=lambda text: model.embed([text])[0].tolist())
        engine.dispose()
        result = runner.invoke(app, ["db", "adopt", "--url", url])  # the default model
        assert result.exit_code == 0, result.output
        assert "25 rows: embedding missing, of another length or model: recomputed" in result.output
        config = LearningConfig(database_url=url)
        async with LearningDatabase(config=config, embedder=model) as db:
            for query, wanted in [
                ("the orders query is slow, add a database index", "orders query"),
                ("login crashes when the password is empty", "login page crash"),
            ]:
                found = await db.find_similar_executions(query, limit=5, threshold=0.3)
                assert found, query
                assert all(wanted in item["task_description"] for item in found), (query, found)


def test_a_failure_while_building_leaves_the_original_untouched(tmp_path: Path) -> None:
    path = tmp_path / "learning.db"
    engine = create_engine_for(f"duckdb:///{path}")
    build_original(engine)
    engine.dispose()
    before = path.read_bytes()
    failed = runner.invoke(
        app, ["db", "adopt", "--url", f"duckdb:///{path}", "--model", str(tmp_path / "no-model")]
    )
    assert failed.exit_code == 1, failed.output
    assert path.read_bytes() == before
    assert not path.with_name("learning.db.adopting").exists()
    assert adopt(f"duckdb:///{path}").exit_code == 0  # and a later run completes
