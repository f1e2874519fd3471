"""`learning-store bench`: every speed claim, measured side by side in one run."""

from __future__ import annotations

from collections.abc import Callable

from learning_store.bench.bulk import measure_dict_batches, measure_export, measure_ingest
from learning_store.bench.common import BenchOptions, BenchResult
from learning_store.bench.search import measure_similarity
from learning_store.bench.writes import (
    measure_model,
    measure_scale,
    measure_telemetry,
    measure_writes,
)


async def run_benchmark(
    options: BenchOptions, progress: Callable[[str], None] = lambda _: None
) -> BenchResult:
    """Every measurement, in a fixed order; `progress` hears the name of each step."""
    result = BenchResult()
    progress("batch writes against single writes and DuckDB's own Arrow insert")
    await measure_writes(options, result)
    if not options.skip_model:
        progress("the real embedding model: batched, single, cached")
        await measure_model(options, result)
    progress(f"similarity search over {options.similar_rows:,} rows")
    measure_similarity(options, result)
    progress(f"Parquet export of {options.similar_rows:,} rows")
    measure_export(options, result)
    progress(
        f"Parquet ingest of {options.ingest_rows:,} rows, JSON lines of {options.jsonl_rows:,}"
    )
    await measure_ingest(options, result)
    progress("add_many of plain dicts against records")
    measure_dict_batches(options, result)
    progress(f"batch writes into a table of {options.scale_rows:,} rows")
    measure_scale(options, result)
    progress("RoutingTelemetry")
    await measure_telemetry(options, result)
    return result
