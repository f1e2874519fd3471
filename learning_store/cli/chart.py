"""Draw success rate and p95 duration per model tier per day (matplotlib, optional)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from learning_store.errors import LearningStoreError
from learning_store.results import TierPerformance


def draw_tier_chart(rows: list[TierPerformance], path: Path) -> None:
    """Two panels: daily success rate, and daily p95 duration (run-weighted across groups)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise LearningStoreError(
            "--chart needs matplotlib: pip install 'learning-store[charts]'"
        ) from None
    series: dict[str, dict] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0.0]))
    for row in rows:
        day = series[row.model_tier][row.day]
        day[0] += row.total
        day[1] += row.successful
        day[2] += row.p95_duration * row.total
    figure, (rate_axis, p95_axis) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for tier, days in sorted(series.items()):
        ordered = sorted(days.items())
        dates = [day for day, _ in ordered]
        rate_axis.plot(dates, [100 * s / t for _, (t, s, _) in ordered], marker="o", label=tier)
        p95_axis.plot(dates, [w / t for _, (t, _, w) in ordered], marker="o", label=tier)
    rate_axis.set_ylabel("success rate (%)")
    p95_axis.set_ylabel("p95 duration (s)\n(run-weighted mean of groups)")
    rate_axis.set_title("Model tiers per day")
    rate_axis.legend()
    figure.autofmt_xdate()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
