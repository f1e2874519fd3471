"""Prometheus metrics of a running store: what telemetry took in, the table, the searches.

`StoreCollector` reads a `RoutingTelemetry`'s counters and a `LearningDatabase`'s table
and timings at each scrape; register it on a host application's registry, or let
`serve_metrics` serve `/metrics` on a port of its own (`--metrics-port`).

    from prometheus_client import REGISTRY
    from learning_store.metrics import StoreCollector
    REGISTRY.register(StoreCollector(telemetry=telemetry))
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from learning_store.api import LearningDatabase
    from learning_store.telemetry import RoutingTelemetry
    from learning_store.timings import DurationHistogram

log = logging.getLogger(__name__)

PREFIX = "learning_store"
TELEMETRY_COUNTERS = {
    "recorded": "Records taken in by record() (dropped ones included)",
    "replayed": "Records taken in from spool files of earlier runs",
    "stored": "Records written to the store",
    "duplicates": "Records whose task_id was already stored",
    "rejected": "Records the store refused (each is logged with its reason)",
    "dropped": "Records dropped because the buffer stayed full",
    "flushes": "Batch writes that succeeded",
    "failed_flushes": "Batch writes that failed (their records were kept)",
}
"""`TelemetryStats` fields exported as `learning_store_telemetry_<name>_total`."""
TELEMETRY_GAUGES = {
    "pending": "Records in memory, a write under way included",
    "spooled": "Records in spool files on disk, waiting for the database",
}


class StoreCollector(Collector):
    """Metrics of a telemetry buffer and of the database behind it, read at each scrape."""

    def __init__(
        self,
        telemetry: RoutingTelemetry | None = None,
        database: LearningDatabase | None = None,
    ) -> None:
        if telemetry is None and database is None:
            raise ValueError("StoreCollector: give a RoutingTelemetry, a LearningDatabase or both")
        self.telemetry = telemetry
        self.database = database if database is not None else telemetry.learning_db  # type: ignore[union-attr]

    def collect(self) -> Iterator[Metric]:
        """The metrics as they are now."""
        if self.telemetry is not None:
            yield from self._telemetry_metrics(self.telemetry)
        yield from self._table_metrics(self.database)
        yield _histogram(
            "search_duration_seconds",
            "find_similar calls and how long each took (embedding included)",
            self.database.search_seconds,
        )

    def _telemetry_metrics(self, telemetry: RoutingTelemetry) -> Iterator[Metric]:
        stats = telemetry.stats
        for name, help_text in TELEMETRY_COUNTERS.items():
            counter = CounterMetricFamily(f"{PREFIX}_telemetry_{name}", help_text)
            counter.add_metric([], getattr(stats, name))
            yield counter
        for name, help_text in TELEMETRY_GAUGES.items():
            yield GaugeMetricFamily(f"{PREFIX}_telemetry_{name}", help_text, getattr(stats, name))
        yield _histogram(
            "telemetry_flush_duration_seconds",
            "Batch writes of the telemetry buffer and how long each took",
            telemetry.flush_seconds,
        )

    def _table_metrics(self, database: LearningDatabase) -> Iterator[Metric]:
        try:
            stats = database.repository.stats()
        except Exception as error:  # a scrape must answer even when the database does not
            log.warning("metrics: the store's size could not be read: %s", error)
            yield GaugeMetricFamily(f"{PREFIX}_up", "Whether the store answered the scrape", 0)
            return
        yield GaugeMetricFamily(f"{PREFIX}_up", "Whether the store answered the scrape", 1)
        yield GaugeMetricFamily(f"{PREFIX}_rows", "Executions stored", stats.total)
        yield GaugeMetricFamily(
            f"{PREFIX}_invalid_rows",
            "Rows written by other tools that break a record rule (left out of reads)",
            stats.invalid_rows,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_rows_without_embedding",
            "Executions that similarity search cannot find (no embedding)",
            stats.without_embedding,
        )


def _histogram(name: str, help_text: str, timings: DurationHistogram) -> Metric:
    snapshot = timings.snapshot()
    family = HistogramMetricFamily(f"{PREFIX}_{name}", help_text)
    buckets = [
        ("+Inf" if bound == float("inf") else repr(bound), count)
        for bound, count in snapshot.buckets
    ]
    family.add_metric([], buckets, snapshot.total_seconds)
    return family


def serve_metrics(
    port: int,
    host: str = "127.0.0.1",
    *,
    telemetry: RoutingTelemetry | None = None,
    database: LearningDatabase | None = None,
) -> None:
    """Serve `/metrics` for this telemetry and database from a background thread."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(telemetry, database))
    start_http_server(port, addr=host, registry=registry)
