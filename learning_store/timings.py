"""`DurationHistogram`: how long an operation took, in buckets, for Prometheus to read.

Kept here rather than in `prometheus_client` so the store needs no metrics package: the
collector in `learning_store.metrics` turns a snapshot into a histogram family.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass

DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds in seconds: a millisecond search to a ten-second batch write."""


@dataclass(frozen=True)
class HistogramSnapshot:
    """Cumulative counts per upper bound (the last is +Inf), the sum and the count."""

    buckets: list[tuple[float, int]]
    total_seconds: float
    count: int


class DurationHistogram:
    """Thread-safe counts of durations by bucket, their sum and their number."""

    def __init__(self, bounds: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        self.bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        """Count one duration."""
        with self._lock:
            self._counts[bisect.bisect_left(self.bounds, seconds)] += 1
            self._sum += seconds

    def snapshot(self) -> HistogramSnapshot:
        """The counts so far, cumulative as Prometheus reads them."""
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, running = [], 0
        for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
            running += count
            cumulative.append((bound, running))
        return HistogramSnapshot(cumulative, total, running)
