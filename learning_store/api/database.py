"""`LearningDatabase`: the async API orchestrators call; embeds, validates and delegates.

Blocking work (SQL, the model) runs in worker threads, so the event loop keeps serving
while a batch is stored; the repository and embedder are safe to share between threads.
The class is composed, not assembled from mixins: batch writes go to an `EmbeddingWriter`
(`api.writes`), routing advice to `api.advice`, and the original system's documented
calls return the typed results' documented dicts (`api.original`).
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import pyarrow as pa

from learning_store import bootstrap
from learning_store.advice import AdviceRequest, Evaluation, FitReport
from learning_store.api import advice
from learning_store.api.model_guard import ModelGuard, model_name_of, with_overrides
from learning_store.api.original import (
    SOLUTION_PATTERN_DAYS,
    as_dicts,
    cleanup_cutoff,
    cleanup_summary,
)
from learning_store.api.writes import ARROW_WINDOW, EmbeddingWriter
from learning_store.archive import PruneResult, prune
from learning_store.config import LearningConfig
from learning_store.embeddings import Embedder
from learning_store.errors import (
    ConfigurationError,
    EmbeddingsUnavailableError,
    InitializationError,
    LearningStoreError,
    NotInitializedError,
)
from learning_store.feedback import Feedback
from learning_store.models import EMBEDDING_DIMENSION, ExecutionRecord
from learning_store.reembedding import (
    DEFAULT_BATCH_ROWS,
    Progress,
    ReembedResult,
    reembed,
)
from learning_store.repository import ExecutionRepository, RecordInput
from learning_store.repository.base import KeepsVectorIndex, SimilarityQuery
from learning_store.repository.batching import (
    arrow_chunks,
    to_record,
)
from learning_store.results import (
    BatchResult,
    FeedbackResult,
    PoolPerformance,
    SimilarExecution,
    SolutionPattern,
    StoreStats,
    TierPerformance,
    TierRecommendation,
)
from learning_store.timings import DurationHistogram

T = TypeVar("T")


class LearningDatabase:
    """Store executions and ask what happened to similar tasks before.

    With no `repository`, `initialize()` opens the store named by `database_path` (a DuckDB
    file, or ":memory:") or by `config.database_url`; with no `embedder`, it builds the one
    the config names. `embedding_model` and `pool_size` override those settings (the pool
    is PostgreSQL's; a DuckDB file has one writer and keeps its own two connections).
    Objects handed in are the caller's to close; objects built here are closed by `close()`.
    The original system's documented calls (`find_similar_executions`, `get_*`,
    `cleanup_old_executions`) return plain dicts; see `learning_store.api.original`.
    """

    def __init__(
        self,
        database_path: str | Path | None = None,
        embedding_model: str | None = None,
        pool_size: int | None = None,
        *,
        repository: ExecutionRepository | None = None,
        embedder: Embedder | None = None,
        config: LearningConfig | None = None,
    ) -> None:
        self.config = with_overrides(
            config or LearningConfig(), embedding_model=embedding_model, pool_size=pool_size
        )
        self._database_path = database_path
        self._repository = repository
        self._embedder = embedder
        self._owns_repository = repository is None
        self._model = ModelGuard(
            self.config.embedding_model if embedder is None else model_name_of(embedder)
        )
        self._writer = EmbeddingWriter(embedder, self._model.check)
        self.search_seconds = DurationHistogram()
        """How long each `find_similar` took, embedding included (for metrics)."""
        self._initialized = False
        self._init_lock = asyncio.Lock()

    # Lifecycle --------------------------------------------------------------------------

    async def initialize(self) -> None:
        """Open the store and prepare the embedder (idempotent).

        Raises:
            LearningStoreError: (a `RuntimeError`) the store or the embedder cannot be used;
                the subclass says why, for example `SchemaOutOfDateError`.
        """
        async with self._init_lock:
            if self._initialized:
                return
            try:
                await self._open()
            except LearningStoreError:
                raise
            except Exception as exc:
                raise InitializationError(
                    f"LearningDatabase could not be initialized: {type(exc).__name__}: {exc}"
                ) from exc
            self._initialized = True

    async def _open(self) -> None:
        if self._repository is None:
            self._repository = await asyncio.to_thread(
                bootstrap.build_repository, self._database_path, self.config
            )
        if isinstance(self._repository, KeepsVectorIndex):  # the first search pays nothing
            await asyncio.to_thread(self._repository.load_vector_index, wait=True)
        if self._embedder is None:
            self._embedder = bootstrap.build_embedder(self.config)
            self._writer = EmbeddingWriter(self._embedder, self._model.check)
        if self._embedder is not None and self._embedder.dimension != EMBEDDING_DIMENSION:
            raise ConfigurationError(
                f"The embedding model gives {self._embedder.dimension}-number vectors but "
                f"the store keeps {EMBEDDING_DIMENSION}: choose a {EMBEDDING_DIMENSION}-"
                "dimension model with LEARNING_STORE_EMBEDDING_MODEL."
            )

    async def close(self) -> None:
        """Close the store if this object opened it (idempotent)."""
        if self._initialized and self._owns_repository and self._repository is not None:
            await asyncio.to_thread(self._repository.close)
            self._repository = None
        self._initialized = False

    async def __aenter__(self) -> Self:
        await self.initialize()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def repository(self) -> ExecutionRepository:
        """The store in use (after `initialize`)."""
        if not self._initialized or self._repository is None:
            raise NotInitializedError(
                "LearningDatabase is not initialized: call `await db.initialize()` first "
                "(or use `async with LearningDatabase(...) as db`)."
            )
        return self._repository

    @property
    def embedder(self) -> Embedder | None:
        """The embedder in use, or None when embeddings are disabled."""
        return self._embedder

    # Writes -----------------------------------------------------------------------------

    async def store_execution(self, record: RecordInput) -> bool:
        """Store one execution; False when its task_id is already stored.

        Raises:
            pydantic.ValidationError: the record breaks a rule (the message names the field).
        """
        repository = self.repository

        def store() -> bool:
            embedded = self._writer.embedded([to_record(record)], repository, skip_stored=False)
            return repository.add(embedded[0])

        return await self._run(store)

    async def store_executions_batch(self, records: Iterable[RecordInput]) -> int:
        """Store many executions, embedding them in batches; return how many were stored.

        Bad rows are skipped and duplicates ignored; `store_batch` reports both.
        """
        return (await self.store_batch(records)).stored

    async def store_batch(self, records: Iterable[RecordInput]) -> BatchResult:
        """Store many executions and report stored, duplicate and rejected rows (by index)."""
        repository = self.repository
        return await self._run(lambda: self._writer.store_batch(repository, records))

    async def store_arrow(
        self,
        batches: Iterable[pa.RecordBatch | pa.Table],
        *,
        rows_per_transaction: int = ARROW_WINDOW,
    ) -> BatchResult:
        """Store rows given as Arrow batches (a file's), embedding those without one.

        Same rules and result as `store_batch` of the same rows; null means "not given",
        and rejected indexes count rows across the batches. Each window of up to
        `rows_per_transaction` rows is one write transaction (a `ValidBatch` is written
        as made).
        """
        repository = self.repository
        valid = arrow_chunks(batches, rows_per_transaction)

        def store() -> BatchResult:
            if isinstance(repository, KeepsVectorIndex):  # bulk rows go straight into it
                repository.load_vector_index(wait=True)
            return self._writer.store_valid(repository, valid)

        return await self._run(store)  # one hop: the write starts as soon as it is asked

    async def record_feedback(
        self, task_id: Any, *, accepted: bool | None = None, rating: int | None = None
    ) -> bool:
        """Set a stored execution's user feedback; False when the task_id is unknown.

        Raises:
            ValueError: the rating is not 1-5, or neither value is given.
        """
        repository = self.repository
        return await self._run(
            lambda: repository.record_feedback(task_id, accepted=accepted, rating=rating)
        )

    async def record_feedback_many(
        self, items: Iterable[Feedback | Mapping[str, Any]]
    ) -> FeedbackResult:
        """Feedback for many executions: updated count, unknown task_ids, rejected items."""
        repository = self.repository
        return await self._run(lambda: repository.record_feedback_many(items))

    async def prune(self, cutoff: datetime, archive_dir: Path | None = None) -> PruneResult:
        """Delete executions older than `cutoff`, first archiving them to Parquet if asked."""
        repository = self.repository
        return await self._run(lambda: prune(repository, cutoff, archive_dir))

    # Reads ------------------------------------------------------------------------------

    async def find_similar(
        self,
        task_description: str,
        repo: str | None = None,
        limit: int = 10,
        days_back: int = 90,
        threshold: float = 0.7,
        *,
        exact: bool = False,
    ) -> builtins.list[SimilarExecution]:
        """Past executions most similar to `task_description`, best first.

        `exact=True` compares every candidate instead of asking the store's ANN index.

        Raises:
            EmbeddingsUnavailableError: embeddings are disabled in the configuration.
        """
        repository, embedder = self.repository, self._embedder
        if embedder is None:
            raise EmbeddingsUnavailableError(
                "Semantic search needs embeddings, which are disabled "
                "(LEARNING_STORE_EMBEDDINGS_ENABLED=false). Enable them, or pass an embedder "
                "to LearningDatabase; executions stored meanwhile have no embedding."
            )

        def search() -> builtins.list[SimilarExecution]:
            started = time.perf_counter()
            self._model.check(repository)
            embedding = embedder.embed([task_description])[0]
            found = repository.search(
                SimilarityQuery(embedding, repo, limit, days_back, threshold, exact)
            )
            self.search_seconds.observe(time.perf_counter() - started)
            return found

        return await self._run(search)

    async def tier_performance(
        self, repo: str | None = None, days_back: int = 30
    ) -> builtins.list[TierPerformance]:
        """Per repo, model tier, task type and UTC day (see `ExecutionRepository`)."""
        repository = self.repository
        return await self._run(lambda: repository.tier_performance(repo=repo, days_back=days_back))

    async def pool_performance(
        self, repo: str | None = None, days_back: int = 7
    ) -> builtins.list[PoolPerformance]:
        """Per pool type, repo and UTC hour (see `ExecutionRepository`)."""
        repository = self.repository
        return await self._run(lambda: repository.pool_performance(repo=repo, days_back=days_back))

    async def solution_patterns(
        self,
        repo: str | None = None,
        min_usage: int = 5,
        limit: int = 10,
        days_back: int = SOLUTION_PATTERN_DAYS,
    ) -> builtins.list[SolutionPattern]:
        """Recurring solution summaries of the last `days_back` days, best success rate first."""
        repository = self.repository
        return await self._run(
            lambda: repository.solution_patterns(
                repo=repo, min_usage=min_usage, limit=limit, days_back=days_back
            )
        )

    async def reembed(
        self,
        *,
        where_missing: bool = False,
        model: str | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        on_progress: Progress | None = None,
    ) -> ReembedResult:
        """Recompute embeddings: rows without one, or every row with `model` (default: ours).

        Resumable: a run killed part-way resumes after its last finished batch. Once every
        row has `model`'s vectors, the store records `model`; a process using another model
        then gets `EmbeddingModelMismatchError` instead of meaningless scores.
        """
        repository, target = self.repository, model or self.config.embedding_model
        embedder = self._embedder
        if embedder is None or target != self._model.model_name:
            embedder = bootstrap.build_embedder(with_overrides(self.config, embedding_model=target))
        if embedder is None:
            raise EmbeddingsUnavailableError(
                "Re-embedding needs embeddings, which are disabled "
                "(LEARNING_STORE_EMBEDDINGS_ENABLED=false)."
            )
        result = await self._run(
            lambda: reembed(
                repository,
                embedder,
                target,
                where_missing=where_missing,
                batch_rows=batch_rows,
                on_progress=on_progress,
            )
        )
        self._model.forget()
        return result

    async def get(self, task_id: Any) -> ExecutionRecord | None:
        """The stored execution with this task_id, or None."""
        repository = self.repository
        return await self._run(lambda: repository.get(task_id))

    async def get_stats(self) -> StoreStats:
        """Row count, time span, rows per repo, rows without embedding, size on disk."""
        return await self._run(self.repository.stats)

    # Routing advice (see `learning_store.advice`) ---------------------------------------

    async def recommend_tier(
        self,
        task_description: str,
        *,
        repo: str | None = None,
        task_type: str | None = None,
        tiers: Sequence[str] | None = None,
        min_success: float | None = None,
        days_back: int = 90,
        complexity_score: float | None = None,
        max_cost: float | None = None,
        cost_weight: float | None = None,
    ) -> TierRecommendation:
        """Which tier should run this task, with an estimate for every candidate tier.

        `complexity_score` (the router's own estimate, 0-100) sharpens the estimates when
        given: past executions of similar complexity weigh more. `max_cost` leaves out
        tiers not known to cost at most that; `min_success` asks for the cheapest tier
        expected to reach it, `cost_weight` for the best expected success less
        `cost_weight` x cost (see `advice.recommend.choose`).
        """
        request = AdviceRequest(
            repo,
            task_type,
            tiers,
            min_success,
            days_back,
            complexity_score,
            max_cost,
            cost_weight,
        )
        repository, embedder = self.repository, advice.required(self._embedder)

        def recommend() -> TierRecommendation:
            self._model.check(repository)
            return advice.recommend(repository, embedder, task_description, request)

        return await self._run(recommend)

    async def evaluate_advice(self, days: int = 30, *, curve: bool = False) -> Evaluation:
        """Replay the last `days` days and score the estimates (see `advice.evaluation`).

        On the demo's data, whose generator knows each task's true chances, the report also
        gives the regret of the recommendations. `curve` adds success against mean cost as
        the policy's cost weight sweeps (`advice.curve`).
        """
        repository, embedder = self.repository, advice.required(self._embedder)

        def replay() -> Evaluation:
            self._model.check(repository)
            return advice.evaluate_history(repository, embedder, days, curve)

        return await self._run(replay)

    async def fit_advice(self, days: int = 90) -> FitReport | None:
        """Fit the advice's prior strength and recency to the last `days` days of history.

        The fit is kept in the store, so every process advising on it uses it. Returns
        None when fewer than 50 executions are stored in that window.
        """
        repository, embedder = self.repository, advice.required(self._embedder)

        def fitting() -> FitReport | None:
            self._model.check(repository)
            return advice.fit(repository, embedder, days)

        return await self._run(fitting)

    # The original system's documented calls: plain, JSON-ready dicts --------------------

    async def find_similar_executions(
        self,
        task_description: str,
        repo: str | None = None,
        limit: int = 10,
        days_back: int = 90,
        threshold: float = 0.7,
    ) -> builtins.list[dict[str, Any]]:
        """Past executions like this task, best first, as dicts ending in `similarity`."""
        return as_dicts(
            await self.find_similar(task_description, repo, limit, days_back, threshold)
        )

    async def get_tier_performance(
        self, repo: str | None = None, days_back: int = 30
    ) -> builtins.list[dict[str, Any]]:
        """Rows of `tier_performance_mv`: per repo, tier, task type and UTC day."""
        return as_dicts(await self.tier_performance(repo, days_back))

    async def get_pool_performance(
        self, repo: str | None = None, days_back: int = 7
    ) -> builtins.list[dict[str, Any]]:
        """Rows of `pool_performance_mv`: per pool, repo and UTC hour."""
        return as_dicts(await self.pool_performance(repo, days_back))

    async def get_solution_patterns(
        self, repo: str | None = None, min_usage: int = 5, limit: int = 10
    ) -> builtins.list[dict[str, Any]]:
        """Rows of `solution_patterns_mv`: summaries used `min_usage`+ times in 90 days."""
        return as_dicts(await self.solution_patterns(repo, min_usage, limit, SOLUTION_PATTERN_DAYS))

    async def cleanup_old_executions(
        self, days_to_keep: int = 90, archive_path: str | Path | None = None
    ) -> dict[str, int]:
        """Delete executions older than `days_to_keep` days, archiving them first if asked.

        With `archive_path`, rows go to verified ZSTD Parquet files (one per UTC day) and
        only rows that read back are deleted. Returns `deleted_count`, `days_cleaned` (the
        age in days past which rows were removed) and, when archiving, `archived_count`.
        """
        archive_dir = None if archive_path is None else Path(archive_path)
        result = await self.prune(cleanup_cutoff(days_to_keep), archive_dir)
        return cleanup_summary(result, days_to_keep, archived=archive_dir is not None)

    async def _run(self, work: Callable[[], T]) -> T:
        """Run blocking work in a worker thread so the event loop stays responsive."""
        return await asyncio.to_thread(work)

    def __repr__(self) -> str:
        where = getattr(self._repository, "url", None) or self._database_path or "not opened"
        return f"LearningDatabase({where!s})"
