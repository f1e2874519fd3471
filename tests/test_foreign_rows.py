"""Rows written with plain SQL by other tools never make a read raise.

Policy (learning_store/repository/row_rules.py): a row breaking a record rule is left out of
every read and counted in stats().invalid_rows, and `db check` lists it; an unknown
error_type is read verbatim, an unusable embedding reads as None.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from factories import row, task_uuid, unit_vector
from typer.testing import CliRunner

from learning_store import ExecutionRepository, create_repository
from learning_store.cli import app

SQL_BACKENDS = [
    "duckdb-file",
    "duckdb-ann",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("postgresql-pgvector", marks=pytest.mark.postgres),
]

# Rows other tools wrote: (task number, columns that differ from a valid row, readable?)
FOREIGN = [
    (101, {"error_type": "rate_limit"}, True),
    (102, {"error_type": "RateLimitExceeded", "task_description": ""}, True),
    (103, {"quality_score": 250.0}, False),
    (104, {"duration_seconds": -5.0}, False),
    (105, {"complexity_score": math.nan}, False),
    (106, {"user_rating": 9}, False),
    (107, {"repo": ""}, False),
    (108, {"metadata": "[1, 2]"}, False),
    (109, {"embedding": [math.nan] * 384}, True),
]


@pytest.fixture(params=SQL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store_url(new_store_url) -> str:
    return new_store_url()


@pytest.fixture
def store(store_url: str) -> Iterator[ExecutionRepository]:
    repository = create_repository(store_url)
    yield repository
    repository.close()


def insert_with_plain_sql(store: Any, number: int, **changes: Any) -> None:
    """One INSERT statement as a script or dashboard tool would write it."""
    values = row(number, uploaded_at=datetime.now(UTC), metadata="{}", embedding=None) | changes
    values["task_id"] = str(values["task_id"])
    values["error_type"] = values.get("error_type")
    for name in (
        "swarm_topology",
        "quality_score",
        "error_message",
        "user_accepted",
        "user_rating",
        "peak_memory_mb",
        "cpu_time_seconds",
        "solution_summary",
    ):
        values.setdefault(name, None)
    postgres = store.dialect == "postgresql"
    json_type, vector_type = ("JSONB", "REAL[]") if postgres else ("JSON", "FLOAT[384]")
    columns = ", ".join(values)
    params = ", ".join(
        f"CAST(:{name} AS {json_type})"
        if name == "metadata"
        else f"CAST(:{name} AS {vector_type})"
        if name == "embedding"
        else f"CAST(:{name} AS UUID)"
        if name == "task_id"
        else f":{name}"
        for name in values
    )
    with store.engine.begin() as connection:
        connection.execute(sa.text(f"INSERT INTO executions ({columns}) VALUES ({params})"), values)


def test_reads_survive_rows_written_by_other_tools(store, store_url: str, tmp_path: Path) -> None:
    store.add_many([row(n, embedding=unit_vector(n), solution_summary="fix") for n in range(6)])
    for number, changes, _ in FOREIGN:
        insert_with_plain_sql(store, number, **changes)
    postgres_only = set()
    if store.dialect == "postgresql":  # REAL[] takes any length and shape; FLOAT[384] refuses
        insert_with_plain_sql(store, 110, embedding=[0.5] * 768)
        insert_with_plain_sql(store, 111, embedding=[0.5] * 383 + [None])
        insert_with_plain_sql(store, 112, embedding=[[0.5] * 192, [0.5] * 192])
        postgres_only = {110, 111, 112}
    readable = {n for n, _, ok in FOREIGN if ok} | postgres_only
    invalid = {n for n, _, ok in FOREIGN if not ok}

    listed = {record.task_id for record in store.list(limit=100)}
    assert listed == {task_uuid(n) for n in [*range(6), *readable]}
    assert store.count() == 6 + len(readable)
    assert store.get(task_uuid(101)).error_type == "rate_limit"
    assert store.get(task_uuid(102)).task_description == ""
    for number in (109, *postgres_only):
        assert store.get(task_uuid(number)).embedding is None
    assert all(store.get(task_uuid(n)) is None for n in invalid)
    streamed = [record.task_id for chunk in store.iter_chunks(chunk_size=4) for record in chunk]
    assert set(streamed) == listed
    found = store.find_similar(unit_vector(2), threshold=-1, limit=50, days_back=365)
    assert {m.record.task_id for m in found} == {task_uuid(n) for n in range(6)}
    assert sum(t.total for t in store.tier_performance(days_back=30)) == 6 + len(readable)
    assert sum(p.total for p in store.pool_performance(days_back=7)) == 6 + len(readable)
    assert store.solution_patterns(min_usage=5)[0].usage_count == 6
    stats = store.stats()
    assert (stats.total, stats.invalid_rows) == (6 + len(readable), len(invalid))

    runner = CliRunner()
    for command in (["report"], ["stats"], ["export", str(tmp_path / "out.jsonl")]):
        result = runner.invoke(app, [*command, "--url", store_url])
        assert result.exit_code == 0, (command, result.output)
    exported = (tmp_path / "out.jsonl").read_text().splitlines()
    assert {UUID(json.loads(line)["task_id"]) for line in exported} == listed
    checked = runner.invoke(app, ["db", "check", "--url", store_url])
    assert checked.exit_code == 0, checked.output
    assert f"{len(invalid)} row(s) written by other tools break a record rule" in checked.output
    for number in invalid:
        assert str(task_uuid(number)) in checked.output
    assert "quality_score" in checked.output and "duration_seconds" in checked.output
