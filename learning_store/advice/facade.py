"""`LearningDatabase`'s routing-advice calls: recommend a tier, and evaluate the advice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from learning_store import demo_data
from learning_store.advice.evaluation import Evaluation, evaluate
from learning_store.embeddings import Embedder
from learning_store.errors import EmbeddingsUnavailableError
from learning_store.results import TierRecommendation

if TYPE_CHECKING:
    from learning_store.service import LearningDatabase


class AdviceApi:
    """Mixin for `LearningDatabase`: routing advice on top of its store and embedder."""

    __slots__ = ()

    async def recommend_tier(
        self: LearningDatabase,
        task_description: str,
        *,
        repo: str | None = None,
        task_type: str | None = None,
        tiers: Sequence[str] | None = None,
        min_success: float | None = None,
        days_back: int = 90,
        complexity_score: float | None = None,
    ) -> TierRecommendation:
        """Which tier should run this task, with an estimate for every candidate tier.

        `complexity_score` (the router's own estimate, 0-100) sharpens the estimates when
        given: past executions of similar complexity weigh more.
        """
        repository, embedder = self.repository, _embedder_of(self)

        def recommend() -> TierRecommendation:
            self._check_model(repository)
            query = embedder.embed([task_description])[0]
            return repository.recommend_tier(
                query,
                repo=repo,
                task_type=task_type,
                tiers=tiers,
                min_success=min_success,
                days_back=days_back,
                complexity_score=complexity_score,
            )

        return await self._run(recommend)

    async def evaluate_advice(self: LearningDatabase, days: int = 30) -> Evaluation:
        """Replay the last `days` days and score the estimates (see `advice.evaluation`).

        On the demo's data, whose generator knows each task's true chances, the report also
        gives the regret of the recommendations.
        """
        repository, embedder = self.repository, _embedder_of(self)

        def replay() -> Evaluation:
            self._check_model(repository)
            since = datetime.now(UTC) - timedelta(days=days)
            records = [r for chunk in repository.iter_chunks(since=since) for r in chunk]
            demo = bool(records) and all(r.metadata.get("demo") is True for r in records)
            truth = demo_data.true_success_probability if demo else None
            return evaluate(records, embedder.embed, true_success=truth)

        return await self._run(replay)


def _embedder_of(db: LearningDatabase) -> Embedder:
    if db.embedder is None:
        raise EmbeddingsUnavailableError(
            "Routing advice looks up similar tasks, which needs embeddings; they are disabled "
            "(LEARNING_STORE_EMBEDDINGS_ENABLED=false)."
        )
    return db.embedder
