"""Replay the history in time order and score the estimates against two baselines.

Each execution's success on the tier it actually ran on is predicted from *earlier*
executions only, with the same estimator `recommend_tier` uses, and by two baselines
computed the same way: the tier's overall success rate and the tier's rate for the task
type (both with one pseudo-success and one pseudo-failure). Each task is looked up by its
description and, since a router knows it before the task runs, its complexity score.
Replay cost grows with the square of the executions replayed; `days` bounds it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from learning_store.advice.curve import CostCurve, Decision, cost_curve
from learning_store.advice.estimator import AdviceFit, Priors, Tally, estimate
from learning_store.advice.recommend import NEIGHBOURS, choose
from learning_store.analytics import cost_of
from learning_store.models import EMBEDDING_DIMENSION, ExecutionRecord
from learning_store.results import Neighbour

TrueSuccess = Callable[[ExecutionRecord, str], float]
"""A task's true probability of success on a tier, where a generator knows it."""
CLIP = 1e-6


@dataclass
class Scores:
    """Brier score and log loss of one predictor (lower is better)."""

    brier: float = 0.0
    log_loss: float = 0.0
    count: int = 0

    def add(self, predicted: float, success: bool) -> None:
        """Score one prediction."""
        clipped = min(max(predicted, CLIP), 1 - CLIP)
        self.brier += (predicted - success) ** 2
        self.log_loss -= math.log(clipped if success else 1 - clipped)
        self.count += 1

    def summary(self) -> dict[str, float]:
        """Mean Brier score and log loss."""
        n = max(self.count, 1)
        return {"brier": self.brier / n, "log_loss": self.log_loss / n}


@dataclass(frozen=True)
class CalibrationBin:
    """Executions whose predicted success fell in [low, high), and how often they succeeded."""

    low: float
    high: float
    count: int
    predicted: float
    observed: float


@dataclass
class Evaluation:
    """The outcome of a replay."""

    executions: int = 0
    ours: Scores = field(default_factory=Scores)
    tier_baseline: Scores = field(default_factory=Scores)
    type_baseline: Scores = field(default_factory=Scores)
    calibration: list[CalibrationBin] = field(default_factory=list)
    agreement: float = 0.0
    """Share of executions whose recommended tier is the one the router used."""
    regret: float | None = None
    """Mean true-success gap between the best tier and ours (only where truth is known)."""
    curve: CostCurve | None = None
    """Success against cost as `cost_weight` sweeps (`evaluate(..., curve=True)`)."""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "executions": self.executions,
            "ours": self.ours.summary(),
            "tier_baseline": self.tier_baseline.summary(),
            "task_type_baseline": self.type_baseline.summary(),
            "calibration": [vars(item) for item in self.calibration],
            "agreement": self.agreement,
            "regret": self.regret,
            **({"curve": self.curve.to_dict()} if self.curve is not None else {}),
        }


class _History:
    """Earlier executions that have an embedding: unit vectors and their records."""

    def __init__(self, capacity: int) -> None:
        self.vectors = np.zeros((max(capacity, 1), EMBEDDING_DIMENSION), dtype=np.float32)
        self.tier_codes = np.zeros(max(capacity, 1), dtype=np.int32)
        self.records: list[ExecutionRecord] = []
        self.codes: dict[str, int] = {}

    def add(self, record: ExecutionRecord) -> None:
        """Remember an execution once it is in the past."""
        if record.embedding is None:
            return
        norm = float(np.linalg.norm(record.embedding.array))
        if norm > 0:
            row = len(self.records)
            self.vectors[row] = record.embedding.array / norm
            self.tier_codes[row] = self.codes.setdefault(record.model_tier, len(self.codes))
            self.records.append(record)

    def neighbours(
        self, record: ExecutionRecord, query: np.ndarray, days_back: int
    ) -> list[Neighbour]:
        """The earlier executions most similar to `query` (as `recommend_tier` reads them)."""
        size = len(self.records)
        if size == 0:
            return []
        scores = self.vectors[:size] @ (query / max(float(np.linalg.norm(query)), 1e-12))
        tiers = self.tier_codes[:size]
        found = []
        for code in self.codes.values():  # each tier's own nearest, as recommend_tier reads them
            ours = tiers == code
            mine = np.where(ours, scores, -np.inf)
            take = min(NEIGHBOURS, int(ours.sum()))
            found += self._near(record, mine, np.argpartition(-mine, take - 1)[:take], days_back)
        return found

    def _near(
        self, record: ExecutionRecord, scores: np.ndarray, rows: np.ndarray, days_back: int
    ) -> list[Neighbour]:
        found = []
        for row in rows:
            similarity, past = float(scores[row]), self.records[row]
            age = (record.timestamp - past.timestamp).total_seconds() / 86_400
            if similarity > 0 and age <= days_back:
                found.append(
                    Neighbour(
                        past.model_tier,
                        similarity,
                        max(age, 0.0),
                        past.success,
                        cost_of(past),
                        past.duration_seconds,
                        past.quality_score,
                        past.complexity_score,
                    )
                )
        return found


def evaluate(
    records: Iterable[ExecutionRecord],
    embed: Callable[[Sequence[str]], Any],
    *,
    days_back: int = 90,
    use_complexity: bool = True,
    true_success: TrueSuccess | None = None,
    fit: AdviceFit | None = None,
    curve: bool = False,
) -> Evaluation:
    """Replay `records` (oldest first) and score every prediction; see the module doc.

    Each task is looked up by the embedding of its description alone, as a router asks
    before the task runs.
    """
    ordered = list(records)
    queries = np.asarray(embed([record.task_description for record in ordered]), np.float32)
    history = _History(len(ordered))
    priors = Priors()
    result = Evaluation()
    predictions: list[tuple[float, bool]] = []
    agreed = 0
    regret_sum, regret_count = 0.0, 0
    decisions: list[Decision] = []
    for record, query in zip(ordered, queries, strict=True):
        neighbours = history.neighbours(record, query, days_back)
        complexity = record.complexity_score if use_complexity else None
        candidates = priors.tiers or [record.model_tier]
        if record.model_tier not in candidates:
            candidates = [*candidates, record.model_tier]
        estimates = [
            estimate(
                tier,
                [n for n in neighbours if n.tier == tier],
                priors,
                task_type=record.task_type,
                complexity=complexity,
                fit=fit,
            )
            for tier in candidates
        ]
        mine = next(item for item in estimates if item.tier == record.model_tier)
        result.ours.add(mine.success_rate, record.success)
        tier = priors.by_tier.get(record.model_tier)
        kind = priors.by_tier_type.get((record.model_tier, record.task_type))
        result.tier_baseline.add(_laplace(tier), record.success)
        result.type_baseline.add(_laplace(kind), record.success)
        predictions.append((mine.success_rate, record.success))
        chosen = choose(estimates, None).tier
        agreed += chosen == record.model_tier
        truth = None
        if true_success is not None:
            truth = {tier: true_success(record, tier) for tier in candidates}
            regret_sum += max(truth.values()) - truth[chosen]
            regret_count += 1
        if curve:
            decisions.append((estimates, truth))
        priors.add(
            record.model_tier,
            record.task_type,
            record.success,
            cost_of(record),
            record.duration_seconds,
            record.quality_score,
        )
        history.add(record)
    result.executions = len(ordered)
    result.calibration = calibration(predictions)
    result.agreement = agreed / max(len(ordered), 1)
    result.regret = regret_sum / regret_count if regret_count else None
    result.curve = cost_curve(decisions) if curve else None
    return result


def calibration(predictions: list[tuple[float, bool]], bins: int = 10) -> list[CalibrationBin]:
    """Predicted against observed success in `bins` equal-width bins (empty bins left out)."""
    table = []
    for number in range(bins):
        low, high = number / bins, (number + 1) / bins
        inside = [(p, s) for p, s in predictions if low <= p < high or (high == 1 and p == 1)]
        if inside:
            table.append(
                CalibrationBin(
                    low,
                    high,
                    len(inside),
                    sum(p for p, _ in inside) / len(inside),
                    sum(s for _, s in inside) / len(inside),
                )
            )
    return table


def _laplace(tally: Tally | None) -> float:
    """A baseline's rate: one pseudo-success and one pseudo-failure (0.5 with no history)."""
    if tally is None:
        return 0.5
    return (tally.successes + 1) / (tally.total + 2)
