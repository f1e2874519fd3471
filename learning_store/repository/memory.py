"""`InMemoryExecutionRepository`: the thread-safe fake, held to the same contract tests."""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from uuid import UUID

import numpy as np
import pyarrow as pa

from learning_store import analytics
from learning_store.arrow_codec import records_to_arrow
from learning_store.feedback import Feedback, feedback_of, validated
from learning_store.models import ExecutionRecord, as_utc, task_uuid
from learning_store.repository.base import (
    ExecutionFilter,
    ExecutionRepository,
    RecordInput,
    SimilarityQuery,
)
from learning_store.repository.batching import (
    ArrowInput,
    arrow_chunks,
    records_of,
    to_record,
    validated_chunks,
    write_in_chunks,
)
from learning_store.results import (
    BatchResult,
    FeedbackResult,
    OutcomeCount,
    PoolPerformance,
    SimilarExecution,
    SolutionPattern,
    StoreStats,
    TierPerformance,
)
from learning_store.similarity import cosine_scores, query_vector, top_matches
from learning_store.vectors import stack

DEFAULT_BATCH_SIZE = 100


class InMemoryExecutionRepository(ExecutionRepository):
    """Keeps records in a dict behind a lock; for tests and services that need no database."""

    def __init__(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.batch_size = batch_size
        self._records: dict[UUID, ExecutionRecord] = {}
        self._lock = threading.RLock()
        self._settings: dict[str, str] = {}

    def add(self, record: RecordInput) -> bool:
        """Store one record; False when its task_id is already stored."""
        return self._insert_new([to_record(record)]) == 1

    def add_many(self, records: Iterable[RecordInput]) -> BatchResult:
        """Validate and store rows chunk by chunk; see `ExecutionRepository.add_many`."""
        chunks = validated_chunks(records, self.batch_size)
        return write_in_chunks(chunks, self._insert_new, prepare=records_of)

    def add_arrow(self, batches: Iterable[ArrowInput]) -> BatchResult:
        """Validate and store rows given as Arrow; see `ExecutionRepository.add_arrow`."""
        chunks = arrow_chunks(batches, self.batch_size)
        return write_in_chunks(chunks, self._insert_new, prepare=records_of)

    def _insert_new(self, records: builtins.list[ExecutionRecord]) -> int:
        uploaded_at = datetime.now(UTC)
        with self._lock:
            new = [record for record in records if record.task_id not in self._records]
            for record in new:
                self._records[record.task_id] = record.model_copy(
                    update={"uploaded_at": uploaded_at}
                )
        return len(new)

    def record_feedback(
        self, task_id: UUID | str, *, accepted: bool | None = None, rating: int | None = None
    ) -> bool:
        """Set the user feedback of a stored execution; False when the task_id is unknown."""
        return self._apply_feedback([feedback_of(task_id, accepted, rating)]).updated == 1

    def record_feedback_many(self, items: Iterable[Any]) -> FeedbackResult:
        """Feedback for many executions at once; unknown and bad items are reported."""
        feedback, rejected = validated(items)
        result = self._apply_feedback(feedback)
        return FeedbackResult(result.updated, result.unknown, rejected)

    def _apply_feedback(self, items: builtins.list[Feedback]) -> FeedbackResult:
        unknown = []
        with self._lock:
            for item in items:
                stored = self._records.get(item.task_id)
                if stored is None:
                    unknown.append(item.task_id)
                else:
                    self._records[item.task_id] = stored.model_copy(update=item.changes())
        return FeedbackResult(len(items) - len(unknown), unknown)

    def get(self, task_id: UUID | str) -> ExecutionRecord | None:
        """The record with this task_id, or None."""
        with self._lock:
            return self._records.get(task_uuid(task_id))

    def existing_ids(self, task_ids: Iterable[UUID]) -> set[UUID]:
        """Which of these task_ids are already stored."""
        with self._lock:
            return {key for key in task_ids if key in self._records}

    def list(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        **filters: Any,
    ) -> builtins.list[ExecutionRecord]:
        """Records matching every filter, newest first (ties broken by task_id, descending)."""
        selected = self._matching(ExecutionFilter(**filters))
        selected.sort(key=lambda record: (record.timestamp, record.task_id), reverse=True)
        return selected[offset : offset + limit]

    def count(self, **filters: Any) -> int:
        """Number of records matching every filter."""
        return len(self._matching(ExecutionFilter(**filters)))

    def search(self, query: SimilarityQuery) -> builtins.list[SimilarExecution]:
        """Exact cosine search with numpy over records that have an embedding (always)."""
        candidates, scores = self._scored(query)
        if not candidates:
            return []
        task_ids = [record.task_id for record in candidates]
        matches = top_matches(scores, task_ids, query.limit, query.threshold)
        return [SimilarExecution(candidates[row], score) for row, score in matches]

    def search_per_tier(self, query: SimilarityQuery) -> dict[str, builtins.list[SimilarExecution]]:
        """The best `query.limit` of each model tier, scored once (always exact)."""
        candidates, scores = self._scored(query)
        if not candidates:
            return {}
        task_ids = [record.task_id for record in candidates]
        limit, threshold = query.limit, query.threshold
        found = {}
        for tier in {record.model_tier for record in candidates}:
            mine = np.where([r.model_tier == tier for r in candidates], scores, -np.inf)
            matches = top_matches(mine, task_ids, limit, threshold)
            if matches:
                found[tier] = [SimilarExecution(candidates[row], score) for row, score in matches]
        return found

    def _scored(self, query: SimilarityQuery) -> tuple[builtins.list[ExecutionRecord], np.ndarray]:
        """The records the query may return (with an embedding) and their cosine scores."""
        vector = query_vector(query.embedding)
        since = datetime.now(UTC) - timedelta(days=query.days_back)
        candidates = [
            record
            for record in self._matching(ExecutionFilter(repo=query.repo, since=since))
            if record.embedding is not None
        ]
        if not candidates:
            return [], np.empty(0, dtype=np.float32)
        vectors = stack([r.embedding for r in candidates if r.embedding is not None])
        return candidates, cosine_scores(vectors, vector)

    def outcome_counts(
        self, *, repo: str | None = None, days_back: int = 90
    ) -> builtins.list[OutcomeCount]:
        """See `learning_store.analytics.outcome_counts`."""
        return analytics.outcome_counts(self._window(repo, days_back))

    def iter_chunks(
        self,
        *,
        chunk_size: int = 1000,
        **filters: Any,
    ) -> Iterator[builtins.list[ExecutionRecord]]:
        """Matching records, oldest first (ties by task_id), `chunk_size` at a time."""
        selected = self._matching(ExecutionFilter(**filters))
        selected.sort(key=lambda record: (record.timestamp, record.task_id))
        for start in range(0, len(selected), chunk_size):
            yield selected[start : start + chunk_size]

    def iter_arrow(self, *, batch_rows: int = 65_536, **filters: Any) -> Iterator[pa.RecordBatch]:
        """What `iter_chunks` gives, as Arrow batches of the export schema."""
        for chunk in self.iter_chunks(chunk_size=batch_rows, **filters):
            yield from records_to_arrow(chunk).to_batches()

    def tier_performance(
        self, *, repo: str | None = None, days_back: int = 30
    ) -> builtins.list[TierPerformance]:
        """See `learning_store.analytics.tier_performance`."""
        return analytics.tier_performance(self._window(repo, days_back))

    def pool_performance(
        self, *, repo: str | None = None, days_back: int = 7
    ) -> builtins.list[PoolPerformance]:
        """See `learning_store.analytics.pool_performance`."""
        return analytics.pool_performance(self._window(repo, days_back))

    def solution_patterns(
        self, *, repo: str | None = None, min_usage: int = 5, limit: int = 10, days_back: int = 90
    ) -> builtins.list[SolutionPattern]:
        """See `learning_store.analytics.solution_patterns`."""
        records = self._window(repo, days_back)
        return analytics.solution_patterns(records, min_usage=min_usage, limit=limit)

    def stats(self) -> StoreStats:
        """Counts and time span; nothing is on disk, so size_bytes is None."""
        records = self._matching(ExecutionFilter())
        per_repo: dict[str, int] = {}
        for record in sorted(records, key=lambda record: record.repo):
            per_repo[record.repo] = per_repo.get(record.repo, 0) + 1
        timestamps = [record.timestamp for record in records]
        return StoreStats(
            total=len(records),
            oldest=min(timestamps, default=None),
            newest=max(timestamps, default=None),
            per_repo=per_repo,
            without_embedding=sum(record.embedding is None for record in records),
            size_bytes=None,
        )

    def delete(self, task_ids: Iterable[UUID]) -> int:
        """Delete these task_ids; return how many existed."""
        with self._lock:
            return sum(self._records.pop(task_uuid(key), None) is not None for key in task_ids)

    def delete_older_than(self, cutoff: datetime) -> int:
        """Delete records with timestamp before `cutoff`; return how many."""
        cutoff = as_utc(cutoff)
        with self._lock:
            old = [key for key, record in self._records.items() if record.timestamp < cutoff]
            for key in old:
                del self._records[key]
        return len(old)

    def read_setting(self, name: str) -> str | None:
        """A fact recorded about the stored data, or None."""
        with self._lock:
            return self._settings.get(name)

    def write_setting(self, name: str, value: str | None) -> None:
        """Record a fact about the stored data; None removes it."""
        with self._lock:
            if value is None:
                self._settings.pop(name, None)
            else:
                self._settings[name] = value

    def count_embedding_work(self, *, missing_only: bool, after: UUID | None = None) -> int:
        """Rows (after `after`) without an embedding, or every row."""
        with self._lock:
            records = builtins.list(self._records.values())
        return sum(
            (not missing_only or record.embedding is None)
            and (after is None or record.task_id > after)
            for record in records
        )

    def embedding_work(
        self, *, missing_only: bool, after: UUID | None, limit: int
    ) -> builtins.list[tuple[UUID, str]]:
        """(task_id, embedding text) pairs after `after`, in task_id order."""
        with self._lock:
            records = sorted(self._records.values(), key=lambda record: record.task_id)
        chosen = [
            (record.task_id, record.embedding_text())
            for record in records
            if (after is None or record.task_id > after)
            and (not missing_only or record.embedding is None)
        ]
        return chosen[:limit]

    def set_embeddings(self, vectors: Mapping[UUID, Any]) -> int:
        """Replace these records' embeddings; return how many exist."""
        updated = 0
        with self._lock:
            for task_id, vector in vectors.items():
                stored = self._records.get(task_id)
                if stored is not None:
                    embedding = ExecutionRecord.model_validate(
                        {**stored.stored_fields(), "embedding": vector}
                    ).embedding
                    self._records[task_id] = stored.model_copy(update={"embedding": embedding})
                    updated += 1
        return updated

    def close(self) -> None:
        """Nothing to release; kept for the protocol."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _window(self, repo: str | None, days_back: int) -> builtins.list[ExecutionRecord]:
        return self._matching(ExecutionFilter(repo=repo, since=analytics.window_start(days_back)))

    def _matching(self, where: ExecutionFilter) -> builtins.list[ExecutionRecord]:
        with self._lock:
            records = builtins.list(self._records.values())
        return [record for record in records if where.matches(record)]
