"""`LearningDatabase`: the async API orchestrators call; embeds, validates and delegates.

Blocking work (SQL, the model) runs in worker threads, so the event loop keeps serving
while a batch is stored; the repository and embedder are safe to share between threads.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import pyarrow as pa

from learning_store import bootstrap
from learning_store.advice.facade import AdviceApi
from learning_store.archive import PruneResult, prune
from learning_store.config import LearningConfig
from learning_store.embedding_writes import ARROW_WINDOW, EmbeddingWrites
from learning_store.embeddings import Embedder
from learning_store.errors import (
    ConfigurationError,
    EmbeddingsUnavailableError,
    InitializationError,
    LearningStoreError,
    NotInitializedError,
)
from learning_store.feedback import Feedback
from learning_store.models import EMBEDDING_DIMENSION
from learning_store.original_api import SOLUTION_PATTERN_DAYS, OriginalApi
from learning_store.reembedding import (
    DEFAULT_BATCH_ROWS,
    Progress,
    ReembedResult,
    check_model,
    reembed,
)
from learning_store.repository import ExecutionRepository, RecordInput
from learning_store.repository.base import KeepsVectorIndex
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
)

T = TypeVar("T")


class LearningDatabase(EmbeddingWrites, OriginalApi, AdviceApi):
    """Store executions and ask what happened to similar tasks before.

    With no `repository`, `initialize()` opens the store named by `database_path` (a DuckDB
    file, or ":memory:") or by `config.database_url`; with no `embedder`, it builds the one
    the config names. `embedding_model` and `pool_size` override those settings (the pool
    is PostgreSQL's; a DuckDB file has one writer and keeps its own two connections).
    Objects handed in are the caller's to close; objects built here are closed by `close()`.
    The original system's documented calls (`find_similar_executions`, `get_*`,
    `cleanup_old_executions`) return plain dicts; see `learning_store.original_api`.
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
        self.config = _with_overrides(
            config or LearningConfig(), embedding_model=embedding_model, pool_size=pool_size
        )
        self._database_path = database_path
        self._repository = repository
        self._embedder = embedder
        self._owns_repository = repository is None
        self._model_name: str | None = (
            self.config.embedding_model if embedder is None else _model_name_of(embedder)
        )
        """The model behind the embedder, checked against the store's; None: unknown."""
        self._model_checked = False
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
        return await self._run(lambda: repository.add(self._embedded([to_record(record)])[0]))

    async def store_executions_batch(self, records: Iterable[RecordInput]) -> int:
        """Store many executions, embedding them in batches; return how many were stored.

        Bad rows are skipped and duplicates ignored; `store_batch` reports both.
        """
        return (await self.store_batch(records)).stored

    async def store_batch(self, records: Iterable[RecordInput]) -> BatchResult:
        """Store many executions and report stored, duplicate and rejected rows (by index)."""
        repository = self.repository
        return await self._run(lambda: self._store_batch(repository, records))

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
            return self._store_valid(repository, valid)

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
            self._check_model(repository)
            query = embedder.embed([task_description])[0]
            return repository.find_similar(
                query,
                repo=repo,
                limit=limit,
                days_back=days_back,
                threshold=threshold,
                exact=exact,
            )

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
        if embedder is None or target != self._model_name:
            embedder = bootstrap.build_embedder(
                _with_overrides(self.config, embedding_model=target)
            )
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
        self._model_checked = False
        return result

    def _check_model(self, repository: ExecutionRepository) -> None:
        """Refuse to mix models in one store (once per LearningDatabase once it passed)."""
        if not self._model_checked and self._model_name is not None:
            check_model(repository, self._model_name)
            self._model_checked = True

    async def get_stats(self) -> StoreStats:
        """Row count, time span, rows per repo, rows without embedding, size on disk."""
        return await self._run(self.repository.stats)

    async def _run(self, work: Callable[[], T]) -> T:
        """Run blocking work in a worker thread so the event loop stays responsive."""
        return await asyncio.to_thread(work)

    def __repr__(self) -> str:
        where = getattr(self._repository, "url", None) or self._database_path or "not opened"
        return f"LearningDatabase({where!s})"


def _model_name_of(embedder: Embedder) -> str | None:
    """The model name of a handed-in embedder, when it says (a caching wrapper's inner's)."""
    inner = getattr(embedder, "inner", embedder)
    return getattr(inner, "model_name", None)


def _with_overrides(config: LearningConfig, **overrides: Any) -> LearningConfig:
    """`config` with the given (non-None) settings replaced, validated like any setting."""
    given = {name: value for name, value in overrides.items() if value is not None}
    if not given:
        return config
    return LearningConfig(**{**config.model_dump(), **given})
