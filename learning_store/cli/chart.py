"""Charts the CLI draws (matplotlib, optional): tiers per day, cost curves, replays."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learning_store.errors import LearningStoreError
from learning_store.results import TierPerformance

if TYPE_CHECKING:
    from learning_store.advice.curve import CostCurve
    from learning_store.replay.run import ReplayReport


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise LearningStoreError(
            "--chart needs matplotlib: pip install 'learning-store[charts]'"
        ) from None
    return plt


def draw_cost_curve(curve: CostCurve, path: Path) -> None:
    """Success against mean cost: the policy as its cost weight sweeps, each tier, the oracle."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 5.5))
    costs = [point.mean_cost for point in curve.policy]
    axis.plot(costs, [p.expected_success for p in curve.policy], "o-", label="policy (expected)")
    if curve.policy and curve.policy[0].true_success is not None:
        axis.plot(costs, [p.true_success for p in curve.policy], "s-", label="policy (true)")
    if curve.oracle:
        axis.plot(
            [p.mean_cost for p in curve.oracle],
            [p.true_success for p in curve.oracle],
            "--",
            label="oracle (true)",
        )
    for point in curve.tiers:
        shown = point.true_success if point.true_success is not None else point.expected_success
        axis.plot([point.mean_cost], [shown], "D", label=point.label)
    axis.set_xlabel("mean cost per execution ($)")
    axis.set_ylabel("success")
    axis.set_title("Success against cost as the cost weight sweeps")
    axis.legend(loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def draw_tier_chart(rows: list[TierPerformance], path: Path) -> None:
    """Two panels: daily success rate, and daily p95 duration (run-weighted across groups)."""
    plt = _pyplot()
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


def draw_replay_chart(report: ReplayReport, path: Path, title: str) -> None:
    """Each router's curve, with the weak and strong tiers' accuracies as guides."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 5.5))
    from learning_store.replay.curves import SHARES

    percent = SHARES * 100
    for result in report.routers:
        style = "--" if result.name in ("random", "group oracle") else "-"
        axis.plot(percent, result.accuracy, style, label=f"{result.name} (APGR {result.apgr:.3f})")
    weak, strong = report.tiers
    axis.axhline(report.weak_accuracy, color="grey", linewidth=0.8)
    axis.axhline(report.strong_accuracy, color="grey", linewidth=0.8)
    axis.text(1, report.weak_accuracy, f" always {weak}", va="bottom", color="grey")
    axis.text(1, report.strong_accuracy, f" always {strong}", va="bottom", color="grey")
    axis.set_xlabel(f"share of questions sent to {strong} (%)")
    axis.set_ylabel("accuracy")
    axis.set_title(title)
    axis.legend(loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
