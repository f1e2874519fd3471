"""A database as the original system wrote it: its DDL, its indexes and view, plain INSERTs.

Naive timestamps, NULL metadata, 768-number and missing embeddings, an unknown error_type,
one out-of-range score, one row without a duration, an extra column (worker_host) and a
missing nullable one (cpu_time_seconds).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np
import sqlalchemy as sa

ROWS = 50
OUT_OF_RANGE = 13  # quality_score 250: kept as stored, left out of reads
NO_DURATION = 21  # NULL duration: quarantined
RATE_LIMITED = 7
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)  # the original wrote naive UTC

_DDL = """
CREATE TABLE executions (
    task_id UUID PRIMARY KEY,
    timestamp TIMESTAMP NOT NULL,
    task_type VARCHAR NOT NULL,
    task_description TEXT NOT NULL,
    repo VARCHAR NOT NULL,
    file_count INTEGER,
    estimated_tokens INTEGER,
    model_tier VARCHAR NOT NULL,
    pool_type VARCHAR NOT NULL,
    swarm_topology VARCHAR,
    routing_confidence FLOAT,
    complexity_score INTEGER,
    success BOOLEAN,
    duration_seconds FLOAT,
    quality_score INTEGER,
    cost_estimate FLOAT,
    actual_cost FLOAT,
    error_type VARCHAR,
    error_message TEXT,
    user_accepted BOOLEAN,
    user_rating INTEGER,
    peak_memory_mb FLOAT,
    solution_summary TEXT,
    embedding FLOAT[],
    metadata JSON,
    uploaded_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    worker_host VARCHAR
)
"""
_INDEXES = [
    "CREATE INDEX idx_task_type ON executions(task_type)",
    "CREATE INDEX idx_repo ON executions(repo)",
    "CREATE INDEX idx_success ON executions(success)",
    "CREATE INDEX idx_timestamp ON executions(timestamp)",
    "CREATE VIEW tier_performance_mv AS SELECT model_tier, count(*) AS total_executions "
    "FROM executions GROUP BY model_tier",
]
TOPICS = [
    ("refactor", "Speed up the slow orders query with an index", "added an index"),
    ("bugfix", "Fix the login page crash on empty passwords", "guarded empty input"),
    ("docs", "Write the deployment guide for the payment service", None),
]


def task_id(n: int) -> UUID:
    return UUID(int=0xA0000 + n)


def original_rows(count: int = ROWS) -> list[dict[str, Any]]:
    """The rows the original's scripts inserted (plain values, as SQL parameters)."""
    rows = []
    for n in range(count):
        task_type, description, summary = TOPICS[n % 3]
        rng = np.random.default_rng(n)
        embedding = (
            rng.normal(size=768).tolist()
            if n % 4 == 0
            else None
            if n % 4 == 1
            else rng.normal(size=384).tolist()
        )
        rows.append(
            {
                "task_id": str(task_id(n)),
                "timestamp": NOW - timedelta(hours=n),
                "task_type": task_type,
                "task_description": f"{description} (case {n})",
                "repo": ("shop", "auth")[n % 2],
                "file_count": n % 6,
                "estimated_tokens": 1000 + n,
                "model_tier": ("small", "medium", "large")[n % 3],
                "pool_type": ("local", "cloud")[n % 2],
                "swarm_topology": "mesh" if n % 5 == 0 else None,
                "routing_confidence": 0.5,
                "complexity_score": 40 + n,
                "success": n % 4 != 0,
                "duration_seconds": None if n == NO_DURATION else n + 0.5,
                "quality_score": 250 if n == OUT_OF_RANGE else 60 + n % 30,
                "cost_estimate": 0.25,
                "actual_cost": 0.5 if n % 3 else None,
                "error_type": "rate_limit" if n == RATE_LIMITED else (None if n % 4 else "timeout"),
                "error_message": None,
                "user_accepted": None,
                "user_rating": None,
                "peak_memory_mb": 128.0,
                "solution_summary": summary,
                "embedding": embedding,
                "metadata": None if n % 5 == 0 else json.dumps({"run": n}),
                "worker_host": f"host-{n % 3}",
            }
        )
    return rows


def build_original(
    engine: sa.Engine, count: int = ROWS, vectors: Callable[[str], list[float]] | None = None
) -> list[dict[str, Any]]:
    """Create the original's table and fill it with plain INSERTs; returns the rows."""
    rows = original_rows(count)
    if vectors is not None:  # 384-number vectors from the real model, as the original made
        for item in rows:
            if item["embedding"] is not None and len(item["embedding"]) == 384:
                content = " ".join([item["task_type"], item["task_description"], item["repo"]])
                item["embedding"] = vectors(content)
    columns = list(rows[0])
    casts = {"task_id": "UUID", "metadata": "JSON", "embedding": "FLOAT[]"}
    values = ", ".join(
        f"CAST(:{name} AS {casts[name]})" if name in casts else f":{name}" for name in columns
    )
    insert = sa.text(f"INSERT INTO executions ({', '.join(columns)}) VALUES ({values})")
    with engine.begin() as connection:
        connection.execute(sa.text(_DDL))  # FLOAT is float4 on DuckDB, float8 on PostgreSQL
        for statement in _INDEXES:
            connection.execute(sa.text(statement))
        connection.execute(insert, rows)
    return rows


def build_large_original(engine: sa.Engine, count: int) -> None:
    """DuckDB only: `count` rows of the original's shape from one INSERT ... SELECT."""
    generated = f"""
        INSERT INTO executions
        SELECT
            CAST(printf('00000000-0000-0000-0000-%012x', 1048576 + i) AS UUID),
            TIMESTAMP '{NOW.isoformat(sep=" ")}' - INTERVAL (i % 1000) MINUTE,
            ['refactor', 'bugfix', 'docs'][1 + i % 3],
            'generated task number ' || i,
            ['shop', 'auth'][1 + i % 2],
            i % 6, 1000 + i % 500,
            ['small', 'medium', 'large'][1 + i % 3],
            ['local', 'cloud'][1 + i % 2],
            NULL, 0.5, 40 + i % 50, i % 4 <> 0,
            CASE WHEN i % 997 = 0 THEN NULL ELSE i % 100 + 0.5 END,
            60 + i % 30, 0.25, 0.5, NULL, NULL, NULL, NULL, 128.0,
            CASE WHEN i % 2 = 0 THEN 'added an index' END,
            CASE WHEN i % 3 = 0 THEN list_transform(range(768), lambda x: random()) END,
            CASE WHEN i % 5 = 0 THEN NULL ELSE '{{"run": 1}}' END,
            TIMESTAMP '{NOW.isoformat(sep=" ")}',
            'host-' || (i % 3)
        FROM range({int(count)}) AS t(i)
    """
    with engine.begin() as connection:
        connection.execute(sa.text(_DDL))
        connection.execute(sa.text(generated))
