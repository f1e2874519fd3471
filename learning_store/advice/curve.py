"""Success against mean cost as the policy's `cost_weight` sweeps, on a replayed history.

Each replayed execution keeps every tier's estimate (and, on the demo, every tier's true
chance). For a cost weight w each execution goes to the tier with the best expected
success less w x cost; the point is the mean cost of those tiers and their mean expected
(and, where known, true) success. Always-one-tier points, and the oracle's curve where
truth is known, sit beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from learning_store.results import TierEstimate

COST_WEIGHTS = (0.0, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 200, 500, 1000)
"""Success points one dollar is worth, from 'cost is no object' to 'cheapest wins'."""


@dataclass(frozen=True)
class CurvePoint:
    """One policy's mean cost per execution and its mean expected (and true) success."""

    label: str
    mean_cost: float
    expected_success: float
    true_success: float | None = None


@dataclass
class CostCurve:
    """The policy's points, each tier's point, and the oracle's where truth is known."""

    policy: list[CurvePoint] = field(default_factory=list)
    tiers: list[CurvePoint] = field(default_factory=list)
    oracle: list[CurvePoint] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[dict[str, object]]]:
        """JSON-ready."""
        return {
            name: [vars(point) for point in points]
            for name, points in (
                ("policy", self.policy),
                ("tiers", self.tiers),
                ("oracle", self.oracle),
            )
        }


Decision = tuple[Sequence[TierEstimate], dict[str, float] | None]
"""Every tier's estimate for one execution, and every tier's true chance when known."""


def cost_curve(decisions: Sequence[Decision]) -> CostCurve:
    """The curve over `decisions` that weigh every tier, each with a known cost."""
    every_tier = {item.tier for estimates, _ in decisions for item in estimates}
    priced = [
        (estimates, truth)
        for estimates, truth in decisions
        if {item.tier for item in estimates} == every_tier
        and all(item.avg_cost is not None for item in estimates)
    ]  # the early executions, before every tier had history, are left out
    curve = CostCurve()
    if not priced:
        return curve
    options = [estimates for estimates, _ in priced]
    truths = [truth for _, truth in priced if truth is not None]
    known = truths if len(truths) == len(priced) else None
    for weight in COST_WEIGHTS:
        picks = [max(estimates, key=lambda item: _net(item, weight)) for estimates in options]
        curve.policy.append(_point(f"w={weight:g}", picks, known))
        if known is not None:
            best = [
                max(estimates, key=lambda item: truth[item.tier] - weight * _cost(item))
                for estimates, truth in zip(options, known, strict=True)
            ]
            curve.oracle.append(_point(f"w={weight:g}", best, known))
    for tier in sorted({item.tier for estimates in options for item in estimates}):
        picks = [item for estimates in options for item in estimates if item.tier == tier]
        if len(picks) == len(options):
            curve.tiers.append(_point(f"always {tier}", picks, known))
    return curve


def _point(
    label: str, picks: list[TierEstimate], truths: list[dict[str, float]] | None
) -> CurvePoint:
    count = len(picks)
    true = None
    if truths is not None:
        true = sum(truth[pick.tier] for pick, truth in zip(picks, truths, strict=True)) / count
    return CurvePoint(
        label,
        sum(_cost(pick) for pick in picks) / count,
        sum(pick.success_rate for pick in picks) / count,
        true,
    )


def _net(item: TierEstimate, weight: float) -> float:
    return item.success_rate - weight * _cost(item)


def _cost(item: TierEstimate) -> float:
    return item.avg_cost or 0.0
