"""Per-tier estimates from past executions: weighted by rank and recency, shrunk to a prior.

For each tier, the success estimate is the mean of a Beta posterior. Its prior is the
tier's success rate for the task type, itself shrunk toward the tier's overall rate,
which is shrunk toward the overall rate. The tier's past executions, nearest first, add
pseudo-counts weighted by their *rank* among them (`e^(-rank / rank_scale)`), by how
recent they are (`half_life_days`) and, when the caller knows the task's complexity score,
by how close theirs was. Rank, not the cosine itself: how close a match is depends on the
embedder's scale, how much closer it is than the rest of the history does not. So 60
near-identical past tasks outweigh the prior, and one past success never reads as 100%.

The prior's strength and the half-life are fitted to a store's own history by
`advice.fitting` (`learning-store evaluate --fit`); `AdviceFit()` holds the defaults.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from learning_store.results import Neighbour, TierEstimate

RANK_SCALE = 50.0
"""Ranks over which a neighbour's weight falls by e. Measured on the shared RouteLLM
data (28 MMLU subjects and GSM8K, six splits each): 50 ranked the strong tier's gain best
(APGR 0.672 mean, 0.682 on seed 7), beside a flat mean of 100 (0.675 / 0.679) and sharper
scales (10-20: 0.55-0.66). Fitting it by likelihood picks sharp scales that rank worse,
so it stays fixed while the prior strength and half-life are fitted."""
TYPE_STRENGTH = 10.0
"""Pseudo-executions the tier's overall rate is worth against its task-type rate."""
TIER_STRENGTH = 5.0
"""Pseudo-executions the overall rate is worth against a tier's own rate."""
COMPLEXITY_BANDWIDTH = 10.0
"""Complexity scores this far apart weigh e^-0.5 as much as equal ones."""
Z_95 = 1.96
EVIDENCE_WEIGHT = 0.01
"""A past execution counts as evidence when its weight is at least this."""


@dataclass(frozen=True, slots=True)
class AdviceFit:
    """The estimator's fitted parameters (the defaults until a store is fitted)."""

    prior_strength: float = 8.0
    """Pseudo-executions the prior is worth against the neighbours (whose weights sum to
    about 44 when a tier has 100 near ones). On the demo's 5,000 executions 8 kept every
    calibration decile of 100+ within 0.04 with the real model (0.038) and the hashing
    embedder (0.035); 5 and 10-30 let one decile drift 0.05-0.07 off."""
    half_life_days: float | None = None
    """A neighbour this old weighs half as much; None: age does not matter (the demo's
    best; a store whose tiers change over time fits a half-life with `evaluate --fit`)."""
    rank_scale: float = RANK_SCALE

    def to_dict(self) -> dict[str, float | None]:
        """JSON-ready."""
        return {
            "prior_strength": self.prior_strength,
            "half_life_days": self.half_life_days,
            "rank_scale": self.rank_scale,
        }


@dataclass(slots=True)
class Tally:
    """Successes and executions, with the sums behind the tier-level averages."""

    successes: float = 0.0
    total: float = 0.0
    cost: float = 0.0
    duration: float = 0.0
    quality: float = 0.0
    rated: float = 0.0

    def add(self, success: bool, cost: float, duration: float, quality: float | None) -> None:
        """Count one execution."""
        self.successes += success
        self.total += 1
        self.cost += cost
        self.duration += duration
        if quality is not None:
            self.quality += quality
            self.rated += 1


@dataclass
class Priors:
    """Success counts per tier and per (tier, task type), plus tier-level averages."""

    by_tier: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_tier_type: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))

    def add(
        self,
        tier: str,
        task_type: str,
        success: bool,
        cost: float,
        duration: float,
        quality: float | None,
    ) -> None:
        """Count one execution (the replay adds them one by one, in time order)."""
        self.by_tier[tier].add(success, cost, duration, quality)
        self.by_tier_type[(tier, task_type)].add(success, cost, duration, quality)

    @property
    def tiers(self) -> list[str]:
        """Every tier seen."""
        return sorted(tier for tier, tally in self.by_tier.items() if tally.total)

    def overall_rate(self) -> float:
        """Success rate over every tier, with one pseudo-success and one pseudo-failure."""
        successes = sum(tally.successes for tally in self.by_tier.values())
        total = sum(tally.total for tally in self.by_tier.values())
        return (successes + 1) / (total + 2)

    def tier_rate(self, tier: str) -> float:
        """The tier's success rate, shrunk toward the overall rate."""
        tally = self.by_tier.get(tier, Tally())
        return (tally.successes + TIER_STRENGTH * self.overall_rate()) / (
            tally.total + TIER_STRENGTH
        )

    def type_rate(self, tier: str, task_type: str | None) -> float:
        """The tier's rate for the task type, shrunk toward the tier's rate."""
        if task_type is None:
            return self.tier_rate(tier)
        tally = self.by_tier_type.get((tier, task_type), Tally())
        return (tally.successes + TYPE_STRENGTH * self.tier_rate(tier)) / (
            tally.total + TYPE_STRENGTH
        )


def estimate(
    tier: str,
    neighbours: Iterable[Neighbour],
    priors: Priors,
    *,
    task_type: str | None,
    complexity: float | None,
    fit: AdviceFit | None = None,
) -> TierEstimate:
    """The estimate for one tier from its similar past executions and the priors."""
    fitted = fit or AdviceFit()
    prior = priors.type_rate(tier, task_type)
    alpha, beta = fitted.prior_strength * prior, fitted.prior_strength * (1 - prior)
    weight_sum = cost = duration = quality = rated = 0.0
    evidence = 0
    nearest_first = sorted(neighbours, key=lambda item: -item.similarity)
    for rank, item in enumerate(item for item in nearest_first if item.similarity > 0):
        weight = _weight(rank, item, complexity, fitted)
        if weight < EVIDENCE_WEIGHT:
            continue
        evidence += 1
        alpha += weight * item.success
        beta += weight * (not item.success)
        weight_sum += weight
        cost += weight * item.cost
        duration += weight * item.duration
        if item.quality is not None:
            quality += weight * item.quality
            rated += weight
    mean = alpha / (alpha + beta)
    spread = Z_95 * math.sqrt(mean * (1 - mean) / (alpha + beta + 1))
    tally = priors.by_tier.get(tier, Tally())
    return TierEstimate(
        tier=tier,
        success_rate=mean,
        success_low=max(0.0, mean - spread),
        success_high=min(1.0, mean + spread),
        avg_cost=cost / weight_sum if weight_sum else _optional_mean(tally.cost, tally.total),
        avg_duration=duration / weight_sum if weight_sum else _mean(tally.duration, tally.total),
        avg_quality=quality / rated if rated else _optional_mean(tally.quality, tally.rated),
        evidence=evidence,
    )


def _weight(rank: int, item: Neighbour, complexity: float | None, fit: AdviceFit) -> float:
    weight = math.exp(-rank / fit.rank_scale)
    if fit.half_life_days is not None:
        weight *= 0.5 ** (item.age_days / fit.half_life_days)
    if complexity is not None and item.complexity is not None:
        distance = (complexity - item.complexity) / COMPLEXITY_BANDWIDTH
        weight *= math.exp(-0.5 * distance * distance)
    return weight


def _mean(total: float, count: float) -> float:
    return total / count if count else 0.0


def _optional_mean(total: float, count: float) -> float | None:
    return total / count if count else None
