"""The façade's routing advice: embed the task, then ask the advice layer.

On the demo's data, whose generator knows each task's true chances, the evaluation also
gives the regret of the recommendations (`demo_data.true_success_probability`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from learning_store import demo_data
from learning_store.advice import (
    AdviceRequest,
    Evaluation,
    FitReport,
    evaluate,
    fit_advice,
    fitted_parameters,
    recommend_tier,
)
from learning_store.embeddings import Embedder
from learning_store.errors import EmbeddingsUnavailableError
from learning_store.repository import ExecutionRepository
from learning_store.results import TierRecommendation


def recommend(
    repository: ExecutionRepository,
    embedder: Embedder,
    task_description: str,
    request: AdviceRequest,
) -> TierRecommendation:
    """The tier to run this task on (blocking: the model and the store)."""
    return recommend_tier(repository, embedder.embed([task_description])[0], request)


def evaluate_history(
    repository: ExecutionRepository, embedder: Embedder, days: int, curve: bool = False
) -> Evaluation:
    """Replay the last `days` days and score the estimates (see `advice.evaluation`)."""
    since = datetime.now(UTC) - timedelta(days=days)
    records = [record for chunk in repository.iter_chunks(since=since) for record in chunk]
    demo = bool(records) and all(record.metadata.get("demo") is True for record in records)
    truth = demo_data.true_success_probability if demo else None
    return evaluate(
        records,
        embedder.embed,
        true_success=truth,
        fit=fitted_parameters(repository),
        curve=curve,
    )


def fit(repository: ExecutionRepository, embedder: Embedder, days: int) -> FitReport | None:
    """Fit the estimator to the last `days` days and keep it in the store."""
    return fit_advice(repository, embedder.embed, days_back=days)


def required(embedder: Embedder | None) -> Embedder:
    """The embedder advice needs, or the error that says why there is none."""
    if embedder is None:
        raise EmbeddingsUnavailableError(
            "Routing advice looks up similar tasks, which needs embeddings; they are disabled "
            "(LEARNING_STORE_EMBEDDINGS_ENABLED=false)."
        )
    return embedder
