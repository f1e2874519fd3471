"""`learning-store db ...` through the real entry point."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from learning_store.cli import app
from learning_store.engine import create_engine_for

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_upgrade_check_current_history_downgrade(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'cli.db'}"
    upgraded = invoke("db", "upgrade", "--url", url)
    assert upgraded.exit_code == 0, upgraded.output
    assert "<empty> -> 0005" in upgraded.output
    assert invoke("db", "check", "--url", url).exit_code == 0
    assert "at 0005 (head is 0005)" in invoke("db", "current", "--url", url).output
    history = invoke("db", "history").output
    assert "0001" in history and "0005" in history
    assert invoke("db", "downgrade", "base", "--url", url).exit_code == 0
    failed = invoke("db", "check", "--url", url)
    assert failed.exit_code == 1
    assert "not at head" in failed.output and "learning-store db upgrade --url" in failed.output


def test_check_fails_when_the_catalog_drifted(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'drift.db'}"
    invoke("db", "upgrade", "--url", url)
    engine = create_engine_for(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX ix_executions_timestamp"))
    engine.dispose()
    result = invoke("db", "check", "--url", url)
    assert result.exit_code == 1
    assert "ix_executions_timestamp" in result.output


def test_check_fails_when_a_documented_view_is_missing(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'views.db'}"
    invoke("db", "upgrade", "--url", url)
    engine = create_engine_for(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP VIEW pool_performance_mv"))
    engine.dispose()
    result = invoke("db", "check", "--url", url)
    assert result.exit_code == 1
    assert "view expected but not found: pool_performance_mv" in result.output


def test_url_defaults_to_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LEARNING_STORE_DATABASE_URL", f"duckdb:///{tmp_path / 'env.db'}")
    assert invoke("db", "upgrade").exit_code == 0
    assert (tmp_path / "env.db").is_file()


def test_bad_url_is_one_line_without_traceback() -> None:
    result = invoke("db", "upgrade", "--url", "mysql://ann:hunter2@h/db")
    assert result.exit_code == 1
    assert "Unsupported database URL" in result.output
    assert "Traceback" not in result.output and "hunter2" not in result.output


def test_unknown_revision_is_a_clean_error(tmp_path: Path) -> None:
    result = invoke("db", "upgrade", "nope", "--url", f"duckdb:///{tmp_path / 'x.db'}")
    assert result.exit_code == 1
    assert "nope" in result.output and "Traceback" not in result.output
