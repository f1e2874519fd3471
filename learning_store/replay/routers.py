"""Routers that score test questions: our advice through a real store, and baselines.

Every router gets the same history (one outcome per question, on a random tier) and the
same question embeddings; a higher score sends a question to the strong tier sooner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from learning_store.advice import AdviceRequest, recommend_tier
from learning_store.repository import ExecutionRepository

KNN_NEIGHBOURS = 100
LOGISTIC_L2 = 1.0
"""Ridge penalty of the logistic baseline (scikit-learn's default C = 1)."""
NEWTON_STEPS = 25


def advice_scores(
    repository: ExecutionRepository,
    queries: np.ndarray,
    tiers: tuple[str, str],
    task_types: Sequence[str | None],
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """`recommend_tier`'s expected success on the strong tier less that on the weak one."""
    weak, strong = tiers
    scores = np.empty(len(queries))
    for row, (query, task_type) in enumerate(zip(queries, task_types, strict=True)):
        request = AdviceRequest(task_type=task_type, tiers=list(tiers), days_back=36_500)
        advice = recommend_tier(repository, query, request)
        scores[row] = (
            advice.estimate_for(strong).success_rate - advice.estimate_for(weak).success_rate
        )
        if progress is not None:
            progress(row + 1)
    return scores


def knn_scores(
    history: np.ndarray, on_strong: np.ndarray, success: np.ndarray, queries: np.ndarray
) -> np.ndarray:
    """Mean success of each tier's 100 nearest past questions: strong's less weak's."""
    means = []
    for tier in (False, True):
        vectors, outcomes = history[on_strong == tier], success[on_strong == tier]
        take = min(KNN_NEIGHBOURS, len(outcomes))
        scores = queries @ vectors.T
        nearest = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        means.append(outcomes[nearest].mean(axis=1))
    return means[1] - means[0]


def logistic_scores(
    history: np.ndarray, on_strong: np.ndarray, success: np.ndarray, queries: np.ndarray
) -> np.ndarray:
    """A per-tier L2 logistic regression on the embedding: strong's chance less weak's."""
    chances = []
    for tier in (False, True):
        weights = _fit_logistic(history[on_strong == tier], success[on_strong == tier])
        chances.append(_sigmoid(_with_bias(queries) @ weights))
    return chances[1] - chances[0]


def random_scores(count: int, seed: int) -> np.ndarray:
    """A router that flips coins (APGR about 0.5)."""
    return np.random.default_rng(seed + 1).random(count)


def group_oracle_scores(
    groups: Sequence[str], weak: np.ndarray, strong: np.ndarray, test: np.ndarray
) -> np.ndarray:
    """Each test question scored by its group's true gain over the whole eval set."""
    labels = np.asarray(groups)
    gain = {
        group: float(strong[labels == group].mean() - weak[labels == group].mean())
        for group in set(labels[test].tolist())
    }
    return np.array([gain[label] for label in labels[test].tolist()])


def _fit_logistic(features: np.ndarray, outcomes: np.ndarray) -> np.ndarray:
    """Newton's method on the penalised log likelihood (the bias is not penalised)."""
    design = _with_bias(features).astype(np.float64)
    target = outcomes.astype(np.float64)
    penalty = np.full(design.shape[1], LOGISTIC_L2)
    penalty[0] = 0.0
    weights = np.zeros(design.shape[1])
    for _ in range(NEWTON_STEPS):
        chance = _sigmoid(design @ weights)
        gradient = design.T @ (chance - target) + penalty * weights
        hessian = (design * (chance * (1 - chance))[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if float(np.abs(step).max()) < 1e-6:
            break
    return weights


def _with_bias(features: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((len(features), 1), dtype=features.dtype), features])


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -40, 40)))
