"""Writes in `learning-store bench`: batches, the model, a full table, telemetry.

Batches are measured against single writes and DuckDB's bare Arrow insert.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from statistics import median

import duckdb
import sqlalchemy as sa

from learning_store.api import LearningDatabase
from learning_store.arrow_codec import records_to_arrow
from learning_store.bench.common import (
    BenchOptions,
    BenchResult,
    config_for,
    make_records,
    scratch,
    timed,
)
from learning_store.config import LearningConfig
from learning_store.embeddings import CachingEmbedder, SentenceTransformerEmbedder
from learning_store.models import ExecutionRecord
from learning_store.repository import (
    ExecutionRepository,
    SqlExecutionRepository,
    create_repository,
)
from learning_store.schema import executions
from learning_store.telemetry import RoutingTelemetry


async def _store_batch(path: Path, records: list[ExecutionRecord], batch_size: int) -> float:
    async with LearningDatabase(config=config_for(path, batch_size)) as db:
        started = time.perf_counter()
        stored = await db.store_executions_batch(records)
        elapsed = time.perf_counter() - started
    assert stored == len(records)
    return len(records) / elapsed


async def _store_singly(path: Path, records: list[ExecutionRecord]) -> float:
    async with LearningDatabase(config=config_for(path, 100)) as db:
        started = time.perf_counter()
        for record in records:
            await db.store_execution(record)
        return len(records) / (time.perf_counter() - started)


def _bare_arrow_insert(path: Path, records: list[ExecutionRecord]) -> float:
    """DuckDB alone: an Arrow table inserted into an identical table (schema from our store)."""
    create_repository(f"duckdb:///{path}").close()
    table = records_to_arrow(records, datetime.now(UTC))
    connection = duckdb.connect(str(path))
    try:
        started = time.perf_counter()
        connection.register("batch", table)
        connection.execute("INSERT INTO executions SELECT * FROM batch")
        return len(records) / (time.perf_counter() - started)
    finally:
        connection.close()


def _core_executemany(path: Path, records: list[ExecutionRecord]) -> float:
    """SQLAlchemy Core insert() executemany, the path DESIGN.md measured at ~600-2,200 rows/s."""
    repository = SqlExecutionRepository(f"duckdb:///{path}")
    uploaded = datetime.now(UTC)
    rows = [
        {**record.model_dump(), "uploaded_at": uploaded, "error_type": None} for record in records
    ]
    started = time.perf_counter()
    with repository.engine.begin() as connection:
        connection.execute(sa.insert(executions), rows)
    rate = len(records) / (time.perf_counter() - started)
    repository.close()
    return rate


def _best(measure: Callable[[Path], float], repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        with scratch() as folder:
            rates.append(measure(folder / "bench.db"))
    return max(rates)


async def measure_writes(options: BenchOptions, result: BenchResult) -> None:
    """batch_vs_single, batch_vs_arrow_limit, executemany_vs_single (no model).

    Our batch and the bare Arrow insert take turns, so drifting load on a shared machine
    falls on both sides of the ratio alike; each keeps its best repeat.
    """
    records = make_records(options.records)
    single = await _single_rate(records)
    batch_rates, bare_rates = [], []
    for _ in range(options.repeats):
        with scratch() as folder:
            batch_rates.append(await _store_batch(folder / "b.db", records, options.batch_size))
            bare_rates.append(_bare_arrow_insert(folder / "a.db", records))
    batch, bare = max(batch_rates), max(bare_rates)
    executemany = _best(lambda path: _core_executemany(path, records), 1)
    result.rates.update(
        single_records_per_s=single,
        batch_records_per_s=batch,
        arrow_limit_records_per_s=bare,
        executemany_records_per_s=executemany,
    )
    result.ratios.update(
        batch_vs_single=batch / single,
        batch_vs_arrow_limit=batch / bare,
        executemany_vs_single=executemany / single,
    )


async def _single_rate(records: list[ExecutionRecord]) -> float:
    with scratch() as folder:
        return await _store_singly(folder / "s.db", records)


async def measure_model(options: BenchOptions, result: BenchResult) -> None:
    """model_batch_vs_single, storage_overhead_share and cache_hit_speedup, with the real model."""
    model = SentenceTransformerEmbedder(batch_size=64)
    model.embed(["warm up the model"])  # loading (~5 s) is not what we measure
    encode_seconds = 0.0
    real_embed = model.embed

    def timed_embed(texts):
        nonlocal encode_seconds
        started = time.perf_counter()
        try:
            return real_embed(texts)
        finally:
            encode_seconds += time.perf_counter() - started

    model.embed = timed_embed  # type: ignore[method-assign]
    count = options.records
    with scratch() as folder:
        cached = CachingEmbedder(model, max_entries=count * 2)
        config = config_for(folder / "m.db", options.batch_size)
        async with LearningDatabase(config=config, embedder=cached) as db:
            singles = make_records(count, offset=10**6, with_embedding=False)
            started = time.perf_counter()
            for record in singles:
                await db.store_execution(record)
            single = count / (time.perf_counter() - started)

            fresh = make_records(count, offset=2 * 10**6, with_embedding=False)
            encode_seconds = 0.0
            started = time.perf_counter()
            await db.store_executions_batch(fresh)
            batch_seconds = time.perf_counter() - started
            share = (batch_seconds - encode_seconds) / batch_seconds

            seen = [record.model_copy(update={"task_id": uuid.uuid4()}) for record in fresh]
            started = time.perf_counter()
            await db.store_executions_batch(seen)
            hit_seconds = time.perf_counter() - started
    batch = count / batch_seconds
    result.rates.update(
        model_single_records_per_s=single,
        model_batch_records_per_s=batch,
        cache_hit_records_per_s=count / hit_seconds,
    )
    result.ratios.update(
        model_batch_vs_single=batch / single,
        storage_overhead_share=share,
        cache_hit_speedup=batch_seconds / hit_seconds,
    )


def measure_scale(options: BenchOptions, result: BenchResult) -> None:
    """Batch rate into a table already holding `scale_rows` rows over the rate into an empty one.

    The filled table is checkpointed first, so the first timed batch does not pay for
    flushing the fill's write-ahead log; each side keeps its best of `repeats` batches.
    """
    config = LearningConfig(batch_size=options.batch_size)
    with scratch() as folder:
        empty = create_repository(f"duckdb:///{folder / 'empty.db'}", config=config)
        into_empty = _best_batch(empty, options, offset=10**8)
        empty.close()
        full = SqlExecutionRepository(
            f"duckdb:///{folder / 'full.db'}", config=LearningConfig(batch_size=1000)
        )
        for start in range(0, options.scale_rows, 20_000):
            full.add_many(
                make_records(min(20_000, options.scale_rows - start), offset=start, seed=start)
            )
        with full.engine.connect() as connection:
            connection.execute(sa.text("CHECKPOINT"))
        full.batch_size = options.batch_size
        into_full = _best_batch(full, options, offset=2 * 10**8)
        full.close()
    result.rates.update(empty_table_records_per_s=into_empty, full_table_records_per_s=into_full)
    result.ratios["scale_flatness"] = into_full / into_empty


def _best_batch(store: ExecutionRepository, options: BenchOptions, offset: int) -> float:
    rates = []
    for repeat in range(options.repeats):
        batch = make_records(options.records, offset=offset + repeat * options.records, seed=repeat)
        rates.append(len(batch) / timed(partial(store.add_many, batch)))
    return max(rates)


async def measure_telemetry(options: BenchOptions, result: BenchResult) -> None:
    """record() p50 and sustained records/s to DuckDB with the hashing embedder until shutdown."""
    records = make_records(options.telemetry_records, offset=10**9, with_embedding=False)
    with scratch() as folder:
        config = config_for(
            folder / "t.db",
            options.batch_size,
            embeddings_enabled=True,
            embedding_model="hashing",
            telemetry_spool_dir=folder / "spool",
        )
        db = LearningDatabase(config=config)
        telemetry = RoutingTelemetry(
            db, batch_size=options.batch_size, flush_interval=0.05, max_pending=len(records) + 1
        )
        await telemetry.initialize()
        costs = []
        started = time.perf_counter()
        for record in records:
            before = time.perf_counter_ns()
            await telemetry.record(record)
            costs.append(time.perf_counter_ns() - before)
            if len(costs) % 1000 == 0:
                await asyncio.sleep(0)  # a real router yields to the loop between tasks
        await telemetry.shutdown()
        elapsed = time.perf_counter() - started
        stored = telemetry.stats.stored
        await db.close()
    assert stored == len(records)
    result.ratios.update(
        telemetry_record_p50_us=median(costs) / 1000, telemetry_records_per_s=len(records) / elapsed
    )
