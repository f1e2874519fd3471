"""Recommend a model tier for a task from a store's history, and the policy that chooses.

Built on the repository protocol (`search_per_tier`, `outcome_counts`), so every store
gives the same numbers for the same rows; the fake is the reference. A store that
declares `NeighbourOutcomes` (DuckDB, whose vector index keeps each row's outcome) answers
the neighbour search itself, without building records.
"""

from __future__ import annotations

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
    every tier in the history). With `min_success`, the cheapest tier expected to reach it.
    """

    repo: str | None = None
    task_type: str | None = None
    tiers: Sequence[str] | None = None
    min_success: float | None = None
    days_back: int = 90
    complexity_score: float | None = None

    def __post_init__(self) -> None:
        if self.min_success is not None and not 0 <= self.min_success <= 1:
            raise ValueError(f"min_success must be between 0 and 1, got {self.min_success}")


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
        )
        for tier in candidates
    ]
    return choose(estimates, asked.min_success)


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


def choose(estimates: list[TierEstimate], min_success: float | None) -> TierRecommendation:
    """The policy that turns estimates into one tier.

    Without `min_success`: the highest expected success, the cheaper tier winning ties
    within `TIE`. With it: the cheapest tier expected to reach it, else the likeliest.
    """
    best_rate = max(item.success_rate for item in estimates)
    contenders = [item for item in estimates if item.success_rate >= best_rate - TIE]
    likeliest = min(contenders, key=lambda item: (item.avg_cost, -item.success_rate, item.tier))
    if min_success is None:
        tied = (
            " and is the cheapest of the tiers within one point of it"
            if len(contenders) > 1
            else ""
        )
        return TierRecommendation(
            likeliest.tier,
            estimates,
            f"{likeliest.tier} has the highest expected success ({_said(likeliest)}){tied}.",
        )
    enough = [item for item in estimates if item.success_rate >= min_success]
    if enough:
        cheapest = min(enough, key=lambda item: (item.avg_cost, -item.success_rate, item.tier))
        return TierRecommendation(
            cheapest.tier,
            estimates,
            f"{cheapest.tier} is the cheapest "
            f"tier expected to succeed at least {min_success:.0%} of the "
            f"time ({_said(cheapest)}).",
        )
    return TierRecommendation(
        likeliest.tier,
        estimates,
        f"No tier is expected to succeed "
        f"{min_success:.0%} of the time; {likeliest.tier} comes closest "
        f"({_said(likeliest)}).",
    )


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
