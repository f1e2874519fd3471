"""What every measurement of `learning-store bench` shares: options, results, data, targets.

Machines here are shared and noisy, so results are ratios of rates measured in the same run
on the same data; where a rate is timed, the best of a few repeats is kept.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from learning_store.config import LearningConfig
from learning_store.models import EMBEDDING_DIMENSION, ExecutionRecord

TOPICS = (
    "index the slow orders query",
    "fix the flaky checkout test",
    "restyle the navbar",
    "upgrade the web framework",
    "handle the timezone bug",
    "document the payments API",
)


@dataclass
class BenchOptions:
    """Sizes of the benchmark; defaults are the ones the targets refer to."""

    records: int = 2000
    similar_rows: int = 100_000
    scale_rows: int = 200_000
    ingest_rows: int = 200_000
    jsonl_rows: int = 50_000
    telemetry_records: int = 20_000
    batch_size: int = 1000
    repeats: int = 5
    skip_model: bool = False


@dataclass
class BenchResult:
    """Ratios (the targets) and the raw rates behind them."""

    ratios: dict[str, float] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)


def make_records(
    count: int, *, offset: int = 0, with_embedding: bool = True, seed: int = 0
) -> list[ExecutionRecord]:
    """Distinct, realistic records; embeddings are random unit vectors when asked for."""
    rng = np.random.default_rng(seed)
    vectors = (
        rng.normal(size=(count, EMBEDDING_DIMENSION)).astype(np.float32) if with_embedding else None
    )
    now = datetime.now(UTC)
    return [
        ExecutionRecord(
            task_type="refactor",
            repo=f"repo-{n % 4}",
            model_tier=("small", "medium", "large")[n % 3],
            pool_type="cloud-standard",
            routing_confidence=0.8,
            success=n % 5 != 0,
            duration_seconds=10.0 + n % 50,
            cost_estimate=0.01,
            actual_cost=0.012,
            task_description=f"{TOPICS[n % len(TOPICS)]} (case {offset + n})",
            timestamp=now - timedelta(seconds=n),
            metadata={"bench": True} if n % 2 else {},
            embedding=None if vectors is None else vectors[n],
        )
        for n in range(count)
    ]


@contextmanager
def scratch() -> Iterator[Path]:
    """A temporary folder for one measurement."""
    with tempfile.TemporaryDirectory(prefix="learning-store-bench-") as folder:
        yield Path(folder)


def config_for(path: Path, batch_size: int, **overrides: Any) -> LearningConfig:
    """Settings of a bench store at `path` (no model unless asked)."""
    settings: dict[str, Any] = {"embeddings_enabled": False, **overrides}
    return LearningConfig(database_url=f"duckdb:///{path}", batch_size=batch_size, **settings)


def timed(work: Callable[[], object]) -> float:
    """Seconds `work` took."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


TARGETS: dict[str, tuple[str, float]] = {
    "batch_vs_single": (">=", 25),
    "batch_vs_arrow_limit": (">=", 0.7),
    "executemany_vs_single": ("", 0),
    "model_batch_vs_single": (">=", 2.0),
    "storage_overhead_share": ("<=", 0.10),
    "cache_hit_speedup": (">=", 20),
    "similar_p50_ms": ("", 0),
    "similar_numpy_p50_ms": ("", 0),
    "similar_vs_numpy": ("<=", 3.0),
    "recommend_p50_ms": ("", 0),
    "recommend_vs_similar": ("<=", 2.0),
    "export_parquet_vs_engine": (">=", 0.7),
    "ingest_parquet_vs_engine": (">=", 0.5),
    "ingest_jsonl_rows_per_s": (">=", 20_000),
    "add_many_dicts_vs_records": (">=", 0.5),
    "scale_flatness": (">=", 0.7),
    "telemetry_record_p50_us": ("<=", 20),
    "telemetry_records_per_s": (">=", 10_000),
}
"""The issue's targets per key; an empty operator means reported, not targeted."""


def meets_target(key: str, value: float) -> bool | None:
    """True/False against the target, None where the key has none."""
    operator, bound = TARGETS.get(key, ("", 0))
    if operator == ">=":
        return value >= bound
    if operator == "<=":
        return value <= bound
    return None
