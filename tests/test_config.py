"""LearningConfig: defaults, environment and .env sources, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from learning_store import ConfigurationError, LearningConfig, create_repository


def test_defaults() -> None:
    config = LearningConfig()
    assert config.database_url == "duckdb:///data/learning.db"
    assert config.batch_size == 100
    assert config.embeddings_enabled is True
    assert config.embedding_model == "all-MiniLM-L6-v2"
    assert config.retention_days == 90


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNING_STORE_BATCH_SIZE", "250")
    monkeypatch.setenv("LEARNING_STORE_DATABASE_URL", "memory://")
    monkeypatch.setenv("LEARNING_STORE_EMBEDDINGS_ENABLED", "false")
    config = LearningConfig()
    assert (config.batch_size, config.database_url, config.embeddings_enabled) == (
        250,
        "memory://",
        False,
    )


def test_dotenv_file_is_read_and_arguments_win(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "LEARNING_STORE_BATCH_SIZE=7\nLEARNING_STORE_RETENTION_DAYS=30\n"
    )
    assert LearningConfig().batch_size == 7
    assert LearningConfig(batch_size=9).batch_size == 9
    assert LearningConfig().retention_days == 30


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("batch_size", "0", "at least 1 and at most 1000"),
        ("batch_size", "5000", "at least 1 and at most 1000"),
        ("batch_size", "many", "valid integer"),
        ("flush_interval_seconds", "0", "greater than 0 and at most 3600"),
        ("embedding_batch_size", "0", "at least 1 and at most 4096"),
        ("embedding_cache_size", "-1", "at least 0"),
        ("retention_days", "0", "at least 1"),
        ("embeddings_enabled", "perhaps", "valid boolean"),
        ("embedding_model", "", "at least 1 character"),
        ("database_url", "mysql://x/y", "Unsupported database URL"),
        ("database_url", "::::", "Cannot parse database URL"),
    ],
)
def test_bad_values_name_the_variable_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(f"LEARNING_STORE_{field.upper()}", value)
    with pytest.raises(ConfigurationError) as caught:
        LearningConfig()
    message = str(caught.value)
    assert f"LEARNING_STORE_{field.upper()}" in message
    assert expected in message
    assert isinstance(caught.value, ValueError)


def test_passwords_in_bad_urls_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNING_STORE_DATABASE_URL", "mysql://ann:hunter2@db/x")
    with pytest.raises(ConfigurationError) as caught:
        LearningConfig()
    assert "hunter2" not in str(caught.value)


def test_default_database_folder_is_created_on_first_use(tmp_path: Path) -> None:
    with create_repository() as repository:  # duckdb:///data/learning.db under the test's cwd
        assert repository.count() == 0
    assert (tmp_path / "data" / "learning.db").is_file()


def test_config_batch_size_sets_the_chunk_size() -> None:
    repository = create_repository("memory://", config=LearningConfig(batch_size=17))
    assert repository.batch_size == 17


def test_duckdb_memory_limit_reaches_the_database(tmp_path: Path) -> None:
    from learning_store import create_repository

    config = LearningConfig(duckdb_memory_limit="300MB")
    store = create_repository(f"duckdb:///{tmp_path / 'm.db'}", config=config)
    try:
        with store.engine.connect() as connection:  # type: ignore[attr-defined]
            setting = connection.exec_driver_sql("SELECT current_setting('memory_limit')")
            assert setting.scalar() == "286.1 MiB"  # 300 MB as DuckDB reports it
    finally:
        store.close()


def test_a_bad_duckdb_memory_limit_names_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEARNING_STORE_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError) as caught:
        LearningConfig()
    message = str(caught.value)
    assert "LEARNING_STORE_DUCKDB_MEMORY_LIMIT" in message and "512MB" in message
