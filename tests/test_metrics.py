"""`learning_store.metrics`: /metrics, read with prometheus_client's own parser, tells the
same story as `RoutingTelemetry.stats` and the store after a known workload."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from pg_server import free_port
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from learning_store import LearningConfig, LearningDatabase, RoutingTelemetry
from learning_store.demo_data import generate
from learning_store.metrics import TELEMETRY_COUNTERS, StoreCollector, serve_metrics


def scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


async def test_metrics_equal_the_telemetry_counters_after_a_known_workload(tmp_path: Path) -> None:
    config = LearningConfig(
        database_url=f"duckdb:///{tmp_path / 'm.db'}", embedding_model="hashing"
    )
    records = list(generate(30, days=5, seed=4))
    bad = records[0].model_dump() | {"task_id": "bad-one", "duration_seconds": -1}
    db = LearningDatabase(config=config)
    async with db, RoutingTelemetry(db, batch_size=10, auto_flush=False) as telemetry:
        port = free_port()
        serve_metrics(port, telemetry=telemetry)
        for record in records:
            await telemetry.record(record)
        for record in records[:4]:
            await telemetry.record(record)  # duplicates
        with pytest.raises(ValueError, match="duration_seconds"):
            await telemetry.record(bad)  # refused at the door: never counted as recorded
        await telemetry.flush_batch()
        for _ in range(3):
            await db.find_similar("speed up the orders query", threshold=0.0)
        stats = telemetry.stats
        samples = scrape(port)
    assert (stats.recorded, stats.stored, stats.duplicates) == (34, 30, 4)
    for name in TELEMETRY_COUNTERS:
        assert samples[f"learning_store_telemetry_{name}_total"][()] == getattr(stats, name), name
    assert samples["learning_store_telemetry_pending"][()] == stats.pending == 0
    assert samples["learning_store_telemetry_flush_duration_seconds_count"][()] == stats.flushes
    assert samples["learning_store_rows"][()] == 30
    assert samples["learning_store_rows_without_embedding"][()] == 0
    assert samples["learning_store_search_duration_seconds_count"][()] == 3
    buckets = samples["learning_store_search_duration_seconds_bucket"]
    assert buckets[(("le", "+Inf"),)] == 3
    assert list(buckets.values()) == sorted(buckets.values())  # cumulative


async def test_a_store_that_does_not_answer_is_reported_down_not_an_error() -> None:
    db = LearningDatabase(config=LearningConfig(embedding_model="hashing"))  # never opened
    registry = CollectorRegistry()
    registry.register(StoreCollector(database=db))
    text = generate_latest(registry).decode()
    assert "learning_store_up 0.0" in text
    assert "learning_store_search_duration_seconds_count 0.0" in text
