"""Alembic checks in the spirit of pytest-alembic, on DuckDB through its own catalog."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from learning_store import (
    SchemaError,
    SchemaOutOfDateError,
    UnknownSchemaRevisionError,
    create_repository,
    migrations,
)
from learning_store.catalog import actual_duckdb_table, duckdb_differences, expected_duckdb_table
from learning_store.engine import create_engine_for
from learning_store.schema import COLUMN_NAMES, VERSION_TABLE

DESIGN_COLUMNS = [
    "task_id",
    "timestamp",
    "task_type",
    "task_description",
    "repo",
    "file_count",
    "estimated_tokens",
    "model_tier",
    "pool_type",
    "swarm_topology",
    "routing_confidence",
    "complexity_score",
    "success",
    "duration_seconds",
    "quality_score",
    "cost_estimate",
    "actual_cost",
    "error_type",
    "error_message",
    "user_accepted",
    "user_rating",
    "peak_memory_mb",
    "cpu_time_seconds",
    "solution_summary",
    "embedding",
    "metadata",
    "uploaded_at",
]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def engine(tmp_path: Path):
    engine = create_engine_for(f"duckdb:///{tmp_path / 'm.db'}")
    yield engine
    engine.dispose()


def test_single_head() -> None:
    assert len(migrations.script_directory().get_heads()) == 1
    # Opening a store compares the database with this constant, not with the scripts.
    assert migrations.script_directory().get_current_head() == migrations.HEAD_REVISION


def test_upgrade_from_empty_gives_the_27_design_columns(engine) -> None:
    with engine.connect() as connection:
        migrations.upgrade(connection)
        assert migrations.current_revisions(connection) == (migrations.head_revision(),)
        table = actual_duckdb_table(connection)
    assert [name for name, _, _ in table.columns] == DESIGN_COLUMNS == list(COLUMN_NAMES)
    assert len(DESIGN_COLUMNS) == 27


def test_migrated_catalog_equals_schema(engine) -> None:
    with engine.connect() as connection:
        migrations.upgrade(connection)
        expected, actual = expected_duckdb_table(connection), actual_duckdb_table(connection)
        assert duckdb_differences(connection) == []
    assert actual == expected
    types = {name: kind for name, kind, _ in actual.columns}
    assert types["embedding"] == "FLOAT[384]"
    assert types["task_id"] == "UUID" and types["metadata"] == "JSON"
    assert types["timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert actual.primary_key == ("task_id",)
    assert {name for name, _, _ in actual.indexes} == {
        "ix_executions_repo_task_type_timestamp",
        "ix_executions_tier_success_timestamp",
        "ix_executions_pool_success_duration",
        "ix_executions_timestamp",
    }
    nullable = {name for name, _, is_nullable in actual.columns if is_nullable}
    assert "embedding" in nullable and "success" not in nullable


def test_catalog_check_notices_a_drifted_database(engine) -> None:
    with engine.connect() as connection:
        migrations.upgrade(connection)
        connection.execute(sa.text("DROP INDEX ix_executions_timestamp"))
        connection.execute(sa.text("ALTER TABLE executions ADD COLUMN surprise INTEGER"))
        connection.commit()
        problems = duckdb_differences(connection)
    assert any("ix_executions_timestamp" in p and "not found" in p for p in problems)
    assert any("surprise" in p for p in problems)


def test_up_down_up_round_trip_leaves_an_identical_catalog(engine) -> None:
    with engine.connect() as connection:
        migrations.upgrade(connection)
        first = actual_duckdb_table(connection)
        migrations.downgrade(connection, "base")
        assert migrations.current_revisions(connection) == ()
        assert not sa.inspect(connection).has_table("executions")
        migrations.upgrade(connection)
        assert actual_duckdb_table(connection) == first


def test_version_table_has_our_own_name(engine) -> None:
    with engine.connect() as connection:
        migrations.upgrade(connection)
        tables = set(sa.inspect(connection).get_table_names())
    assert VERSION_TABLE in tables and "alembic_version" not in tables


@pytest.fixture
def newer_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of our migrations plus a later revision, as a future release would ship."""
    scripts = tmp_path / "scripts"
    shutil.copytree(migrations.script_location(), scripts)
    head = migrations.script_directory().get_current_head()
    (scripts / "versions" / "9001_future.py").write_text(
        f'revision = "9001"\ndown_revision = "{head}"\nbranch_labels = None\ndepends_on = None\n'
        "def upgrade():\n    pass\n\ndef downgrade():\n    pass\n"
    )
    monkeypatch.setattr(migrations, "script_location", lambda: scripts)
    monkeypatch.setattr(migrations, "HEAD_REVISION", "9001")  # a future release knows both
    return scripts


def test_an_older_database_is_refused_with_the_upgrade_command(
    tmp_path: Path, newer_scripts
) -> None:
    url = f"duckdb:///{tmp_path / 'old.db'}"
    engine = create_engine_for(url)
    with engine.connect() as connection:
        migrations.upgrade(connection, "0001")
    engine.dispose()
    with pytest.raises(SchemaOutOfDateError) as caught:
        create_repository(url)
    assert f"learning-store db upgrade --url '{url}'" in str(caught.value)
    assert "0001" in str(caught.value) and "9001" in str(caught.value)


def test_the_out_of_date_message_hides_passwords() -> None:
    command = migrations.upgrade_command("postgresql+psycopg://ann:hunter2@db:5432/learn")
    assert "hunter2" not in command and "ann:***@db:5432/learn" in command


def test_a_revision_this_code_does_not_know_is_refused(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'future.db'}"
    create_repository(url).close()
    engine = create_engine_for(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = 'abc999'"))
    engine.dispose()
    with pytest.raises(UnknownSchemaRevisionError, match="abc999"):
        create_repository(url)


def test_a_foreign_executions_table_is_not_touched(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'foreign.db'}"
    engine = create_engine_for(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE executions (id INTEGER)"))
        connection.execute(sa.text("INSERT INTO executions VALUES (1)"))
    engine.dispose()
    with pytest.raises(SchemaError, match="not created by learning_store"):
        create_repository(url)
    engine = create_engine_for(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM executions")).scalar() == 1
    engine.dispose()


def test_alembic_command_line_upgrades_from_the_repo_root(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'cli.db'}"
    alembic = Path(sys.executable).with_name("alembic")
    done = subprocess.run(
        [str(alembic), "-c", str(ROOT / "alembic.ini"), "upgrade", "head"],
        cwd=ROOT,
        env={"LEARNING_STORE_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    engine = create_engine_for(url)
    with engine.connect() as connection:
        assert migrations.current_revisions(connection) == (migrations.head_revision(),)
        assert duckdb_differences(connection) == []
    engine.dispose()
