"""Recommend a model tier for a task from a store's history, and the policy that chooses.

Built on the repository protocol (`search_per_tier`, `outcome_counts`), so every store
gives the same numbers for the same rows; the fake is the reference. A store that
declares `NeighbourOutcomes` (DuckDB, whose vector index keeps each row's outcome) answers
the neighbour search itself, without building records.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from learning_store.advice.estimator import Priors, estimate
from learning_store.advice.fitting import (
    NEIGHBOURS_FOR_FIT,
    Embed,
    FitReport,
    fit_parameters,
    fitted_parameters,
)
from learning_store.analytics import cost_of
from learning_store.repository.base import ExecutionRepository, NeighbourOutcomes, SimilarityQuery
from learning_store.results import (
    Neighbour,
    OutcomeCount,
    SimilarExecution,
    TierEstimate,
    TierRecommendation,
)

NEIGHBOURS = 100
"""Most similar past executions read per tier for one recommendation (each tier its own,
so a tier the router rarely used is not crowded out by the others). Evidence is capped at
this many: with 20, a topic's small tier could not climb from its prior of 0.49 past 0.57
though its executions succeeded 92% of the time; with 100 it reaches 0.8."""
PRIORS_TTL_SECONDS = 60.0
"""Priors (success counts per tier and task type over the window) are recomputed at most
this often per store: they are rates over weeks, and counting them is a full scan."""
TIE = 0.01
"""Expected success rates this close count as a tie, won by the cheaper tier."""
TYPE_VOTERS = 10
"""When no task type is given, the most common one among this many nearest executions."""


@dataclass(frozen=True, slots=True)
class AdviceRequest:
    """What a router asks besides the task itself, carried from the façade to the policy.

    `complexity_score` (the router's own estimate, 0-100) sharpens the estimates: past
    executions of similar complexity weigh more. `tiers` limits the candidates (default:
    every tier in the history). `max_cost` leaves out tiers not known to cost at most that;
    with `min_success`, the cheapest tier expected to reach it; with `cost_weight`, the
    highest expected success less `cost_weight` x cost (see `choose`).
    """

    repo: str | None = None
    task_type: str | None = None
    tiers: Sequence[str] | None = None
    min_success: float | None = None
    days_back: int = 90
    complexity_score: float | None = None
    max_cost: float | None = None
    cost_weight: float | None = None

    def __post_init__(self) -> None:
        if self.min_success is not None and not 0 <= self.min_success <= 1:
            raise ValueError(f"min_success must be between 0 and 1, got {self.min_success}")
        for name in ("max_cost", "cost_weight"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number of at least 0, got {value}")
        if self.min_success is not None and self.cost_weight is not None:
            raise ValueError("give min_success or cost_weight, not both: they are two policies")


def recommend_tier(
    repository: ExecutionRepository,
    embedding: Any,
    request: AdviceRequest | None = None,
    *,
    now: datetime | None = None,
) -> TierRecommendation:
    """The tier to run a task on (its embedding given), with an estimate for every tier.

    Raises:
        ValueError: there is no history and no `request.tiers`.
    """
    asked = request or AdviceRequest()
    moment = now or datetime.now(UTC)
    query = SimilarityQuery(embedding, asked.repo, NEIGHBOURS, asked.days_back, 0.0)
    per_tier = similar_outcomes(repository, query, moment)
    priors = _priors(repository, asked.repo, asked.days_back)
    fit = fitted_parameters(repository)
    neighbours = [item for found in per_tier.values() for item in found]
    task_type = asked.task_type
    if task_type is None and neighbours:
        nearest = sorted(neighbours, key=lambda n: (-n.similarity, -(n.task_id or UUID(int=0)).int))
        votes = Counter(n.task_type for n in nearest[:TYPE_VOTERS])
        task_type = votes.most_common(1)[0][0]
    candidates = list(asked.tiers) if asked.tiers else sorted(set(priors.tiers) | set(per_tier))
    if not candidates:
        raise ValueError(
            "No executions are stored yet, so there is nothing to learn from: "
            "store some, or name the candidate tiers with tiers=[...]."
        )
    estimates = [
        estimate(
            tier,
            [n for n in neighbours if n.tier == tier],
            priors,
            task_type=task_type,
            complexity=asked.complexity_score,
            fit=fit,
        )
        for tier in candidates
    ]
    return choose(
        estimates, asked.min_success, max_cost=asked.max_cost, cost_weight=asked.cost_weight
    )


def fit_advice(
    repository: ExecutionRepository, embed: Embed, *, repo: str | None = None, days_back: int = 90
) -> FitReport | None:
    """Fit the estimator to this store's history and keep the result in the store."""

    def similar(embedding: Any, now: datetime) -> dict[str, list[Neighbour]]:
        query = SimilarityQuery(embedding, repo, NEIGHBOURS_FOR_FIT, days_back, 0.0)
        return similar_outcomes(repository, query, now)

    priors = _priors(repository, repo, days_back)
    return fit_parameters(repository, embed, similar, priors, repo=repo, days_back=days_back)


def similar_outcomes(
    repository: ExecutionRepository, query: SimilarityQuery, now: datetime
) -> dict[str, list[Neighbour]]:
    """Each tier's most similar past executions, as the estimator reads them.

    A store that declares `NeighbourOutcomes` answers itself (and may decline with None).
    """
    if isinstance(repository, NeighbourOutcomes):
        found = repository.similar_outcomes(query, now)
        if found is not None:
            return found
    matches = repository.search_per_tier(query)
    return {tier: [neighbour_of(match, now) for match in items] for tier, items in matches.items()}


def choose(
    estimates: list[TierEstimate],
    min_success: float | None,
    *,
    max_cost: float | None = None,
    cost_weight: float | None = None,
) -> TierRecommendation:
    """The policy that turns estimates into one tier.

    `max_cost` first leaves out every tier not known to cost at most that (an unknown
    cost is never within a budget). Then, with `cost_weight`: the highest expected success
    minus `cost_weight` x cost. With `min_success`: the cheapest tier expected to reach it,
    else the likeliest. Otherwise the highest expected success, the cheaper tier winning
    ties within `TIE`. A tier whose cost is unknown is never "the cheapest".
    """
    candidates = estimates
    if max_cost is not None:
        candidates = [e for e in estimates if e.avg_cost is not None and e.avg_cost <= max_cost]
        if not candidates:
            known = [item for item in estimates if item.avg_cost is not None]
            fallback = min(known, key=_cheapness) if known else _likeliest(estimates)
            return TierRecommendation(
                fallback.tier,
                estimates,
                f"No tier is known to cost at most ${max_cost:g}; {fallback.tier} is the "
                f"{'cheapest known' if known else 'likeliest'} ({_said(fallback)}).",
            )
    if cost_weight is not None:
        priced = [item for item in candidates if item.avg_cost is not None] or candidates
        best = max(priced, key=lambda item: (_net(item, cost_weight), -_cheapness(item)[1]))
        return TierRecommendation(
            best.tier,
            estimates,
            f"{best.tier} has the best expected success less {cost_weight:g} x its cost "
            f"({_said(best)}, {_cost(best)}).",
        )
    if min_success is None:
        best_rate = max(item.success_rate for item in candidates)
        contenders = [item for item in candidates if item.success_rate >= best_rate - TIE]
        chosen = min(contenders, key=lambda item: (*_cheapness(item), -item.success_rate))
        tied = (
            " and is the cheapest of the tiers within one point of it"
            if len(contenders) > 1 and chosen.avg_cost is not None
            else ""
        )
        return TierRecommendation(
            chosen.tier,
            estimates,
            f"{chosen.tier} has the highest expected success ({_said(chosen)}){tied}.",
        )
    enough = [item for item in candidates if item.success_rate >= min_success]
    if enough:
        cheapest = min(enough, key=lambda item: (*_cheapness(item), -item.success_rate))
        which = "cheapest" if cheapest.avg_cost is not None else "likeliest (costs unknown)"
        return TierRecommendation(
            cheapest.tier,
            estimates,
            f"{cheapest.tier} is the {which} tier expected to succeed at least "
            f"{min_success:.0%} of the time ({_said(cheapest)}).",
        )
    closest = _likeliest(candidates)
    return TierRecommendation(
        closest.tier,
        estimates,
        f"No tier is expected to succeed {min_success:.0%} of the time; {closest.tier} "
        f"comes closest ({_said(closest)}).",
    )


def _cheapness(item: TierEstimate) -> tuple[bool, float, str]:
    """Sort key: known costs first, cheapest first; an unknown cost is never cheap."""
    return item.avg_cost is None, item.avg_cost or 0.0, item.tier


def _likeliest(estimates: list[TierEstimate]) -> TierEstimate:
    return max(estimates, key=lambda item: (item.success_rate, -_cheapness(item)[1]))


def _net(item: TierEstimate, cost_weight: float) -> float:
    return item.success_rate - cost_weight * (item.avg_cost or 0.0)


def _cost(item: TierEstimate) -> str:
    return "cost unknown" if item.avg_cost is None else f"${item.avg_cost:.4f}"


def _said(item: TierEstimate) -> str:
    return (
        f"{item.success_rate:.0%}, between {item.success_low:.0%} and "
        f"{item.success_high:.0%}, from {item.evidence} similar executions"
    )


def neighbour_of(match: SimilarExecution, now: datetime) -> Neighbour:
    """What the estimator needs of one similar past execution."""
    record = match.record
    return Neighbour(
        tier=record.model_tier,
        similarity=match.similarity,
        age_days=max((now - record.timestamp).total_seconds(), 0.0) / 86_400,
        success=record.success,
        cost=cost_of(record),
        duration=record.duration_seconds,
        quality=record.quality_score,
        complexity=record.complexity_score,
        task_type=record.task_type,
        task_id=record.task_id,
    )


_cached_priors: weakref.WeakKeyDictionary[Any, dict[tuple[str | None, int], tuple[float, Priors]]]
_cached_priors = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _priors(repository: ExecutionRepository, repo: str | None, days_back: int) -> Priors:
    """The store's priors for this window, from a cache at most `PRIORS_TTL_SECONDS` old."""
    now = time.monotonic()
    with _cache_lock:
        cached = _cached_priors.setdefault(repository, {}).get((repo, days_back))
    if cached is not None and now - cached[0] < PRIORS_TTL_SECONDS:
        return cached[1]
    priors = priors_from_counts(repository.outcome_counts(repo=repo, days_back=days_back))
    with _cache_lock:
        _cached_priors.setdefault(repository, {})[(repo, days_back)] = (now, priors)
    return priors


def priors_from_counts(counts: Sequence[OutcomeCount]) -> Priors:
    """Tier and (tier, task type) tallies from the store's outcome counts."""
    priors = Priors()
    for count in counts:
        for tally in (
            priors.by_tier[count.model_tier],
            priors.by_tier_type[(count.model_tier, count.task_type)],
        ):
            tally.successes += count.successes
            tally.total += count.executions
            tally.cost += count.cost_sum
            tally.duration += count.duration_sum
            tally.quality += count.quality_sum
            tally.rated += count.rated
    return priors
