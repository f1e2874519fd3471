"""Fit the estimator's prior strength and recency half-life to a store's own history.

A sample of recent executions is predicted from the executions *before* each one (its
tier's neighbours, looked up by its description alone, as a router asks), and the pair
of parameters with the highest likelihood of the outcomes that happened wins. The result
is kept in the store (`learning_store_settings`, key `advice_fit`), so every process
that asks for advice on this store uses it; `fitted_parameters` reads it, cached.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from learning_store.advice.estimator import AdviceFit, Priors, estimate
from learning_store.results import Neighbour

FIT_SETTING = "advice_fit"
PRIOR_STRENGTHS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
HALF_LIVES: tuple[float | None, ...] = (None, 3.0, 7.0, 14.0, 30.0, 90.0)
FIT_SAMPLE = 400
"""Executions predicted per fit: enough to separate the grid's likelihoods, a few seconds."""
FIT_TTL_SECONDS = 60.0
"""How long a process trusts the fit it read before reading it again."""
NEIGHBOURS_FOR_FIT = 200
"""Neighbours read per sampled execution; later ones are dropped, so read more than 100."""
CLIP = 1e-6

Embed = Callable[[Sequence[str]], Any]
SimilarOutcomes = Callable[[Any, datetime], dict[str, list[Neighbour]]]


@dataclass(frozen=True)
class FitReport:
    """The parameters chosen, and the log loss they reach against the defaults'."""

    fit: AdviceFit
    executions: int
    log_loss: float
    default_log_loss: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            **self.fit.to_dict(),
            "executions": self.executions,
            "log_loss": self.log_loss,
            "default_log_loss": self.default_log_loss,
        }


def fit_parameters(
    repository: Any,
    embed: Embed,
    similar: SimilarOutcomes,
    priors: Priors,
    *,
    repo: str | None = None,
    days_back: int = 90,
    sample: int = FIT_SAMPLE,
    seed: int = 0,
) -> FitReport | None:
    """Fit and store the parameters; None when the history is too small to say (< 50).

    `similar(query_embedding, now)` is the neighbour search `recommend_tier` uses.
    """
    now = datetime.now(UTC)
    records = [
        record
        for chunk in repository.iter_chunks(since=now - timedelta(days=days_back), repo=repo)
        for record in chunk
    ]
    if len(records) < 50:
        return None
    chosen = random.Random(seed).sample(records, min(sample, len(records)))
    queries = embed([record.task_description for record in chosen])
    cases = []
    for record, query in zip(chosen, queries, strict=True):
        age = (now - record.timestamp).total_seconds() / 86_400
        found = similar(query, now).get(record.model_tier, [])
        earlier = [
            replace(item, age_days=item.age_days - age)
            for item in found
            if item.age_days > age and item.task_id != record.task_id
        ]
        cases.append((record, earlier))
    scored = []
    for strength in PRIOR_STRENGTHS:
        for half_life in HALF_LIVES:
            candidate = AdviceFit(strength, half_life)
            scored.append((_log_loss(cases, priors, candidate), candidate))
    best_loss, best = min(scored, key=lambda item: item[0])
    report = FitReport(best, len(cases), best_loss, _log_loss(cases, priors, AdviceFit()))
    repository.write_setting(FIT_SETTING, json.dumps(report.to_dict()))
    _remember(repository, best)
    return report


def fitted_parameters(repository: Any) -> AdviceFit:
    """The store's fitted parameters, or the defaults when it was never fitted."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(repository)
    if cached is not None and now - cached[0] < FIT_TTL_SECONDS:
        return cached[1]
    fit = AdviceFit()
    reader = getattr(repository, "read_setting", None)
    raw = reader(FIT_SETTING) if reader is not None else None
    if raw:
        try:
            saved = json.loads(raw)
            fit = AdviceFit(
                float(saved["prior_strength"]),
                None if saved["half_life_days"] is None else float(saved["half_life_days"]),
                float(saved["rank_scale"]),
            )
        except (ValueError, KeyError, TypeError):
            pass  # another tool wrote something else: the defaults, until the next fit
    _remember(repository, fit)
    return fit


def _log_loss(cases: list[tuple[Any, list[Neighbour]]], priors: Priors, fit: AdviceFit) -> float:
    total = 0.0
    for record, earlier in cases:
        predicted = estimate(
            record.model_tier,
            earlier,
            priors,
            task_type=record.task_type,
            complexity=record.complexity_score,
            fit=fit,
        ).success_rate
        clipped = min(max(predicted, CLIP), 1 - CLIP)
        total -= math.log(clipped if record.success else 1 - clipped)
    return total / max(len(cases), 1)


_cache: weakref.WeakKeyDictionary[Any, tuple[float, AdviceFit]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _remember(repository: Any, fit: AdviceFit) -> None:
    with _lock:
        _cache[repository] = (time.monotonic(), fit)
