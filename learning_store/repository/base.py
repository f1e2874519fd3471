"""The `ExecutionRepository` protocol every store implements, and the filters they share."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, Self, runtime_checkable
from uuid import UUID

import pyarrow as pa

from learning_store.bulk.validate import ArrowInput
from learning_store.feedback import Feedback
from learning_store.models import ExecutionRecord, as_utc
from learning_store.results import (
    BatchResult,
    FeedbackResult,
    Neighbour,
    OutcomeCount,
    PoolPerformance,
    SimilarExecution,
    SolutionPattern,
    StoreStats,
    TierPerformance,
)

RecordInput = ExecutionRecord | Mapping[str, Any]
"""What `add_many` accepts per row: a validated record or a plain mapping of its fields."""


@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    """Filters shared by `list` and `count`; None means "any". `since` is inclusive, `until` not."""

    repo: str | None = None
    task_type: str | None = None
    model_tier: str | None = None
    pool_type: str | None = None
    success: bool | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, as_utc(value))

    def equalities(self) -> dict[str, Any]:
        """The column == value filters that are set."""
        fields = {
            "repo": self.repo,
            "task_type": self.task_type,
            "model_tier": self.model_tier,
            "pool_type": self.pool_type,
            "success": self.success,
        }
        return {name: value for name, value in fields.items() if value is not None}

    def matches(self, record: ExecutionRecord) -> bool:
        """Whether a record passes every filter (the in-memory store's WHERE clause)."""
        if any(getattr(record, name) != value for name, value in self.equalities().items()):
            return False
        if self.since is not None and record.timestamp < self.since:
            return False
        return self.until is None or record.timestamp < self.until


@dataclass(frozen=True, slots=True)
class SimilarityQuery:
    """One similarity search, carried unchanged from the façade to every store.

    `embedding` is the task's vector; rows of the last `days_back` days (and of `repo`,
    when given) scoring at least `threshold` may answer, the best `limit` of them.
    `exact=True` compares every candidate instead of asking an ANN index.
    """

    embedding: Any
    repo: str | None = None
    limit: int = 10
    days_back: int = 90
    threshold: float = 0.7
    exact: bool = False


@runtime_checkable
class NeighbourOutcomes(Protocol):
    """A store that can give advice each tier's nearest past outcomes without records.

    The DuckDB store keeps every row's outcome in its vector index, so this costs about
    one search; a store may return None (no index at hand) and advice then uses
    `search_per_tier`.
    """

    def similar_outcomes(
        self, query: SimilarityQuery, now: datetime
    ) -> dict[str, builtins.list[Neighbour]] | None:
        """Each tier's most similar past executions as the estimator reads them."""
        ...


@runtime_checkable
class KeepsVectorIndex(Protocol):
    """A store that keeps a vector index of its own (DuckDB), loaded and built on request.

    Every store loads its index when it first needs it; loading it ahead lets the writes
    that follow go straight into it (a bulk load then never reads its rows back).
    """

    def load_vector_index(self, *, wait: bool = True) -> None:
        """Load the index now (in the background unless `wait`); a no-op without one."""
        ...

    def build_vector_index(self, *, rebuild: bool = False) -> Any:
        """Index every stored vector now and save the index; its status (None: no status)."""
        ...

    def has_vector_index(self) -> bool:
        """Whether searches ask an ANN index (else they compare every candidate)."""
        ...


@runtime_checkable
class ExecutionRepository(Protocol):
    """Synchronous storage of execution records; implemented by the SQL stores and the fake.

    Writes are idempotent on task_id. `add_many` never raises for a bad row: it stores the
    good rows and reports each bad one; it raises `LearningStoreError` only when the database
    fails, and then nothing of the failing chunk is written.
    """

    def add(self, record: RecordInput) -> bool:
        """Store one record; False when its task_id is already stored."""
        ...

    def add_many(self, records: Iterable[RecordInput]) -> BatchResult:
        """Validate and store rows in chunks of `batch_size`, one transaction per chunk."""
        ...

    def add_arrow(self, batches: Iterable[ArrowInput]) -> BatchResult:
        """Store rows given as Arrow, with `add_many`'s rules, duplicates and result.

        A batch may hold any subset of the columns (a file's record batches; null means
        "not given", so the field's default applies) or be a `ValidBatch` that
        `learning_store.bulk` already validated. Rejected indexes count rows across the raw
        batches; a `ValidBatch` keeps the indexes it was made with.
        """
        ...

    def get(self, task_id: UUID | str) -> ExecutionRecord | None:
        """The record with this task_id, or None."""
        ...

    def record_feedback(
        self, task_id: UUID | str, *, accepted: bool | None = None, rating: int | None = None
    ) -> bool:
        """Set the user feedback of a stored execution; False when the task_id is unknown.

        Only `user_accepted` and `user_rating` change, and only those given (idempotent).

        Raises:
            ValueError: the rating is not 1-5, or neither value is given.
        """
        ...

    def record_feedback_many(self, items: Iterable[Feedback | Mapping[str, Any]]) -> FeedbackResult:
        """Feedback for many executions in one transaction; unknown and bad items reported."""
        ...

    def existing_ids(self, task_ids: Iterable[UUID]) -> set[UUID]:
        """Which of these task_ids are already stored (lets callers skip work on retries)."""
        ...

    def list(
        self,
        *,
        repo: str | None = None,
        task_type: str | None = None,
        model_tier: str | None = None,
        pool_type: str | None = None,
        success: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[ExecutionRecord]:
        """Records matching every given filter, newest first."""
        ...

    def count(
        self,
        *,
        repo: str | None = None,
        task_type: str | None = None,
        model_tier: str | None = None,
        pool_type: str | None = None,
        success: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """Number of records matching every given filter."""
        ...

    def find_similar(
        self,
        embedding: Any,
        *,
        repo: str | None = None,
        limit: int = 10,
        days_back: int = 90,
        threshold: float = 0.7,
        exact: bool = False,
    ) -> builtins.list[SimilarExecution]:
        """Records by cosine similarity to `embedding`, best first, at or above `threshold`.

        Scores are always exact. A large store may find the rows with an ANN index, which
        can miss a few of the true best; `exact=True` compares every candidate instead.
        Stores implement `search`; this builds its query (the one place these arguments
        are spelled out for the stores).
        """
        query = SimilarityQuery(embedding, repo, limit, days_back, threshold, exact)
        return self.search(query)

    def search(self, query: SimilarityQuery) -> builtins.list[SimilarExecution]:
        """`find_similar` for a ready query."""
        ...

    def search_per_tier(self, query: SimilarityQuery) -> dict[str, builtins.list[SimilarExecution]]:
        """Like `search`, but the best `query.limit` of each model tier (one pass)."""
        ...

    def outcome_counts(
        self, *, repo: str | None = None, days_back: int = 90
    ) -> builtins.list[OutcomeCount]:
        """Executions, successes and sums per model tier and task type, in the window."""
        ...

    def iter_chunks(
        self,
        *,
        repo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_size: int = 1000,
    ) -> Iterator[builtins.list[ExecutionRecord]]:
        """All matching records, oldest first, in chunks (memory holds one chunk)."""
        ...

    def iter_arrow(
        self,
        *,
        batch_rows: int = 65_536,
        repo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """What `iter_chunks` gives, as Arrow batches of the export schema (Parquet-ready)."""
        ...

    def tier_performance(
        self, *, repo: str | None = None, days_back: int = 30
    ) -> builtins.list[TierPerformance]:
        """Per repo, model tier, task type and UTC day: volume, success, duration, cost, quality."""
        ...

    def pool_performance(
        self, *, repo: str | None = None, days_back: int = 7
    ) -> builtins.list[PoolPerformance]:
        """Per pool type, repo and UTC hour: volume, success, duration, cost."""
        ...

    def solution_patterns(
        self, *, repo: str | None = None, min_usage: int = 5, limit: int = 10, days_back: int = 90
    ) -> builtins.list[SolutionPattern]:
        """Summaries used at least `min_usage` times in the last `days_back` days, best first."""
        ...

    def stats(self) -> StoreStats:
        """Row count, time span, rows per repo, rows without embedding, size on disk."""
        ...

    def delete(self, task_ids: Iterable[UUID]) -> int:
        """Delete these task_ids in one transaction; return how many existed."""
        ...

    def delete_older_than(self, cutoff: datetime) -> int:
        """Delete records with timestamp before `cutoff`; return how many were deleted."""
        ...

    def read_setting(self, name: str) -> str | None:
        """A fact recorded about the stored data (such as the embedding model), or None."""
        ...

    def write_setting(self, name: str, value: str | None) -> None:
        """Record a fact about the stored data; None removes it."""
        ...

    def count_embedding_work(self, *, missing_only: bool, after: UUID | None = None) -> int:
        """Rows a re-embed would visit (after `after`): without a usable embedding, or all."""
        ...

    def embedding_work(
        self, *, missing_only: bool, after: UUID | None, limit: int
    ) -> builtins.list[tuple[UUID, str]]:
        """Up to `limit` (task_id, embedding text) pairs after `after`, in task_id order.

        Rows that break a record rule are included: they are kept, so they get vectors too.
        """
        ...

    def set_embeddings(self, vectors: Mapping[UUID, Any]) -> int:
        """Replace these rows' embeddings in one transaction; return how many rows exist."""
        ...

    def close(self) -> None:
        """Release connections; the repository cannot be used afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...
