"""A password in a database URL never appears in any message, output or log line we produce;
untrusted task text is never interpreted as terminal markup."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from factories import row
from typer.testing import CliRunner

from learning_store import (
    LearningConfig,
    LearningDatabase,
    LearningStoreError,
    RoutingTelemetry,
    create_repository,
)
from learning_store.cli import app

SECRET = "hunter2-Secret"


@pytest.mark.postgres
async def test_password_never_leaks(
    postgres_server, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # even with SQL echo on
    database = postgres_server.create_database("secrets").replace(
        "postgres@", f"postgres:{SECRET}@"
    )
    seen: list[str] = []

    config = LearningConfig(
        database_url=database, embedding_model="hashing", telemetry_spool_dir=tmp_path / "s"
    )
    seen += [repr(config), str(config), config.redacted_url]
    store = create_repository(database)
    seen += [store.url, repr(store)]
    async with LearningDatabase(repository=store, config=config) as db:
        seen.append(repr(db))
        async with RoutingTelemetry(db) as telemetry:
            await telemetry.record(row(1))
        await db.store_executions_batch([row(2), row(3, repo="")])
    for args in (
        ["stats"],
        ["report", "--format", "json"],
        ["db", "current"],
        ["db", "check"],
        ["db", "upgrade"],
        ["similar", "x", "--model", "hashing"],
        ["export", str(tmp_path / "e.jsonl")],
    ):
        result = await asyncio.to_thread(CliRunner().invoke, app, [*args, "--url", database])
        assert result.exit_code == 0, result.output
        seen.append(result.output)
    down = f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:9/none"
    with pytest.raises(LearningStoreError) as caught:
        create_repository(down, config=LearningConfig(connect_timeout_seconds=2))
    seen += [str(caught.value), repr(caught.value)]
    result = await asyncio.to_thread(CliRunner().invoke, app, ["db", "upgrade", "--url", down])
    seen.append(result.output)
    store.close()

    assert "***" in " ".join(seen)
    for text in [*seen, caplog.text, *(record.getMessage() for record in caplog.records)]:
        assert SECRET not in text


async def test_untrusted_text_is_printed_literally_not_as_markup(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'm.db'}"
    config = LearningConfig(database_url=url, embedding_model="hashing")
    async with LearningDatabase(config=config) as db:
        await db.store_executions_batch(
            [
                row(
                    n,
                    task_description="[red]FAKE[/red] alert",
                    repo="[blink]r[/blink]",
                    solution_summary="[b]s[/b]",
                )
                for n in range(3)
            ]
        )
    similar = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["similar", "alert", "--model", "hashing", "--threshold", "0", "--url", url],
    )
    assert similar.exit_code == 0, similar.output
    assert "[red]FAKE[/red]" in similar.output and "[b]s[/b]" in similar.output
    report = await asyncio.to_thread(CliRunner().invoke, app, ["report", "--url", url])
    assert "[blink]r[/blink]" in report.output
