"""Per-tier estimates from past executions: similarity-weighted, recency-weighted, shrunk.

For each tier, the success estimate is the mean of a Beta posterior. Its prior is the
tier's success rate for the task type, itself shrunk toward the tier's overall rate,
which is shrunk toward the overall rate. Past executions of that tier add pseudo-counts
weighted by how similar their task was (cosine similarity squared), how recent they are
(half-life `RECENCY_HALF_LIFE_DAYS`) and, when the caller knows the task's complexity
score, how close theirs was. A tier with little similar evidence therefore stays near
its prior with a wide interval: one past success never reads as 100%.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from learning_store.results import Neighbour, TierEstimate

PRIOR_STRENGTH = 20.0
"""Pseudo-executions the prior is worth against the similar ones. Chosen by replaying the
demo's 5,000 executions (learning-store evaluate) with the real model and the hashing
embedder: 4 was overconfident (a decile off by 0.07), 40 too timid (its Brier score
closer to the baselines'); 20 kept every decile within 0.01-0.03 and the score lowest."""
TYPE_STRENGTH = 10.0
"""Pseudo-executions the tier's overall rate is worth against its task-type rate."""
TIER_STRENGTH = 5.0
"""Pseudo-executions the overall rate is worth against a tier's own rate."""
RECENCY_HALF_LIFE_DAYS = 14.0
COMPLEXITY_BANDWIDTH = 10.0
"""Complexity scores this far apart weigh e^-0.5 as much as equal ones."""
Z_95 = 1.96
EVIDENCE_WEIGHT = 0.01
"""A past execution counts as evidence when its weight is at least this."""


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
) -> TierEstimate:
    """The estimate for one tier from its similar past executions and the priors."""
    prior = priors.type_rate(tier, task_type)
    alpha, beta = PRIOR_STRENGTH * prior, PRIOR_STRENGTH * (1 - prior)
    weight_sum = cost = duration = quality = rated = 0.0
    evidence = 0
    for item in neighbours:
        weight = _weight(item, complexity)
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
        avg_cost=cost / weight_sum if weight_sum else _mean(tally.cost, tally.total),
        avg_duration=duration / weight_sum if weight_sum else _mean(tally.duration, tally.total),
        avg_quality=quality / rated if rated else _optional_mean(tally.quality, tally.rated),
        evidence=evidence,
    )


def _weight(item: Neighbour, complexity: float | None) -> float:
    weight: float = max(item.similarity, 0.0) ** 2 * 0.5 ** (item.age_days / RECENCY_HALF_LIFE_DAYS)
    if complexity is not None and item.complexity is not None:
        distance = (complexity - item.complexity) / COMPLEXITY_BANDWIDTH
        weight *= math.exp(-0.5 * distance * distance)
    return weight


def _mean(total: float, count: float) -> float:
    return total / count if count else 0.0


def _optional_mean(total: float, count: float) -> float | None:
    return total / count if count else None
