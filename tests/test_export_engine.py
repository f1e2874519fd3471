"""Parquet export through the engine: the same file the record path writes, re-ingestable."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from conftest import SQL_BACKENDS
from factories import row, stored_view, task_uuid, unit_vector
from typer.testing import CliRunner

from learning_store import create_repository
from learning_store.arrow_codec import ARROW_SCHEMA
from learning_store.cli import app
from learning_store.files.formats import FileFormat
from learning_store.files.writers import write_parquet_batches, write_records


@pytest.fixture(params=SQL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def varied_rows() -> list[dict[str, Any]]:
    return [
        row(
            n,
            embedding=unit_vector(n) if n % 3 else None,
            metadata={"n": n, "nested": {"list": [1, "two", None]}} if n % 2 else {},
            error_type=(None, "timeout", "rate_limit")[n % 3],
            quality_score=None if n % 4 == 0 else float(n % 100),
            swarm_topology="mesh" if n % 5 == 0 else None,
            user_rating=(n % 5) + 1 if n % 2 else None,
            repo=("shop", "auth")[n % 2],
        )
        for n in range(250)
    ]


def test_engine_export_is_the_record_exports_file(store: Any, tmp_path: Path) -> None:
    store.add_many(varied_rows())
    engine_file, record_file = tmp_path / "engine.parquet", tmp_path / "records.parquet"
    assert write_parquet_batches(engine_file, store.iter_arrow(batch_rows=64)) == 250
    assert write_records(record_file, FileFormat.PARQUET, store.iter_chunks(chunk_size=64)) == 250
    engine, records = pq.read_table(engine_file), pq.read_table(record_file)
    assert engine.schema.equals(ARROW_SCHEMA)
    assert engine.equals(records)
    filtered = (
        pq.read_table(tmp_path / "f.parquet")
        if write_parquet_batches(tmp_path / "f.parquet", store.iter_arrow(repo="auth"))
        else None
    )
    assert filtered is not None and set(filtered.column("repo").to_pylist()) == {"auth"}


def test_export_then_ingest_reproduces_the_rows(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LEARNING_STORE_EMBEDDINGS_ENABLED", "false")  # keep rows as exported
    source_url = f"duckdb:///{tmp_path / 'source.db'}"
    with create_repository(source_url) as source:
        source.add_many(varied_rows())
        given = sorted(map(stored_view, source.list(limit=1000)), key=str)
    runner = CliRunner()
    out = tmp_path / "all.parquet"
    assert runner.invoke(app, ["export", str(out), "--url", source_url]).exit_code == 0
    target_url = f"duckdb:///{tmp_path / 'target.db'}"
    ingested = runner.invoke(app, ["ingest", str(out), "--url", target_url])
    assert ingested.exit_code == 0, ingested.output
    with create_repository(target_url) as target:
        assert sorted(map(stored_view, target.list(limit=1000)), key=str) == given


def test_a_vector_another_tool_broke_is_written_as_null(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'nan.db'}"
    with create_repository(url) as store:
        store.add_many([row(1, embedding=unit_vector(1)), row(2, embedding=unit_vector(2))])
        with store.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "UPDATE executions SET embedding = CAST(:v AS FLOAT[384]) WHERE task_id = :k"
                ),
                {"v": [math.nan] * 384, "k": str(task_uuid(2))},
            )
        out = tmp_path / "nan.parquet"
        write_parquet_batches(out, store.iter_arrow())
    vectors = pq.read_table(out).column("embedding").to_pylist()
    assert vectors[0] is None or vectors[1] is None
    assert sum(vector is None for vector in vectors) == 1
